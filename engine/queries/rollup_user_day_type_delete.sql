delete from user_day_type where day in (select day from touched_days)
