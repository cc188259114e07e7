-- Users of touched_users with no events left and no attributes of their own (after an undo).
delete from users
where user_id in (select user_id from touched_users)
    and user_id not in (select distinct user_id from events where user_id in (select user_id from touched_users))
    and gender is null and age_band is null and city is null
