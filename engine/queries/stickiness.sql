-- DAU, MAU (distinct users active in the 30 days ending that day) and DAU/MAU per business day.
-- Each active day keeps a user in MAU for 30 days; per user these spans are merged into islands,
-- and MAU is a running sum of island starts (+1) and ends (-1): no 30-day self-join.
with active_days as (
    select distinct user_id, day
    from user_day
    where actions > 0 and ($channel is null or channel = $channel)
        and day <= $end and day >= $start - interval 29 day
),

gaps as (
    select user_id, day,
        case when lag(day) over (partition by user_id order by day) >= day - interval 30 day
             then 0 else 1 end as starts_island
    from active_days
),

numbered as (
    select user_id, day, sum(starts_island) over (partition by user_id order by day) as island
    from gaps
),

islands as (
    select user_id, min(day) as first_day, max(day) + interval 30 day as ends_after
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
    select day, sum(sum(delta)) over (order by day) as mau from edges group by day
),

mau as (
    select d.day, coalesce(r.mau, 0) as mau
    from days as d
    asof left join running as r on d.day >= r.day
),

dau as (
    select day, count(*) as dau from active_days where day between $start and $end group by day
),

final as (
    select m.day, coalesce(a.dau, 0) as dau, cast(m.mau as bigint) as mau,
        case when m.mau > 0 then coalesce(a.dau, 0) / m.mau end as stickiness
    from mau as m
    left join dau as a on a.day = m.day
)

select * from final order by day
