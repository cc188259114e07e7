-- Per user: first and last business day with activity (any action, or a purchase when $basis is
-- 'purchase'), the days they were active, and their acquisition channel and first community.
with days as (
    select user_id, day
    from user_day
    where (case when $basis = 'purchase' then purchases else actions end) > 0
),

per_user as (
    select user_id, min(day) as first_day, max(day) as last_day, count(distinct day) as active_days
    from days
    group by user_id
),

first_group as (
    select user_id, arg_min(community_id, event_time) as community
    from events
    where event_type = 'join_group' and community_id is not null
    group by user_id
),

final as (
    select
        p.*,
        coalesce(u.acquisition_channel, 'unknown') as channel,
        coalesce(g.community, '(no group)') as community
    from per_user as p
    left join users as u on u.user_id = p.user_id
    left join first_group as g on g.user_id = p.user_id
)

select * from final order by user_id
