-- ClickHouse only (engine.store.chwrites.merge_users): the new rows of the users staged in
-- users__pond_write, as users_refresh_seen.sql, users_update_seen.sql, users_insert_new.sql and
-- ingest_update_user_attributes.sql make them on DuckDB: first and last seen over all their events,
-- the acquisition channel kept once known (else the channel of their first event that has one), the
-- staged attributes where given, and the upload that first brought them. Users without events get no row.
SELECT
    a.user_id AS user_id,
    a.first_seen AS first_seen,
    a.last_seen AS last_seen,
    coalesce(u.acquisition_channel, a.acquisition_channel) AS acquisition_channel,
    coalesce(s.gender, u.gender) AS gender,
    coalesce(s.age_band, u.age_band) AS age_band,
    coalesce(s.city, u.city) AS city,
    if(u.user_id IS NULL, a.upload_id, u.upload_id) AS upload_id
FROM (
    SELECT
        user_id,
        min(event_time) AS first_seen,
        max(event_time) AS last_seen,
        argMinIf(channel, event_time, channel IS NOT NULL) AS acquisition_channel,
        argMin(upload_id, event_time) AS upload_id
    FROM events
    WHERE user_id IN (SELECT user_id FROM users__pond_write)
    GROUP BY user_id
) AS a
LEFT JOIN users AS u ON u.user_id = a.user_id
LEFT JOIN users__pond_write AS s ON s.user_id = a.user_id
