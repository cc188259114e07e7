-- Template (filled by engine.ingest._insert_events): the good canonical rows that are new, i.e. the
-- first copy within the file (first_copies slot: a qualify clause, empty when no id repeats) and
-- absent from the stored events (stored slot: a time-range filter when ids are natural keys).
-- canon_events holds the good rows of canon and the conversion events some rows add.
insert into events
with first_copies as (
    select * from canon_events
    {first_copies}
),

stored as (
    select event_id from events
    {stored}
),

new_rows as (
    select f.* from first_copies as f
    anti join stored as e on e.event_id = f.event_id
),

final as (
    select
        event_id, event_time, user_id, event_type, item_id, category, content_id, campaign_id,
        channel, community_id, referrer_id, session_id, order_id, quantity, amount,
        $upload_id as upload_id
    from new_rows
)

select * from final
