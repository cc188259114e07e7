-- Business days that an upload's events fall on.
with days as (
    select distinct cast((event_time at time zone 'UTC') at time zone $tz as date) as day
    from events
    where upload_id = $upload_id
),

final as (
    select day from days
)

select * from final order by day
