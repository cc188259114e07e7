-- The KPIs of kpi_summary.sql once per breakdown value, in one pass: the valued rows are user_day-shaped
-- (business day, user, channel, actions, purchases, orders, gmv) with the property's value, read
-- from the rollup for user properties and the channel, recounted from the events otherwise; the value
-- is the property's column (engine.filters, never a user's text). Values in $top are their own row,
-- other values are 'Other', a missing one '(none)'. Each row equals kpi_summary.sql read through a
-- filter on that value (engine.breakdowns; the tests check it).
with valued_rows as (
    {rows}
),

bucketed as (
    select
        day, user_id, day_purchases, day_orders, day_gmv,
        case when raw_value is null then '(none)'
             when list_contains($top, raw_value) then raw_value
             else 'Other' end as breakdown
    from valued_rows
    where day_actions > 0 and day between least($start, $end - interval 29 day) and $end
),

in_range as (
    select * from bucketed where day between $start and $end
),

daily as (
    select breakdown, day, count(distinct user_id) as dau from in_range group by breakdown, day
),

daily_sums as (
    select breakdown, sum(dau) as dau_days from daily group by breakdown
),

windows as (
    select
        breakdown,
        count(distinct user_id) filter (where day > $end - interval 7 day) as wau,
        count(distinct user_id) filter (where day > $end - interval 30 day) as mau
    from bucketed
    group by breakdown
),

totals as (
    select
        breakdown,
        count(distinct user_id) as active_users,
        count(distinct user_id) filter (where day_purchases > 0) as buyers,
        sum(day_orders) as orders,
        coalesce(cast(sum(cast(day_gmv as decimal(18, 4))) as double), 0) as gmv
    from in_range
    group by breakdown
),

newcomers as (
    select u.user_id
    from users as u
    where cast((u.first_seen at time zone 'UTC') at time zone $tz as date) between $start and $end
        and ($channel is null or u.acquisition_channel = $channel)
),

new_members as (
    -- a newcomer counts in each bucket any of their events falls in (their events all follow the
    -- first one, which lies in the range)
    select distinct
        n.user_id,
        case when cast({value} as varchar) is null then '(none)'
             when list_contains($top, cast({value} as varchar)) then cast({value} as varchar)
             else 'Other' end as breakdown
    from newcomers as n
    inner join events as e on e.user_id = n.user_id
    left join users as u on u.user_id = e.user_id
    where e.event_time >= $lo
),

new_counts as (
    select breakdown, count(*) as new_users from new_members group by breakdown
),

buckets as (
    select breakdown from windows
    union
    select breakdown from new_counts
),

final as (
    select
        b.breakdown,
        coalesce(s.dau_days, 0) / (datediff('day', $start, $end) + 1) as dau,
        coalesce(w.wau, 0) as wau,
        coalesce(w.mau, 0) as mau,
        coalesce(n.new_users, 0) as new_users,
        coalesce(t.orders, 0) as orders,
        coalesce(t.gmv, 0) as gmv,
        coalesce(t.active_users, 0) as active_users,
        coalesce(t.buyers, 0) as buyers
    from buckets as b
    left join daily_sums as s on s.breakdown = b.breakdown
    left join windows as w on w.breakdown = b.breakdown
    left join totals as t on t.breakdown = b.breakdown
    left join new_counts as n on n.breakdown = b.breakdown
)

select * from final
