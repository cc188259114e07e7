-- Recency, frequency and monetary value per customer as of business day $as_of, with 1-5 scores.
-- Customers: users with a purchase in the $lookback days up to $as_of. Frequency counts orders,
-- monetary is purchases minus refunds. Scores are percentile buckets (1 + floor(5 * percent_rank))
-- so that customers with equal values always share a score; 5 is best (most recent, most often,
-- most spent). Segments come from temp table rfm_rules: the first matching rule (by priority) wins.
with window_days as (
    select * from user_day
    where day > cast($as_of as date) - cast($lookback as integer) and day <= $as_of
        and ($channel is null or channel = $channel)
),

customers as (
    select
        user_id,
        datediff('day', max(day) filter (where purchases > 0), cast($as_of as date)) as recency_days,
        cast(sum(orders) as bigint) as frequency,
        cast(sum(cast(gmv as decimal(18, 4))) as double) - cast(sum(cast(refund_amount as decimal(18, 4))) as double) as monetary
    from window_days
    group by user_id
    having sum(purchases) > 0
),

ranked as (
    select
        *,
        least(5, 1 + floor(5 * percent_rank() over (order by recency_days desc))) as r,
        least(5, 1 + floor(5 * percent_rank() over (order by frequency))) as f,
        least(5, 1 + floor(5 * percent_rank() over (order by monetary))) as m
    from customers
),

labelled as (
    select
        k.*,
        coalesce(
            (select s.segment from rfm_rules as s
             where k.r between s.r_low and s.r_high
                 and k.f between s.f_low and s.f_high
                 and k.m between s.m_low and s.m_high
             order by s.priority
             limit 1),
            'Other') as segment
    from ranked as k
),

final as (
    select user_id, recency_days, frequency, round(monetary, 2) as monetary,
        cast(r as integer) as r, cast(f as integer) as f, cast(m as integer) as m, segment
    from labelled
)

select * from final order by r desc, f desc, m desc, user_id
