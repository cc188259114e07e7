-- Each user's top $top interest tags by TF-IDF: categories and item tags of what they engaged with
-- in the last $lookback days, weighted by intent (view 1 ... purchase 5) and halved every
-- $half_life days; IDF = ln((1 + users) / (1 + users with the tag)) + 1, as scikit-learn smooths it.
with latest as (
    select max(event_time) as t from events
),

weighted as (
    select
        e.user_id, e.item_id, e.category,
        case e.event_type
            when 'purchase' then 5.0 when 'cart' then 3.0 when 'fav' then 2.0 when 'share' then 2.0
            when 'comment' then 2.0 else 1.0
        end * pow(0.5, date_diff('second', e.event_time, l.t) / 86400.0 / $half_life) as w
    from events as e, latest as l
    where e.event_type in ('view', 'click', 'fav', 'cart', 'purchase', 'share', 'comment', 'like')
        and (e.item_id is not null or e.category is not null)
        and e.event_time >= l.t - interval (cast($lookback as integer)) day
),

item_tags as (
    -- split first: most catalogues tag few items, and the join then builds on this short list
    select i.item_id, 'tag:' || trim(t.tag) as tag
    from items as i
    cross join unnest(string_split(i.tags, ',')) as t(tag)
    where i.tags is not null and trim(t.tag) <> ''
),

tagged as (
    select user_id, 'category:' || category as tag, w from weighted where category is not null
    union all
    select w.user_id, it.tag, w.w
    from weighted as w
    join item_tags as it on it.item_id = w.item_id
),

tf as (
    select user_id, tag, sum(w) as tf from tagged group by user_id, tag
),

df as (
    select tag, count(*) as users from tf group by tag
),

population as (
    select count(distinct user_id) as users from tf
),

final as (
    select
        tf.user_id, tf.tag,
        round(tf.tf * (ln((1.0 + p.users) / (1.0 + df.users)) + 1), 4) as score
    from tf
    join df on df.tag = tf.tag
    cross join population as p
    qualify row_number() over (partition by tf.user_id order by score desc, tf.tag) <= $top
)

select * from final
