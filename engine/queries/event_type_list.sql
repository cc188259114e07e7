-- Event types present in the warehouse, most frequent first.
with final as (
    select event_type, cast(sum(events) as bigint) as events from daily_events group by event_type
)

select * from final order by events desc, event_type
