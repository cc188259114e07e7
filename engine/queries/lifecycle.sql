-- Lifecycle of active users per $period over business days [$start, $end]: new (first active period
-- ever), returning (also active the period before), resurrecting (back after a gap), dormant (active
-- the period before, not in this one; reported as a negative count).
with active as (
    select distinct user_id, cast(date_trunc($period, day) as date) as period
    from user_day
    where actions > 0 and ($channel is null or channel = $channel)
),

firsts as (
    select user_id, min(period) as first_period from active group by user_id
),

stepped as (
    select
        a.user_id, a.period, f.first_period,
        case $period
            when 'day' then a.period - 1
            when 'week' then a.period - 7
            else cast(a.period - interval 1 month as date)
        end as previous_period,
        case $period
            when 'day' then a.period + 1
            when 'week' then a.period + 7
            else cast(a.period + interval 1 month as date)
        end as next_period
    from active as a
    join firsts as f on f.user_id = a.user_id
),

labelled as (
    select
        s.period,
        case
            when s.period = s.first_period then 'new'
            when p.user_id is not null then 'returning'
            else 'resurrecting'
        end as status
    from stepped as s
    left join active as p on p.user_id = s.user_id and p.period = s.previous_period
    union all
    select s.next_period as period, 'dormant' as status
    from stepped as s
    left join active as n on n.user_id = s.user_id and n.period = s.next_period
    where n.user_id is null
        and s.next_period <= (select max(period) from active)
),

final as (
    select period, status,
        cast(case when status = 'dormant' then -count(*) else count(*) end as bigint) as users
    from labelled
    where period between cast(date_trunc($period, cast($start as date)) as date) and $end
    group by period, status
)

select * from final order by period, status
