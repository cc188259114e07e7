-- One row per business day, user and channel, from the touched events.
insert into user_day
with per_day as (
    select
        day, user_id, channel,
        count(*) as events,
        -- what the user did themselves; being shown content or pushed a coupon is not activity
        count(*) filter (where event_type not in ('impression', 'coupon_issue')) as actions,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'view') as views,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'cart') as carts,
        count(*) filter (where event_type = 'fav') as favs,
        count(*) filter (where event_type = 'purchase') as purchases,
        count(*) filter (where event_type = 'refund') as refunds,
        count(*) filter (where event_type = 'share') as shares,
        count(*) filter (where event_type = 'comment') as comments,
        -- a purchase without an order id is an order of its own
        count(*) filter (where event_type = 'purchase' and order_id is null) as unnumbered_orders,
        coalesce(sum(amount) filter (where event_type = 'purchase'), 0) as gmv,
        coalesce(sum(amount) filter (where event_type = 'refund'), 0) as refund_amount
    from touched_events
    group by day, user_id, channel
),

numbered_orders as (
    -- distinct order ids over the purchases alone: a distinct count inside the pass above made
    -- every group keep a set (7.7 s instead of 4.3 s for the days of 10M events)
    select day, user_id, channel, count(distinct order_id) as orders
    from touched_events
    where event_type = 'purchase' and order_id is not null
    group by day, user_id, channel
),

final as (
    select
        p.day, p.user_id, p.channel, p.events, p.actions, p.impressions, p.views, p.clicks, p.carts,
        p.favs, p.purchases, p.refunds, p.shares, p.comments,
        p.unnumbered_orders + coalesce(o.orders, 0) as orders,
        p.gmv, p.refund_amount
    from per_day as p
    left join numbered_orders as o
        on o.day = p.day and o.user_id = p.user_id and o.channel is not distinct from p.channel
)

select * from final
