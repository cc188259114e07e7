-- What the recommender was trained on, in three numbers: it changes with every import, undo or demo
-- build, but not with segment saves or time-zone changes (which bump the data version too).
with final as (
    select
        (select count(*) from events) as events,
        (select count(*) from uploads) as uploads,
        (select count(undone_at) from uploads) as undone
)

select * from final
