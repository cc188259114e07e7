insert into items (item_id, category, price, brand, name, upload_id)
with new_items as (
    select s.* from seen_items as s
    anti join items as i on i.item_id = s.item_id
),

final as (
    select item_id, category, price, brand, name, $upload_id as upload_id from new_items
)

select * from final
