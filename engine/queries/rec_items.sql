-- Every item users interacted with, with what the catalogue (or, failing that, the events) say of it.
with event_items as (
    select
        item_id,
        mode(category) filter (where category is not null) as event_category,
        median(amount / coalesce(nullif(quantity, 0), 1)) filter (where event_type = 'purchase' and amount > 0) as paid
    from events
    where item_id is not null
        and event_type in ('view', 'click', 'fav', 'cart', 'purchase')
    group by item_id
),

final as (
    select
        e.item_id,
        coalesce(i.category, e.event_category) as category,
        coalesce(i.price, round(e.paid, 2)) as price,
        i.name,
        i.brand,
        i.tags,
        i.in_stock
    from event_items as e
    left join items as i on i.item_id = e.item_id
)

select * from final
