insert into users (user_id, first_seen, last_seen, acquisition_channel, upload_id)
with new_users as (
    select a.* from user_activity as a
    anti join users as u on u.user_id = a.user_id
),

final as (
    select user_id, first_seen, last_seen, acquisition_channel, upload_id from new_users
)

select * from final
