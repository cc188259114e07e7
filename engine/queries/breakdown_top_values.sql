-- The $limit values of a breakdown property with the most events on the business days [$start, $end]
-- (the rows: see breakdown_rows_rollup.sql and breakdown_rows_events.sql), most first, equal counts by
-- value.
with valued_rows as (
    {rows}
),

counted as (
    select raw_value as value, sum(day_events) as n
    from valued_rows
    where raw_value is not null and day between $start and $end
    group by raw_value
)

select value, n from counted order by n desc, value limit $limit
