-- ClickHouse: portrait_profile.sql (one row per user and property through ARRAY JOIN of tuples, where
-- DuckDB unnests a list of structs).
with first_community as (
    select user_id, argMin(community_id, event_time) as community_id
    from events
    where event_type = 'join_group' and community_id is not null
    group by user_id
),

props as (
    select u.user_id as user_id, tupleElement(p, 1) as field, tupleElement(p, 2) as value
    from users as u
    left join first_community as c on c.user_id = u.user_id
    array join [
        ('acquisition_channel', coalesce(u.acquisition_channel, '(unknown)')),
        ('gender', coalesce(u.gender, '(unknown)')),
        ('age_band', coalesce(u.age_band, '(unknown)')),
        ('city', coalesce(u.city, '(unknown)')),
        ('community', coalesce(c.community_id, '(no community)'))
    ] as p
),

counted as (
    select
        field, value,
        countIf(user_id in (select user_id from portrait_users)) as users,
        count() as all_users
    from props
    group by field, value
),

final as (
    select
        field, value, users,
        users / sum(users) over (partition by field) as share,
        all_users / sum(all_users) over (partition by field) as share_all
    from counted
)

select * from final where users > 0 order by field, users desc, value
