-- Posts (content items with at least one impression) over business days [$start, $end] and the
-- comments on them, whatever the page's grouping: "comments per post" divides these two.
with per_post as (
    select content_id, sum(impressions) as impressions, sum(comments) as comments
    from content_day
    where day between $start and $end and ($channel is null or channel = $channel)
        and content_id is not null
    group by content_id
),

final as (
    select
        count(*) filter (where impressions > 0) as posts,
        coalesce(sum(comments) filter (where impressions > 0), 0) as comments
    from per_post
)

select * from final
