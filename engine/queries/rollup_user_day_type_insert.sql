-- Who did which event type on which business day (and through which channel), from the touched events.
insert into user_day_type
with final as (
    select day, user_id, channel, event_type, events
    from touched_user_day_type
)

select * from final
