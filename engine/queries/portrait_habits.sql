-- Purchase habits of the users in temp table portrait_users, in the business time zone $tz:
-- one row per purchase with its local hour and weekday, order value, coupon use and the days
-- since the same user's previous purchase.
with purchases as (
    select
        e.user_id,
        (e.event_time at time zone 'UTC') at time zone $tz as local_time,
        e.amount,
        e.campaign_id,
        e.order_id
    from events as e
    where e.event_type = 'purchase' and e.user_id in (select user_id from portrait_users)
),

final as (
    select
        user_id,
        hour(local_time) as hour,
        isodow(local_time) as weekday,
        amount,
        campaign_id is not null as with_coupon,
        date_diff('second', lag(local_time) over (partition by user_id order by local_time), local_time)
            / 86400.0 as days_since_previous
    from purchases
)

select * from final
