-- The audit trail, newest first, optionally for one actor, one action and from a day on.
with final as (
    select logged_at, actor, action, detail, rows, ok
    from audit
    where ($actor is null or actor = $actor)
        and ($action is null or action = $action)
        and ($since is null or logged_at >= $since)
)

select * from final order by logged_at desc limit $limit
