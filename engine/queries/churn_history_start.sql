-- The first business day of the dense part of the history: the first day on which at least 5% of
-- a typical (the median) day's users were active. A few stray early stamps (a clock set wrong, a
-- test order) must not make the history look longer than it is to the churn models' checks.
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

final as (
    select min(d.day) as start_day
    from daily as d
    cross join typical as t
    where d.active_users >= 0.05 * t.median_users
)

select * from final
