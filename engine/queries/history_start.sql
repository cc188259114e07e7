-- The first business day of the dense part of the history: the first day on which at least 5% of
-- a typical (the median) day's users were active, after the last month without any activity. A
-- few stray early stamps (a clock set wrong, a test order) or an old sample file must not make the
-- history look longer than it is: to the churn models' checks, or to the KPIs' comparison with the
-- previous period.
with daily as (
    select day, count(distinct user_id) as active_users
    from user_day
    where actions > 0
    group by day
),

typical as (
    select median(active_users) as median_users
    from daily
),

silences as (
    select day, date_diff('day', lag(day) over (order by day), day) as days_silent
    from daily
),

restart as (
    select max(day) as restart_day
    from silences
    where days_silent > 28
),

final as (
    select min(d.day) as start_day
    from daily as d
    cross join typical as t
    cross join restart as r
    where d.active_users >= 0.05 * t.median_users
      and (r.restart_day is null or d.day >= r.restart_day)
)

select * from final
