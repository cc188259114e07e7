-- Active members per community and week (or day/month: $period) over business days [$start, $end].
with joins as (
    select community_id, user_id,
        min(cast((event_time at time zone 'UTC') at time zone $tz as date)) as joined_on
    from events
    where event_type = 'join_group' and community_id is not null
    group by community_id, user_id
),

final as (
    select
        j.community_id,
        cast(date_trunc($period, d.day) as date) as period,
        count(distinct d.user_id) as active_members
    from joins as j
    join user_day as d on d.user_id = j.user_id and d.day >= j.joined_on
    where d.day between $start and $end and d.actions > 0 and ($channel is null or d.channel = $channel)
    group by 1, 2
)

select * from final order by period, community_id
