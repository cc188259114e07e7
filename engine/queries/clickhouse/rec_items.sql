-- ClickHouse: rec_items.sql. The most frequent category of an item's events (DuckDB's mode) is counted
-- out, equal counts going to the first category by name (DuckDB leaves that choice open); the median
-- price paid is exact (quantileExactInclusive: the mean of the middle two, as DuckDB's median).
with event_category_counts as (
    select item_id, category, count() as n
    from events
    where item_id is not null and category is not null
        and event_type in ('view', 'click', 'fav', 'cart', 'purchase')
    group by item_id, category
),

event_categories as (
    select item_id, category
    from (
        select item_id, category, row_number() over (partition by item_id order by n desc, category) as k
        from event_category_counts
    )
    where k = 1
),

event_items as (
    select
        item_id,
        quantileExactInclusiveIf(0.5)(amount / coalesce(nullIf(quantity, 0), 1),
            event_type = 'purchase' and amount > 0) as paid
    from events
    where item_id is not null
        and event_type in ('view', 'click', 'fav', 'cart', 'purchase')
    group by item_id
),

final as (
    select
        e.item_id as item_id,
        coalesce(i.category, m.category) as category,
        coalesce(i.price, toFloat64(round(toDecimal128(e.paid, 12), 2))) as price,
        i.name as name,
        i.brand as brand,
        i.tags as tags,
        i.in_stock as in_stock
    from event_items as e
    left join event_categories as m on m.item_id = e.item_id
    left join items as i on i.item_id = e.item_id
)

select * from final
