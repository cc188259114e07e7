-- First/last seen and acquisition channel of the users in temp table touched_users.
insert into users (user_id, first_seen, last_seen, acquisition_channel, upload_id)
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
on conflict (user_id) do update set
    first_seen = excluded.first_seen,
    last_seen = excluded.last_seen,
    acquisition_channel = coalesce(users.acquisition_channel, excluded.acquisition_channel)
