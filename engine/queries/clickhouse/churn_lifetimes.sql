-- ClickHouse: churn_lifetimes.sql, with p.* spelled out (ClickHouse names a star's columns "p.user_id"
-- when a joined table has the same column).
with days as (
    select user_id, day
    from user_day
    where (case when $basis = 'purchase' then purchases else actions end) > 0
),

per_user as (
    select user_id, min(day) as first_day, max(day) as last_day, uniqExact(day) as active_days
    from days
    group by user_id
),

first_group as (
    select user_id, argMin(community_id, event_time) as community
    from events
    where event_type = 'join_group' and community_id is not null
    group by user_id
),

final as (
    select
        p.user_id as user_id, p.first_day as first_day, p.last_day as last_day, p.active_days as active_days,
        coalesce(u.acquisition_channel, 'unknown') as channel,
        coalesce(g.community, '(no group)') as community
    from per_user as p
    left join users as u on u.user_id = p.user_id
    left join first_group as g on g.user_id = p.user_id
)

select * from final order by user_id
