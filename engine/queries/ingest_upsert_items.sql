-- Item attributes seen in this upload; known values are kept where the file leaves them empty.
insert into items (item_id, category, price, brand, name, upload_id)
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
    select item_id, category, price, brand, name, $upload_id as upload_id from seen
)

select * from final
on conflict (item_id) do update set
    category = coalesce(excluded.category, items.category),
    price = coalesce(excluded.price, items.price),
    brand = coalesce(excluded.brand, items.brand),
    name = coalesce(excluded.name, items.name)
