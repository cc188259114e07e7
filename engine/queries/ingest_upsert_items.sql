-- Item attributes seen in this upload: new items are added, known ones keep what the file leaves empty.
create or replace temp table seen_items as
with seen as (
    select
        item_id,
        arg_max(category, _row) filter (where category is not null) as category,
        arg_max(price, _row) filter (where price > 0) as price,
        arg_max(brand, _row) filter (where brand is not null) as brand,
        arg_max(item_name, _row) filter (where item_name is not null) as name
    from canon
    where reason is null and item_id is not null
    group by item_id
),

final as (
    select * from seen
)

select * from final
