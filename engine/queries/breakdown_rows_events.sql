-- The events of the days [$lo_day, $end] counted like user_day, per business day, user, channel and
-- breakdown value (the value: an event property the rollups do not carry, e.g. the category).
with valued as (
    select
        cast((e.event_time at time zone 'UTC') at time zone $tz as date) as day,
        e.user_id, e.channel, e.event_type, e.order_id, e.amount,
        cast({value} as varchar) as raw_value
    from events as e
    left join users as u on u.user_id = e.user_id
    where e.event_time >= $lo and e.event_time < $hi
        and ($channel is null or e.channel = $channel)
)

select
    day, user_id, channel, raw_value,
    count(*) as day_events,
    count(*) filter (where event_type not in ('impression', 'coupon_issue')) as day_actions,
    count(*) filter (where event_type = 'purchase') as day_purchases,
    count(*) filter (where event_type = 'purchase' and order_id is null)
        + count(distinct order_id) filter (where event_type = 'purchase') as day_orders,
    coalesce(cast(sum(cast(amount as decimal(18, 4))) filter (where event_type = 'purchase') as double), 0) as day_gmv
from valued
where day between $lo_day and $end
group by day, user_id, channel, raw_value
