-- ClickHouse: interest_tags.sql (item tags split with ARRAY JOIN instead of unnest; halves round away
-- from zero as in DuckDB).
with latest as (
    select max(event_time) as t from events
),

weighted as (
    select
        e.user_id as user_id, e.item_id as item_id, e.category as category,
        multiIf(e.event_type = 'purchase', 5.0, e.event_type = 'cart', 3.0,
                e.event_type in ('fav', 'share', 'comment'), 2.0, 1.0)
            * pow(0.5, dateDiff('second', e.event_time, l.t) / 86400.0 / $half_life) as w
    from events as e
    cross join latest as l
    where e.event_type in ('view', 'click', 'fav', 'cart', 'purchase', 'share', 'comment', 'like')
        and (e.item_id is not null or e.category is not null)
        and e.event_time >= l.t - toIntervalDay($lookback)
),

item_tags as (
    select i.item_id as item_id, concat('tag:', trimBoth(part)) as tag
    from items as i
    array join splitByChar(',', coalesce(i.tags, '')) as part
    where i.tags is not null and trimBoth(part) != ''
),

tagged as (
    select user_id, concat('category:', category) as tag, w from weighted where category is not null
    union all
    select w.user_id as user_id, it.tag as tag, w.w as w
    from weighted as w
    join item_tags as it on it.item_id = w.item_id
),

tf as (
    select user_id, tag, sum(w) as tf from tagged group by user_id, tag
),

df as (
    select tag, count() as users from tf group by tag
),

population as (
    select uniqExact(user_id) as users from tf
),

scored as (
    select
        tf.user_id as user_id, tf.tag as tag,
        toFloat64(round(toDecimal128(tf.tf * (log((1.0 + p.users) / (1.0 + df.users)) + 1), 12), 4)) as score
    from tf
    join df on df.tag = tf.tag
    cross join population as p
),

final as (
    select user_id, tag, score
    from scored
    qualify row_number() over (partition by user_id order by score desc, tag) <= $top
)

select * from final
