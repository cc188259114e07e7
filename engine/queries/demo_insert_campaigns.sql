-- Demo coupon campaigns.
insert into campaigns (campaign_id, name, kind, channel, start_time, end_time, upload_id)
with final as (
    select
        'cmp' || lpad(cast(campaign + 1 as varchar), 2, '0') as campaign_id,
        'Coupon campaign ' || cast(campaign + 1 as varchar) as name,
        'coupon' as kind,
        'official_account' as channel,
        $base + to_microseconds(cast(start * 86400000000 as bigint)) as start_time,
        $base + to_microseconds(cast("end" * 86400000000 as bigint)) as end_time,
        $upload_id as upload_id
    from demo_campaigns
)

select * from final
