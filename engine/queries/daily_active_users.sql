-- Active users, buyers, orders and GMV per business day for [$start, $end], optionally one channel.
with scoped as (
    select * from user_day
    where day between $start and $end
        and ($channel is null or channel = $channel)
),

final as (
    select
        day,
        count(distinct user_id) filter (where actions > 0) as active_users,
        count(distinct user_id) filter (where purchases > 0) as buyers,
        cast(sum(orders) as bigint) as orders,
        cast(sum(cast(gmv as decimal(18, 4))) as double) as gmv
    from scoped
    group by day
)

select * from final order by day
