-- One user's totals from the rollups (one user_day row per day and channel: days are counted once).
with final as (
    select
        count(distinct day) filter (where actions > 0) as active_days,
        coalesce(sum(events), 0) as events,
        coalesce(sum(orders), 0) as orders,
        coalesce(sum(gmv), 0) as gmv,
        coalesce(sum(refund_amount), 0) as refunds,
        max(day) filter (where actions > 0) as last_active_day
    from user_day
    where user_id = $user_id
)

select * from final
