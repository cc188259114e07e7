-- The touched events counted once per business day, user, channel and event type. user_day_type is
-- these rows; user_day and daily_events are sums over them, which is cheaper than grouping the
-- events three times (5.2 s instead of 7.3 s for all days of 10M Taobao-shaped events).
create or replace temp table touched_user_day_type as
with final as (
    select
        day, user_id, channel, event_type,
        count(*) as events,
        cast(sum(cast(amount as decimal(18, 4))) as double) as amount,
        -- a purchase without an order id is an order of its own
        count(*) filter (where order_id is null) as unnumbered_orders
    from ({touched}) as touched_events
    group by day, user_id, channel, event_type
)

select * from final
