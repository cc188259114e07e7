-- ClickHouse: rolling_active_users.sql. The calendar is range() over the days of [$start, $end]; the
-- running count of island starts and ends is read on every calendar day by adding each day as a
-- zero step (where DuckDB takes the last step on or before it with an ASOF join).
with active_days as (
    select distinct user_id, day
    from user_day
    where actions > 0 and ($channel is null or channel = $channel)
        and day <= $end and day > $start - $window
),

gaps as (
    select user_id, day,
        case when lag(toNullable(day)) over (partition by user_id order by day) >= day - $window
             then 0 else 1 end as starts_island
    from active_days
),

numbered as (
    select user_id, day, sum(starts_island) over (partition by user_id order by day) as island
    from gaps
),

islands as (
    select user_id, min(day) as first_day, max(day) + $window as ends_after
    from numbered
    group by user_id, island
),

days as (
    select toDate($start + offset) as day
    from (select arrayJoin(range(toUInt32(greatest(dateDiff('day', $start, $end) + 1, 0)))) as offset)
),

edges as (
    select toDate(first_day) as day, 1 as delta from islands
    union all
    select toDate(ends_after) as day, -1 as delta from islands
    union all
    select day, 0 as delta from days
),

running as (
    select day, sum(sum(delta)) over (order by day) as active from edges group by day
),

dau as (
    select day, count() as dau from active_days where day between $start and $end group by day
),

final as (
    select d.day as day, coalesce(a.dau, 0) as dau, toInt64(coalesce(r.active, 0)) as active
    from days as d
    left join running as r on r.day = d.day
    left join dau as a on a.day = d.day
)

select * from final order by day
