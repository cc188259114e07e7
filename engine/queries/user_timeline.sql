-- One user's events, newest first, with item and content names where known ($limit rows at most).
with final as (
    select
        e.event_time, e.event_type, e.item_id, i.name as item_name, e.category, e.content_id,
        c.title as content_title, e.campaign_id, e.channel, e.community_id, e.order_id, e.quantity, e.amount
    from events as e
    left join items as i on i.item_id = e.item_id
    left join contents as c on c.content_id = e.content_id
    where e.user_id = $user_id
)

select * from final order by event_time desc limit $limit
