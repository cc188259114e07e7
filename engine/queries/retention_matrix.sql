-- Retention matrix built on retention_members, spliced in by engine.warehouse.compose_query.
-- One row per segment, cohort and period n = 0.. up to the last day of data; $mode on|on_or_after.
-- Hourly cohorts (from engine.retention's raw-events members) are hours, and last_day the last hour.
with members as (
    {members}
),

sizes as (
    select segment, cohort, any_value(last_day) as last_day, count(*) as cohort_size
    from members
    group by segment, cohort
),

last_periods as (
    -- the period holding the last day of data, in the same calendar as the cohorts
    select *,
        case when $period = 'hour' then cast(last_day as timestamp)
             when $period = 'week' and $week_start = 'sunday' then cast(date_trunc('week', cast(last_day as date) + 1) as date) - 1
             else cast(date_trunc($period, cast(last_day as date)) as date) end as last_period
    from sizes
),

grid as (
    select
        segment, cohort, cohort_size, last_day,
        unnest(range(0, least($max_periods, case when $period = 'week' then cast(datediff('day', cohort, last_period) // 7 as integer)
                             else datediff($period, cohort, last_period) end) + 1)) as n
    from last_periods
),

came_back_on as (
    select segment, cohort, n, count(*) as users
    from (select segment, cohort, unnest(returns) as n from members)
    group by segment, cohort, n
),

came_back_on_or_after as (
    select segment, cohort, n, count(*) as users
    from (select segment, cohort, unnest(range(1, last_n + 1)) as n from members where last_n > 0)
    group by segment, cohort, n
),

final as (
    select
        g.segment,
        g.cohort,
        cast(g.n as integer) as period,
        case
            when g.n = 0 then g.cohort_size
            when $mode = 'on' then coalesce(o.users, 0)
            else coalesce(a.users, 0)
        end as users,
        g.cohort_size,
        case
            when $period = 'hour' then cast(g.cohort as timestamp) + interval (g.n) hour
            when $period = 'day' then cast(g.cohort + interval (g.n) day as date)
            when $period = 'week' then cast(g.cohort + interval (7 * g.n + 6) day as date)
            else cast(g.cohort + interval (g.n + 1) month - interval 1 day as date)
        end as period_end,
        g.last_day
    from grid as g
    left join came_back_on as o on o.segment = g.segment and o.cohort = g.cohort and o.n = g.n
    left join came_back_on_or_after as a on a.segment = g.segment and a.cohort = g.cohort and a.n = g.n
)

select
    segment, cohort, period, users, cohort_size,
    users / cohort_size as rate,
    period_end <= last_day as complete
from final
order by segment, cohort, period
