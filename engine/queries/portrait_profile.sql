-- Shares of user properties in temp table portrait_users against all users (community = the first
-- group a user joined).
with first_community as (
    select user_id, arg_min(community_id, event_time) as community_id
    from events
    where event_type = 'join_group' and community_id is not null
    group by user_id
),

props as (
    select u.user_id, p.field, p.value
    from users as u
    left join first_community as c on c.user_id = u.user_id,
        unnest([
            {'field': 'acquisition_channel', 'value': coalesce(u.acquisition_channel, '(unknown)')},
            {'field': 'gender', 'value': coalesce(u.gender, '(unknown)')},
            {'field': 'age_band', 'value': coalesce(u.age_band, '(unknown)')},
            {'field': 'city', 'value': coalesce(u.city, '(unknown)')},
            {'field': 'community', 'value': coalesce(c.community_id, '(no community)')}
        ]) as x(p)
),

counted as (
    select
        field, value,
        count(*) filter (where user_id in (select user_id from portrait_users)) as users,
        count(*) as all_users
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
