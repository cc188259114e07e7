-- Demo catalogue.
insert into items (item_id, category, price, brand, name, tags, in_stock, upload_id)
with final as (
    select
        'i' || lpad(cast(item as varchar), 5, '0') as item_id,
        list_extract($categories, category + 1) as category,
        price,
        'brand-' || cast(item % 37 + 1 as varchar) as brand,
        list_extract($categories, category + 1) || ' item ' || cast(item as varchar) as name,
        tags,
        item % 23 <> 0 as in_stock,
        $upload_id as upload_id
    from demo_items
)

select * from final
