-- Per business day of [$start, $end]: DAU and the distinct users active in the $window days that
-- end on that day (7 for WAU, 30 for MAU). Each active day keeps a user counted for $window days;
-- per user these spans are merged into islands, and the count is a running sum of island starts
-- (+1) and ends (-1): no self-join over the window.
with active_days as (
    select distinct user_id, day
    from user_day
    where actions > 0 and ($channel is null or channel = $channel)
        and day <= $end and day > $start - cast($window as integer)
),

gaps as (
    select user_id, day,
        case when lag(day) over (partition by user_id order by day) >= day - cast($window as integer)
             then 0 else 1 end as starts_island
    from active_days
),

numbered as (
    select user_id, day, sum(starts_island) over (partition by user_id order by day) as island
    from gaps
),

islands as (
    select user_id, min(day) as first_day, max(day) + cast($window as integer) as ends_after
    from numbered
    group by user_id, island
),

edges as (
    select cast(first_day as date) as day, 1 as delta from islands
    union all
    select cast(ends_after as date) as day, -1 as delta from islands
),

days as (
    select cast(unnest(range(cast($start as date), cast($end as date) + interval 1 day, interval 1 day))
        as date) as day
),

running as (
    select day, sum(sum(delta)) over (order by day) as active from edges group by day
),

windowed as (
    select d.day, coalesce(r.active, 0) as active
    from days as d
    asof left join running as r on d.day >= r.day
),

dau as (
    select day, count(*) as dau from active_days where day between $start and $end group by day
),

final as (
    select w.day, coalesce(a.dau, 0) as dau, cast(w.active as bigint) as active
    from windowed as w
    left join dau as a on a.day = w.day
)

select * from final order by day
