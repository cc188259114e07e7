-- Item categories that events mention, most frequent first (at most 1,000).
with counted as (
    select category, count(*) as events from events where category is not null group by category
),

final as (
    select category from counted order by events desc, category limit 1000
)

select * from final
