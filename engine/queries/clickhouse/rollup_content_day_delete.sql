-- The rows of the touched days ($days), before they are computed again (a lightweight delete: the
-- temp table touched_days that the DuckDB query reads is not visible to a mutation).
DELETE FROM content_day WHERE has(CAST($days AS Array(Date)), day)
