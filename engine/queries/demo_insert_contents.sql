-- Demo content: articles, videos, notes, lives and group posts.
insert into contents (content_id, kind, title, tags, published_at, community_id, author_id, upload_id)
with final as (
    select
        'c' || lpad(cast(content as varchar), 5, '0') as content_id,
        list_extract($kinds, channel + 1) as kind,
        list_extract($kinds, channel + 1) || ' #' || cast(content as varchar) as title,
        cast(null as varchar) as tags,
        $base + to_microseconds(cast(published * 86400000000 as bigint)) as published_at,
        case when community >= 0 then 'g' || lpad(cast(community + 1 as varchar), 2, '0') end
            as community_id,
        cast(null as varchar) as author_id,
        $upload_id as upload_id
    from demo_contents
)

select * from final
