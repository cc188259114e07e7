-- Content engagement once per breakdown value, in one pass over the raw events of the business days
-- [$start, $end]: the value is the property's column (engine.filters, never a user's text); values in
-- $top are their own row, other values 'Other', a missing one '(none)'. Each row equals the totals
-- of content_performance.sql by channel, and content_posts.sql, read through a filter on that value
-- (engine.breakdowns; the tests check it): a clicker is a user per channel, whose first click was
-- followed by a purchase of the same value within $attribution.
with valued as (
    select
        cast((e.event_time at time zone 'UTC') at time zone $tz as date) as day,
        e.user_id, e.channel, e.event_type, e.event_time, e.content_id,
        case when cast({value} as varchar) is null then '(none)'
             when list_contains($top, cast({value} as varchar)) then cast({value} as varchar)
             else 'Other' end as breakdown
    from events as e
    left join users as u on u.user_id = e.user_id
    where e.event_time >= $lo and e.event_time < $hi
        and e.event_type in ('impression', 'click', 'share', 'comment', 'like', 'purchase')
),

engaged as (
    select * from valued
    where day between $start and $end and event_type <> 'purchase'
        and ($channel is null or channel = $channel)
),

counts as (
    select
        breakdown,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'click') as clicks,
        count(*) filter (where event_type = 'share') as shares,
        count(*) filter (where event_type = 'comment') as comments,
        count(*) filter (where event_type = 'like') as likes
    from engaged
    group by breakdown
),

per_post as (
    select
        breakdown, content_id,
        count(*) filter (where event_type = 'impression') as impressions,
        count(*) filter (where event_type = 'comment') as comments
    from engaged
    where content_id is not null
    group by breakdown, content_id
),

posts as (
    select
        breakdown,
        count(*) filter (where impressions > 0) as posts,
        coalesce(sum(comments) filter (where impressions > 0), 0) as post_comments
    from per_post
    group by breakdown
),

first_clicks as (
    select breakdown, channel, user_id, min(event_time) as first_click
    from engaged
    where event_type = 'click'
    group by breakdown, channel, user_id
),

purchases as (
    select breakdown, user_id, event_time from valued where event_type = 'purchase'
),

converted as (
    select
        c.breakdown,
        count(*) as clickers,
        count(p.user_id) filter (where p.event_time <= c.first_click + $attribution) as conversions
    from first_clicks as c
    asof left join purchases as p
        on p.breakdown = c.breakdown and p.user_id = c.user_id and p.event_time > c.first_click
    group by c.breakdown
),

final as (
    select
        n.breakdown, n.impressions, n.clicks, n.shares, n.comments, n.likes,
        coalesce(v.clickers, 0) as clickers,
        coalesce(v.conversions, 0) as conversions,
        coalesce(p.posts, 0) as posts,
        coalesce(p.post_comments, 0) as post_comments
    from counts as n
    left join converted as v on v.breakdown = n.breakdown
    left join posts as p on p.breakdown = n.breakdown
)

select * from final
