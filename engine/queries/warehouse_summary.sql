-- The warehouse at a glance: counts, the span of events, the last import.
with last_upload as (
    select file_name, finished_at, rows_imported
    from uploads
    where status = 'imported'
    order by upload_id desc
    limit 1
),

final as (
    select
        (select count(*) from events) as events,
        (select count(*) from users) as users,
        (select count(*) from items) as items,
        (select min(event_time) from events) as first_event,
        (select max(event_time) from events) as last_event,
        (select min(day) from daily_events) as first_day,
        (select max(day) from daily_events) as last_day,
        (select count(*) from uploads where status = 'imported') as uploads,
        (select file_name from last_upload) as last_upload_file,
        (select finished_at from last_upload) as last_upload_at,
        (select rows_imported from last_upload) as last_upload_rows
)

select * from final
