-- Events per business day and event type for [$start, $end], optionally one channel.
with scoped as (
    select day, event_type, events, users, amount
    from daily_events
    where day between $start and $end
        and ($channel is null or channel = $channel)
),

final as (
    select day, event_type, cast(sum(events) as bigint) as events, cast(sum(cast(amount as decimal(18, 4))) as double) as amount
    from scoped
    group by day, event_type
)

select * from final order by day, event_type
