-- The events of the touched business days, with their business day, for the rollup inserts: a table
-- macro (touched_events(tz)), so that each rollup scans the few columns it needs instead of all of
-- them being copied into a temp table first.
create or replace temp macro touched_events(tz) as table
with bounds as (
    -- a day in any zone lies within one day either side of the same UTC date
    select min(day) - interval 1 day as lo, max(day) + interval 2 day as hi from touched_days
),

scoped as (
    select
        cast((e.event_time at time zone 'UTC') at time zone tz as date) as day,
        e.user_id, e.channel, e.event_type, e.order_id, e.amount, e.content_id, e.campaign_id
    from events as e, bounds as b
    where e.event_time >= b.lo and e.event_time < b.hi
),

final as (
    select * from scoped where day in (select day from touched_days)
)

select * from final
