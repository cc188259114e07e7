-- user_day rows with a breakdown value (the value: a user property, or the channel) around the days
-- [$lo_day, $end]; the rollup answers these without the raw events.
select
    e.day, e.user_id, e.channel, e.events as day_events, e.actions as day_actions,
    e.purchases as day_purchases, e.orders as day_orders, e.gmv as day_gmv,
    cast({value} as varchar) as raw_value
from user_day as e
left join users as u on u.user_id = e.user_id
where e.day between $lo_day and $end
    and ($channel is null or e.channel = $channel)
