-- Demo private groups.
insert into communities (community_id, name, kind, created_at, upload_id)
with final as (
    select
        'g' || lpad(cast(community + 1 as varchar), 2, '0') as community_id,
        'WeChat group ' || cast(community + 1 as varchar) as name,
        'wechat_group' as kind,
        $base + to_microseconds(cast(created * 86400000000 as bigint)) as created_at,
        $upload_id as upload_id
    from demo_communities
)

select * from final
