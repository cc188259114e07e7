-- What each user did with each item on each UTC day: the input of every recommender.
-- Views and item clicks count as looks; favourites, carts and purchases as stronger intent.
with item_events as (
    select user_id, item_id, event_type, cast(event_time as date) as day
    from events
    where item_id is not null
        and event_type in ('view', 'click', 'fav', 'cart', 'purchase')
),

final as (
    select
        user_id,
        item_id,
        day,
        count(*) filter (where event_type in ('view', 'click')) as views,
        count(*) filter (where event_type = 'fav') as favs,
        count(*) filter (where event_type = 'cart') as carts,
        count(*) filter (where event_type = 'purchase') as purchases
    from item_events
    group by user_id, item_id, day
)

select * from final order by user_id, item_id, day
