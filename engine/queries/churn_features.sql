-- Per user active before business day $cutoff: behaviour before it (features), and what they did in
-- the $horizon days from it (labels: first activity and first purchase in that window).
-- user_day splits a day by channel, so days are counted as bits set per day since $first_day
-- (bit n = day $first_day + n, $days bits in all): one pass, without regrouping by user and day.
with per_user as (
    select
        user_id,
        min(day) filter (where actions > 0) as first_active,
        max(day) filter (where actions > 0) as last_active,
        min(day) filter (where purchases > 0) as first_purchase,
        max(day) filter (where purchases > 0) as last_purchase,
        bit_count(bitstring_agg(cast(day - $first_day as integer), 0, $days) filter (where actions > 0))
            as active_days,
        coalesce(bit_count(bitstring_agg(cast(day - $first_day as integer), 0, $days)
            filter (where actions > 0 and day >= $cutoff - 30)), 0) as active_30,
        coalesce(bit_count(bitstring_agg(cast(day - $first_day as integer), 0, $days)
            filter (where actions > 0 and day >= $cutoff - 60 and day < $cutoff - 30)), 0) as active_prior_30,
        coalesce(sum(orders), 0) as orders,
        coalesce(cast(sum(cast(gmv as decimal(18, 4))) as double), 0) as monetary
    from user_day
    where day < $cutoff
    group by user_id
    having count(*) filter (where actions > 0) > 0
),

after as (
    select
        user_id,
        min(day) filter (where actions > 0) as next_active,
        min(day) filter (where purchases > 0) as next_purchase
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
        p.*,
        a.next_active,
        a.next_purchase,
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
