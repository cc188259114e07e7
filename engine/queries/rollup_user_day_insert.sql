-- One row per business day, user and channel for the touched days.
insert into user_day
with bounds as (
    -- a day in any zone lies within one day either side of the same UTC date
    select min(day) - interval 1 day as lo, max(day) + interval 2 day as hi from touched_days
),

scoped as (
    select
        cast((e.event_time at time zone 'UTC') at time zone $tz as date) as day,
        e.user_id, e.channel, e.event_type, e.order_id, e.amount
    from events as e, bounds as b
    where e.event_time >= b.lo and e.event_time < b.hi
),

final as (
    select
        day, user_id, channel,
        count(*) as events,
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
    from scoped
    where day in (select day from touched_days)
    group by day, user_id, channel
)

select * from final
