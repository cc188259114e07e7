-- Impressions, clicks, shares and comments per business day, optionally for one group ($by/$key).
with scoped as (
    select * from content_day
    where day between $start and $end
        and ($channel is null or channel = $channel)
        and ($key is null
             or ($by = 'content' and content_id = $key)
             or ($by = 'campaign' and campaign_id = $key)
             or ($by = 'channel' and channel = $key))
),

final as (
    select
        day,
        cast(sum(impressions) as bigint) as impressions,
        cast(sum(clicks) as bigint) as clicks,
        cast(sum(shares) as bigint) as shares,
        cast(sum(comments) as bigint) as comments
    from scoped
    group by day
)

select * from final order by day
