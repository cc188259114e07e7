-- Who interacts with whom in communities: users engaging with the same group post are linked to
-- the user who engaged just before them (a reply chain, so a busy post adds n edges, not n^2).
with engaged as (
    select content_id, user_id, min(event_time) as t
    from events
    where community_id is not null and content_id is not null
        and event_type in ('comment', 'like', 'share', 'click')
    group by content_id, user_id
),

ordered as (
    select content_id, user_id,
        lag(user_id) over (partition by content_id order by t, user_id) as previous
    from engaged
),

final as (
    select least(previous, user_id) as a, greatest(previous, user_id) as b, count(*) as weight
    from ordered
    where previous is not null and previous <> user_id
    group by 1, 2
)

select * from final order by a, b
