-- Insert the good canonical rows that are new: first copy within the file, absent from events.
insert into events
with good as (
    select * from canon where reason is null
),

first_copies as (
    select * from good
    qualify row_number() over (partition by event_id order by _row) = 1
),

new_rows as (
    select f.* from first_copies as f
    anti join events as e on e.event_id = f.event_id
),

final as (
    select
        event_id, event_time, user_id, event_type, item_id, category, content_id, campaign_id,
        channel, community_id, referrer_id, session_id, order_id, quantity, amount,
        $upload_id as upload_id
    from new_rows
)

select * from final
