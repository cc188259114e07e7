-- One row per business day, user and channel, from the touched events.
insert into user_day
with final as (
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
        count(distinct order_id) filter (where event_type = 'purchase')
            + count(*) filter (where event_type = 'purchase' and order_id is null) as orders,
        coalesce(sum(amount) filter (where event_type = 'purchase'), 0) as gmv,
        coalesce(sum(amount) filter (where event_type = 'refund'), 0) as refund_amount
    from touched_events
    group by day, user_id, channel
)

select * from final
