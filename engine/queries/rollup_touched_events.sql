-- The events of the touched business days (temp table touched_days), with their business day, for
-- the rollup inserts: spliced into each insert as {touched} by engine.warehouse.compose_query, so that
-- each rollup scans only the columns it needs instead of all of them being copied into a temp table
-- first. A day in any zone lies within one day either side of the same UTC date, which bounds the scan.
select scoped.*
from (
    select
        cast((e.event_time at time zone 'UTC') at time zone $tz as date) as day,
        e.user_id, e.channel, e.event_type, e.order_id, e.amount, e.content_id, e.campaign_id
    from events as e,
        (select min(day) - interval 1 day as lo, max(day) + interval 2 day as hi from touched_days) as bounds
    where e.event_time >= bounds.lo and e.event_time < bounds.hi
) as scoped
where scoped.day in (select touched.day from touched_days as touched)
