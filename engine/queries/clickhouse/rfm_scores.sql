-- ClickHouse: rfm_scores.sql. The segment is the matching rule of least priority found with argMin over
-- the customers' matches (ClickHouse cannot decorrelate DuckDB's "order by priority limit 1" subquery).
with window_days as (
    select * from user_day
    where day > $as_of - $lookback and day <= $as_of
        and ($channel is null or channel = $channel)
),

customers as (
    select
        user_id,
        dateDiff('day', maxIf(day, purchases > 0), $as_of) as recency_days,
        toInt64(sum(orders)) as frequency,
        toFloat64(sum(toDecimal64(round(toDecimal128(gmv, 10), 4), 4)))
            - toFloat64(sum(toDecimal64(round(toDecimal128(refund_amount, 10), 4), 4))) as monetary
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

matched as (
    select k.user_id as user_id, argMin(s.segment, s.priority) as segment
    from ranked as k
    cross join rfm_rules as s
    where k.r between s.r_low and s.r_high
        and k.f between s.f_low and s.f_high
        and k.m between s.m_low and s.m_high
    group by k.user_id
),

final as (
    select
        k.user_id as user_id, k.recency_days as recency_days, k.frequency as frequency,
        toFloat64(round(toDecimal128(k.monetary, 12), 2)) as monetary,
        toInt32(k.r) as r, toInt32(k.f) as f, toInt32(k.m) as m,
        coalesce(x.segment, 'Other') as segment
    from ranked as k
    left join matched as x on x.user_id = k.user_id
)

select * from final order by r desc, f desc, m desc, user_id
