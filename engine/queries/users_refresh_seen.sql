-- First/last seen and acquisition channel of the users in temp table touched_users.
create or replace temp table user_activity as
with activity as (
    select
        user_id,
        min(event_time) as first_seen,
        max(event_time) as last_seen,
        arg_min(channel, event_time) filter (where channel is not null) as acquisition_channel,
        arg_min(upload_id, event_time) as upload_id
    from events
    where user_id in (select user_id from touched_users)
    group by user_id
),

final as (
    select * from activity
)

select * from final
