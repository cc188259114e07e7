update items set
    category = coalesce(s.category, items.category),
    price = coalesce(s.price, items.price),
    brand = coalesce(s.brand, items.brand),
    name = coalesce(s.name, items.name)
from seen_items as s
where items.item_id = s.item_id
    and (s.category is not null or s.price is not null or s.brand is not null or s.name is not null)
