-- Events, distinct users and amount per business day, channel and event type, from the touched events.
insert into daily_events
with final as (
    select
        day, channel, event_type,
        count(*) as events,
        count(distinct user_id) as users,
        coalesce(sum(amount), 0) as amount
    from touched_events
    group by day, channel, event_type
)

select * from final
