-- Headline KPIs for business days [$start, $end], optionally one channel, from the rollups.
-- WAU and MAU are the distinct users of the 7 and 30 days that end on $end, whatever the range's
-- length; DAU is the average over the range's days of each day's distinct active users. A user is
-- active on a day when they did something themselves (user_day.actions > 0).
with scoped as (
    select * from user_day
    where day between least($start, $end - interval 29 day) and $end
        and ($channel is null or channel = $channel)
        and actions > 0
),

in_range as (
    select * from scoped where day between $start and $end
),

daily as (
    select day, count(distinct user_id) as dau from in_range group by day
),

new_users as (
    select count(*) as n
    from users
    where cast((first_seen at time zone 'UTC') at time zone $tz as date) between $start and $end
        and ($channel is null or acquisition_channel = $channel)
),

final as (
    select
        (select coalesce(sum(dau), 0) from daily) / (datediff('day', $start, $end) + 1) as dau,
        (select count(distinct user_id) from scoped where day > $end - interval 7 day) as wau,
        (select count(distinct user_id) from scoped where day > $end - interval 30 day) as mau,
        (select n from new_users) as new_users,
        (select count(distinct user_id) from in_range) as active_users,
        (select count(distinct user_id) from in_range where purchases > 0) as buyers,
        (select coalesce(sum(orders), 0) from in_range) as orders,
        (select coalesce(cast(sum(cast(gmv as decimal(18, 4))) as double), 0) from in_range) as gmv,
        (select coalesce(cast(sum(cast(refund_amount as decimal(18, 4))) as double), 0) from in_range) as refunds
)

select * from final
