-- Who did which event type on which business day (and through which channel), from the touched events.
insert into user_day_type
with final as (
    select day, user_id, channel, event_type, count(*) as events
    from touched_events
    group by day, user_id, channel, event_type
)

select * from final
