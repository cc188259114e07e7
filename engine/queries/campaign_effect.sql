-- Per coupon campaign: users issued a coupon, redeemers, and what redeemers and the issued users who
-- did not redeem bought from the first issue to $horizon days after the last redemption window day.
with issued as (
    select campaign_id, user_id, min(event_time) as issued_at
    from events
    where event_type = 'coupon_issue' and campaign_id is not null
    group by campaign_id, user_id
),

redeemed as (
    select campaign_id, user_id, min(event_time) as redeemed_at
    from events
    where event_type = 'coupon_redeem' and campaign_id is not null
    group by campaign_id, user_id
),

windows as (
    select campaign_id, min(issued_at) as starts, max(issued_at) + $horizon as ends
    from issued
    group by campaign_id
),

outcome as (
    select
        i.campaign_id, i.user_id, r.user_id is not null as redeemed,
        coalesce(cast(sum(cast(e.amount as decimal(18, 4))) filter (where e.event_type = 'purchase') as double), 0) as gmv,
        count(*) filter (where e.event_type = 'purchase') as purchases
    from issued as i
    join windows as w on w.campaign_id = i.campaign_id
    left join redeemed as r on r.campaign_id = i.campaign_id and r.user_id = i.user_id
    left join events as e on e.user_id = i.user_id and e.event_time >= i.issued_at and e.event_time < w.ends
    group by i.campaign_id, i.user_id, r.user_id
),

final as (
    select
        o.campaign_id,
        coalesce(c.name, o.campaign_id) as name,
        count(*) as issued,
        count(*) filter (where redeemed) as redeemed,
        count(*) filter (where redeemed) / count(*) as redemption_rate,
        avg(gmv) filter (where redeemed) as gmv_per_redeemer,
        avg(gmv) filter (where not redeemed) as gmv_per_non_redeemer,
        avg(case when purchases >= 2 then 1.0 else 0.0 end) filter (where redeemed) as repurchase_redeemers,
        avg(case when purchases >= 2 then 1.0 else 0.0 end) filter (where not redeemed) as repurchase_non_redeemers
    from outcome as o
    left join campaigns as c on c.campaign_id = o.campaign_id
    group by o.campaign_id, c.name
)

select * from final order by campaign_id
