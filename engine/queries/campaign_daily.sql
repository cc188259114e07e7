-- Coupons issued and redeemed per business day and campaign.
with final as (
    select
        cast((event_time at time zone 'UTC') at time zone $tz as date) as day,
        campaign_id,
        count(*) filter (where event_type = 'coupon_issue') as issued,
        count(*) filter (where event_type = 'coupon_redeem') as redeemed
    from events
    where event_type in ('coupon_issue', 'coupon_redeem') and campaign_id is not null
    group by 1, 2
)

select * from final order by day, campaign_id
