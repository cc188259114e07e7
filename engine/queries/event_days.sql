-- Distinct business days that hold at least one event.
with local_days as (
    select distinct cast((event_time at time zone 'UTC') at time zone $tz as date) as day
    from events
),

final as (
    select day from local_days
)

select * from final order by day
