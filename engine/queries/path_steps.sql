-- Each user's path within the days of the range: the steps after their first $event ($direction =
-- 'after') or before their last one ($direction = 'before'), $steps steps at most, the anchor
-- included. A step is an event of the user's own (not $passive), in time order, events at one
-- timestamp in import order, labelled by its type ($grouping = 'type') or type and category
-- ('category'); with $collapse a run of one label is one step. Anchors through $channel only.
-- [$from_utc, $to_utc) are the first instant of the range and the instant it ends, in the business time zone.
with in_range as (
    -- the range's business days as UTC instants ($from_utc, $to_utc): no time zone conversion per event
    select
        user_id, event_type, channel, event_time, upload_id, rowid as import_order,
        case when $grouping = 'category' and category is not null then event_type || ' · ' || category
             else event_type end as label
    from events
    where not list_contains($passive, event_type)
        and event_time >= $from_utc and event_time < $to_utc
),

ordered as (
    select *,
        lag(label) over (partition by user_id order by event_time, upload_id, import_order) as previous_label
    from in_range
),

runs as (
    -- with $collapse, the first event of each run of one label stands for the run
    select *, row_number() over (partition by user_id order by event_time, upload_id, import_order) as k
    from ordered
    where not $collapse or previous_label is null or previous_label <> label
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
        r.label as event_type
    from runs as r
    join anchors as a on a.user_id = r.user_id
    where ($direction = 'after' and r.k between a.anchor and a.anchor + $steps - 1)
        or ($direction = 'before' and r.k between a.anchor - $steps + 1 and a.anchor)
)

select * from final
