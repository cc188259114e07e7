-- Events, distinct users and amount per business day, channel and event type, from the touched events.
insert into daily_events
with final as (
    select
        day, channel, event_type,
        sum(events) as events,
        -- one row per user within a day, channel and event type
        count(*) as users,
        coalesce(cast(sum(cast(amount as decimal(18, 4))) as double), 0) as amount
    from touched_user_day_type
    group by day, channel, event_type
)

select * from final
