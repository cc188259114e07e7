-- Events, distinct users and amount per business day, channel and event type, for the touched days.
insert into daily_events
with bounds as (
    select min(day) - interval 1 day as lo, max(day) + interval 2 day as hi from touched_days
),

scoped as (
    select
        cast((e.event_time at time zone 'UTC') at time zone $tz as date) as day,
        e.channel, e.event_type, e.user_id, e.amount
    from events as e, bounds as b
    where e.event_time >= b.lo and e.event_time < b.hi
),

final as (
    select
        day, channel, event_type,
        count(*) as events,
        count(distinct user_id) as users,
        coalesce(sum(amount), 0) as amount
    from scoped
    where day in (select day from touched_days)
    group by day, channel, event_type
)

select * from final
