-- Channels that occur in the events, busiest first.
with final as (
    select channel, cast(sum(events) as bigint) as events
    from daily_events
    where channel is not null
    group by channel
)

select * from final order by events desc, channel
