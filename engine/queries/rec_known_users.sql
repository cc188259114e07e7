-- Every user the warehouse knows, so that a recommendation for an unknown id is refused.
with final as (
    select user_id from users
)

select * from final order by user_id
