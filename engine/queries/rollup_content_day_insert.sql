-- Impressions, clicks, shares, comments and likes per business day, content, campaign and channel.
insert into content_day
with engagement as (
    select * from ({touched}) as touched_events
    where event_type in ('impression', 'click', 'share', 'comment', 'like')
),

final as (
    select
        day, content_id, campaign_id, channel,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'share') as shares,
        count(*) filter (where event_type = 'comment') as comments,
        count(*) filter (where event_type = 'like') as likes
    from engagement
    group by day, content_id, campaign_id, channel
)

select * from final
