-- ClickHouse: churn_features.sql. Active days are distinct days with actions (uniqExactIf), which is
-- what DuckDB's bit strings of days since $first_day count; p.* is spelled out.
with per_user as (
    select
        user_id,
        minIf(day, actions > 0) as first_active,
        maxIf(day, actions > 0) as last_active,
        minIf(day, purchases > 0) as first_purchase,
        maxIf(day, purchases > 0) as last_purchase,
        uniqExactIf(day, actions > 0 and day >= $first_day and day <= $first_day + $days) as active_days,
        uniqExactIf(day, actions > 0 and day >= $cutoff - 30
            and day >= $first_day and day <= $first_day + $days) as active_30,
        uniqExactIf(day, actions > 0 and day >= $cutoff - 60 and day < $cutoff - 30
            and day >= $first_day and day <= $first_day + $days) as active_prior_30,
        coalesce(sum(orders), 0) as orders,
        coalesce(toFloat64(sum(toDecimal128(round(toDecimal128(gmv, 10), 4), 4))), 0) as monetary
    from user_day
    where day < $cutoff
    group by user_id
    having countIf(actions > 0) > 0
),

after as (
    select
        user_id,
        minIf(day, actions > 0) as next_active,
        minIf(day, purchases > 0) as next_purchase
    from user_day
    where day >= $cutoff and day < $cutoff + $horizon
    group by user_id
),

coupons as (
    select user_id, sum(events) as coupons
    from user_day_type
    where event_type = 'coupon_redeem' and day < $cutoff
    group by user_id
),

groups as (
    select distinct user_id
    from user_day_type
    where event_type = 'join_group' and day < $cutoff
),

final as (
    select
        p.user_id as user_id, p.first_active as first_active, p.last_active as last_active,
        p.first_purchase as first_purchase, p.last_purchase as last_purchase, p.active_days as active_days,
        p.active_30 as active_30, p.active_prior_30 as active_prior_30, p.orders as orders,
        p.monetary as monetary,
        a.next_active as next_active,
        a.next_purchase as next_purchase,
        coalesce(c.coupons, 0) as coupons,
        g.user_id is not null as in_group,
        coalesce(u.acquisition_channel, 'unknown') as channel
    from per_user as p
    left join after as a on a.user_id = p.user_id
    left join coupons as c on c.user_id = p.user_id
    left join groups as g on g.user_id = p.user_id
    left join users as u on u.user_id = p.user_id
)

select * from final order by user_id
