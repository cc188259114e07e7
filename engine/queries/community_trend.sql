-- Active members per community and week (or day/month: $period) over business days [$start, $end].
-- joins is community_members.sql, spliced in by engine.warehouse.compose_query.
with joins as (
    {joins}
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
