-- Each user's path within the days [$start, $end]: the steps after their first $event ($direction =
-- 'after') or before their last one ($direction = 'before'), $steps steps at most, the anchor
-- included. A step is a run of one event type in the user's own actions (not $passive), in time
-- order, events at one timestamp in import order. Anchors through $channel only, when one is given.
with actions as (
    select
        user_id, event_type, channel, event_time, upload_id, rowid as import_order,
        cast((event_time at time zone 'UTC') at time zone $tz as date) as day
    from events
    where not list_contains($passive, event_type)
        and event_time >= $lo and event_time < $hi
),

in_range as (
    select * from actions where day between $start and $end
),

ordered as (
    select *,
        lag(event_type) over (partition by user_id order by event_time, upload_id, import_order) as previous_type
    from in_range
),

runs as (
    -- the first event of each run of one type stands for the run
    select *, row_number() over (partition by user_id order by event_time, upload_id, import_order) as k
    from ordered
    where previous_type is null or previous_type <> event_type
),

anchors as (
    select
        user_id,
        case when $direction = 'after' then min(k) else max(k) end as anchor
    from runs
    where event_type = $event
        and ($channel is null or channel = $channel)
    group by user_id
),

final as (
    select
        r.user_id,
        case when $direction = 'after' then r.k - a.anchor + 1 else $steps - (a.anchor - r.k) end as step,
        r.event_type
    from runs as r
    join anchors as a on a.user_id = r.user_id
    where ($direction = 'after' and r.k between a.anchor and a.anchor + $steps - 1)
        or ($direction = 'before' and r.k between a.anchor - $steps + 1 and a.anchor)
)

select * from final
