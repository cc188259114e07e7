-- Per community over business days [$start, $end]: members, activity, retention, posts, comments, GMV.
-- joins is community_members.sql, spliced in by engine.warehouse.compose_query.
with joins as (
    {joins}
),

members as (
    select * from joins where joined_on <= $end
),

member_activity as (
    -- actions and GMV of members in the period (all channels, or the chosen one)
    select m.community_id, m.user_id, sum(d.actions) as actions, cast(sum(cast(d.gmv as decimal(18, 4))) as double) as gmv
    from members as m
    join user_day as d on d.user_id = m.user_id
    where d.day between $start and $end and ($channel is null or d.channel = $channel)
    group by m.community_id, m.user_id
),

interactions as (
    select community_id,
        count(*) filter (where not list_contains($passive, event_type)) as interactions,
        count(*) filter (where event_type = 'comment') as comments
    from events
    where community_id is not null
        and event_time >= $lo and event_time < $hi
        and cast((event_time at time zone 'UTC') at time zone $tz as date) between $start and $end
        and ($channel is null or channel = $channel)
    group by community_id
),

posts as (
    select community_id, count(*) as posts
    from contents
    where community_id is not null
        and cast((published_at at time zone 'UTC') at time zone $tz as date) between $start and $end
    group by community_id
),

sizes as (
    select community_id,
        count(*) as members,
        count(*) filter (where joined_on >= $start) as new_members
    from members
    group by community_id
),

final as (
    select
        s.community_id,
        coalesce(c.name, s.community_id) as name,
        s.members,
        s.new_members,
        coalesce(a.active_members, 0) as active_members,
        coalesce(i.interactions, 0) as interactions,
        coalesce(p.posts, 0) as posts,
        coalesce(i.comments, 0) as comments,
        coalesce(a.gmv, 0) as member_gmv
    from sizes as s
    left join communities as c on c.community_id = s.community_id
    left join (
        select community_id, count(*) filter (where actions > 0) as active_members, cast(sum(cast(gmv as decimal(18, 4))) as double) as gmv
        from member_activity group by community_id
    ) as a on a.community_id = s.community_id
    left join interactions as i on i.community_id = s.community_id
    left join posts as p on p.community_id = s.community_id
)

select * from final order by active_members desc, members desc, community_id
