-- One user's totals from the rollups (one user_day row per day and channel: days are counted once).
with final as (
    select
        count(distinct day) filter (where actions > 0) as active_days,
        coalesce(sum(events), 0) as events,
        coalesce(sum(orders), 0) as orders,
        coalesce(cast(sum(cast(gmv as decimal(18, 4))) as double), 0) as gmv,
        coalesce(cast(sum(cast(refund_amount as decimal(18, 4))) as double), 0) as refunds,
        max(day) filter (where actions > 0) as last_active_day
    from user_day
    where user_id = $user_id
)

select * from final
