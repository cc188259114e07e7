-- Users whose id starts with $prefix (case-insensitive), most recently seen first.
with final as (
    select user_id, acquisition_channel, first_seen, last_seen
    from users
    where starts_with(lower(user_id), lower($prefix))
)

select * from final order by last_seen desc nulls last, user_id limit $limit
