-- Cohort members with the periods they came back in (n >= 1), from the user_day_type rollup.
-- Spliced into retention_matrix and retention_cell_users, so its CTEs are named members_*.
-- Parameters: $period (day|week|month), $start_event, $return_event ('any' = any action of the
-- user), $first_time (true: cohort = period of the first start event; false: every period with a
-- start event), $from, $to (cohorts starting in that range), $channel (acquisition channel or
-- null), $breakdown (none|channel|community|segment), $segment (saved segment name, whose users
-- are in temp table segment_members), $passive (event types that are not actions), $clip (true:
-- only start events on the days [$from, $to] put a user in a cohort; false: whole periods, so the
-- first and last cohorts may hold start events from outside those days), $week_start (monday |
-- sunday: the first day of a week), $min_returns (return events a period needs to count).
with members_activity as (
    select user_id, day, event_type, events from user_day_type
),

members_data_end as (
    select max(day) as last_day from user_day_type
),

members_starts as (
    select
        user_id, case when $period = 'week' and $week_start = 'sunday'
            then cast(date_trunc('week', day + 1) as date) - 1
            else cast(date_trunc($period, day) as date) end as cohort,
        min(day) as first_day,
        bool_or(day between $from and $to) as in_range
    from members_activity
    where event_type = $start_event
        or ($start_event = 'any' and not list_contains($passive, event_type))
    group by all
),

members_first_starts as (
    select user_id, min(cohort) as cohort, min(first_day) as first_day from members_starts group by user_id
),

members_cohorts as (
    select user_id, cohort, first_day between $from and $to as in_range from members_first_starts where $first_time
    union all
    select user_id, cohort, in_range from members_starts where not $first_time
),

members_first_community as (
    select user_id, arg_min(community_id, event_time) as community_id
    from events
    where $breakdown = 'community' and community_id is not null
    group by user_id
),

members_attributes as (
    select
        u.user_id,
        case $breakdown
            when 'channel' then coalesce(u.acquisition_channel, '(unknown)')
            when 'community' then coalesce(c.community_id, '(no community)')
            when 'gender' then coalesce(u.gender, '(unknown)')
            when 'age_band' then coalesce(u.age_band, '(unknown)')
            when 'city' then coalesce(u.city, '(unknown)')
            when 'segment' then case when s.user_id is not null then $segment else 'Everyone else' end
            else 'All users'
        end as segment
    from users as u
    left join members_first_community as c on c.user_id = u.user_id
    left join segment_members as s on s.user_id = u.user_id
    where $channel is null or u.acquisition_channel = $channel
),

members_in_range as (
    select a.segment, c.cohort, c.user_id
    from members_cohorts as c
    join members_attributes as a on a.user_id = c.user_id
    where c.cohort between case when $period = 'week' and $week_start = 'sunday'
            then cast(date_trunc('week', cast($from as date) + 1) as date) - 1
            else cast(date_trunc($period, cast($from as date)) as date) end and $to
        and (not $clip or c.in_range)
),

members_returns as (
    select user_id, case when $period = 'week' and $week_start = 'sunday'
            then cast(date_trunc('week', day + 1) as date) - 1
            else cast(date_trunc($period, day) as date) end as period_start
    from members_activity
    where event_type = $return_event
        or ($return_event = 'any' and not list_contains($passive, event_type))
    group by all
    having sum(events) >= $min_returns
),

members_returned as (
    select
        m.segment, m.cohort, m.user_id,
        list_sort(list(distinct case when $period = 'week' then cast((r.period_start - m.cohort) // 7 as integer) else datediff($period, m.cohort, r.period_start) end)
            filter (where r.period_start is not null)) as returns
    from members_in_range as m
    left join members_returns as r on r.user_id = m.user_id and r.period_start > m.cohort
    group by m.segment, m.cohort, m.user_id
),

members_final as (
    select
        segment, cohort, user_id, coalesce(returns, []) as returns,  -- [] for never back, as the raw-events members
        coalesce(list_max(returns), 0) as last_n,
        (select last_day from members_data_end) as last_day
    from members_returned
)

select * from members_final
