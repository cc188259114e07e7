-- Who joined which community and on which business day (their first join_group event there).
-- Spliced into community_leaderboard and community_trend, so its CTE is named community_joins.
with community_joins as (
    select community_id, user_id,
        min(cast((event_time at time zone 'UTC') at time zone $tz as date)) as joined_on
    from events
    where event_type = 'join_group' and community_id is not null
    group by community_id, user_id
)

select * from community_joins
