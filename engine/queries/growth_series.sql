-- Per business day: users active for the first time, first-time buyers and GMV, from user_day.
with firsts as (
    select
        user_id,
        min(day) filter (where actions > 0) as first_active,
        min(day) filter (where purchases > 0) as first_purchase
    from user_day
    group by user_id
),

days as (
    select day, cast(sum(cast(gmv as decimal(18, 4))) as double) as gmv from user_day group by day
),

new_users as (
    select first_active as day, count(*) as users from firsts where first_active is not null group by 1
),

new_buyers as (
    select first_purchase as day, count(*) as buyers from firsts where first_purchase is not null group by 1
),

final as (
    select
        d.day,
        coalesce(u.users, 0) as new_users,
        coalesce(b.buyers, 0) as new_buyers,
        coalesce(d.gmv, 0) as gmv
    from days as d
    left join new_users as u on u.day = d.day
    left join new_buyers as b on b.day = d.day
)

select * from final order by day
