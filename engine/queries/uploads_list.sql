-- The upload ledger, newest first.
with final as (
    select
        upload_id, file_name, format, status, rows_read, rows_imported, rows_rejected,
        rows_duplicate, first_event, last_event, started_at, finished_at, imported_by,
        encoding, timezone, sha256, message, undone_at
    from uploads
)

select * from final order by upload_id desc
