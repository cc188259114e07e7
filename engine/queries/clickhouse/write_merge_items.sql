-- ClickHouse only (engine.store.chwrites.merge_items): the new rows of the items an upload names
-- (staged in items__pond_write): new items as the file gives them, known ones keeping what the file
-- leaves empty and their first upload (as ingest_update_items.sql and ingest_insert_items.sql do on DuckDB).
SELECT
    s.item_id AS item_id,
    coalesce(s.category, i.category) AS category,
    coalesce(s.price, i.price) AS price,
    coalesce(s.brand, i.brand) AS brand,
    coalesce(s.name, i.name) AS name,
    i.tags AS tags,
    i.in_stock AS in_stock,
    if(i.item_id IS NULL, s.upload_id, i.upload_id) AS upload_id
FROM items__pond_write AS s
LEFT JOIN items AS i ON i.item_id = s.item_id
