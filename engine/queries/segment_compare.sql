-- The users of temp table segment_members against everyone, over the days from $since on; users
-- active in [$before, $since) are the base of "retained".
with groups as (
    select user_id, 'segment' as who from segment_members
    union all
    select user_id, 'everyone' as who from users
),

recent as (
    select user_id, sum(purchases) as purchases, sum(orders) as orders, cast(sum(cast(gmv as decimal(18, 4))) as double) as gmv,
        sum(actions) as actions
    from user_day
    where day >= $since
    group by user_id
),

earlier as (
    select distinct user_id
    from user_day
    where actions > 0
        and day < $since
        and day >= $before
),

final as (
    select
        g.who,
        count(*) as users,
        avg(case when coalesce(r.purchases, 0) > 0 then 1.0 else 0.0 end) as buyers,
        cast(sum(cast(r.gmv as decimal(18, 4))) as double) / nullif(sum(r.orders), 0) as order_value,
        avg(case when coalesce(r.actions, 0) > 0 then 1.0 else 0.0 end) as active,
        avg(case when coalesce(r.actions, 0) > 0 then 1.0 else 0.0 end)
            filter (where e.user_id is not null) as retained
    from groups as g
    left join recent as r on r.user_id = g.user_id
    left join earlier as e on e.user_id = g.user_id
    group by g.who
)

select * from final
