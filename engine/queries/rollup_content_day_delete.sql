delete from content_day where day in (select day from touched_days)
