-- Engagement per content item, campaign or channel ($by) over business days [$start, $end], with
-- click-through conversions: users whose first click on the group was followed by a purchase
-- within $attribution.
with engagement as (
    select
        case $by when 'content' then content_id when 'campaign' then campaign_id else channel end as key,
        sum(impressions) as impressions, sum(clicks) as clicks, sum(shares) as shares,
        sum(comments) as comments, sum(likes) as likes
    from content_day
    where day between $start and $end and ($channel is null or channel = $channel)
    group by 1
),

clicks as (
    select
        case $by when 'content' then content_id when 'campaign' then campaign_id else channel end as key,
        user_id,
        min(event_time) as first_click
    from events
    where event_type = 'click'
        and event_time >= $lo and event_time < $hi
        and cast((event_time at time zone 'UTC') at time zone $tz as date) between $start and $end
        and ($channel is null or channel = $channel)
    group by 1, 2
),

purchases as (
    select user_id, event_time from events where event_type = 'purchase' and event_time >= $lo
),

converted as (
    select c.key, count(*) as clickers, count(p.user_id) filter (
        where p.event_time <= c.first_click + $attribution) as conversions
    from clicks as c
    asof left join purchases as p on p.user_id = c.user_id and p.event_time > c.first_click
    group by c.key
),

final as (
    select
        e.key,
        cast(e.impressions as bigint) as impressions,
        cast(e.clicks as bigint) as clicks,
        cast(e.shares as bigint) as shares,
        cast(e.comments as bigint) as comments,
        cast(e.likes as bigint) as likes,
        coalesce(v.clickers, 0) as clickers,
        coalesce(v.conversions, 0) as conversions
    from engagement as e
    left join converted as v on v.key is not distinct from e.key
)

select * from final
