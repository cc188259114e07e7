delete from daily_events where day in (select day from touched_days)
