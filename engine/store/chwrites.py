"""Writes on ClickHouse (issue 22): an import's rows, undo, the dimensions, rollups, derived tables, meta.

ClickHouse has no multi-statement transactions, so each write is a sequence of steps that a later write
can finish or undo (:func:`repair`):

1. the upload's ledger row goes in first, with status ``importing`` (``undoing`` for an undo);
2. the events are one ``INSERT ... SELECT`` from a staging table, skipping stored duplicates;
3. a dimension (users, items) is swapped by key: its new rows are built in ``<t>__pond_merge``, then the
   old rows of those keys are deleted and the new ones inserted. The swap can be run again with the same
   result, so a swap cut short is finished by the next write;
4. the touched days' rollups are deleted and recomputed (also repeatable);
5. rejects, remembered mappings and the audit entry are appended; the ledger row becomes ``imported``
   (``undone``), and ``meta`` (the warehouse version) moves on last, so the dashboard's caches refresh
   once everything is in place.

A reader between the steps sees part of an upload (events without their rollups, say); the next
write repairs what a killed one left: an ``importing`` upload is removed as an undo removes one and
marked ``interrupted``, an ``undoing`` one is undone again. Attributes that an interrupted import had
already merged into known users and items stay merged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

import duckdb
import pandas as pd

from engine.store import clickhouse, warehouse
from engine.store.clickhouse import ClickHouseConnection, duckdb_columns, load_query, query_columns, stage_rows

#: the suffix of an upload's staging tables; a leftover is dropped by :func:`repair`
STAGE = "__pond_write"
#: the infix of a derived table's new rows (``user_tags__pond_derive_<id>``); a leftover is dropped by :func:`repair`
DERIVED = "__pond_derive_"
#: the suffix of a dimension's new rows before they are swapped in; a leftover is swapped in by :func:`repair`
MERGE = "__pond_merge"
#: the key of each dimension swapped by :func:`swap`
DIMENSION_KEYS = {"users": "user_id", "items": "item_id"}
#: what a removed upload may leave without events: table -> the id column events name it by
_UPLOAD_DIMENSIONS = (("items", "item_id"), ("contents", "content_id"), ("communities", "community_id"),
                      ("campaigns", "campaign_id"))


def _q(name: str) -> str:
    return "`" + name.replace("`", "") + "`"


def _qualified(ch: ClickHouseConnection, table: str) -> str:
    """``db.table``: subqueries of a DELETE run as a mutation, without the session's current database."""
    return f"{_q(ch.database)}.{_q(table)}"


tables = clickhouse.table_names


def _count(ch: ClickHouseConnection, sql: str, values: dict | None = None) -> int:
    return int(ch.execute_native(sql, values).df().iloc[0, 0])


# --- small tables ----------------------------------------------------------------------------------

def meta(ch: ClickHouseConnection) -> dict[str, str]:
    frame = ch.execute_native("SELECT key, value FROM meta").df()
    return dict(zip(frame["key"], frame["value"], strict=True))


def bump_data_version(ch: ClickHouseConnection) -> int:
    new = int(meta(ch).get("data_version", "0")) + 1
    ch.set_meta("data_version", str(new))
    return new


def append(duck_con: duckdb.DuckDBPyConnection, ch: ClickHouseConnection, source: str, table: str) -> int:
    """Append the rows of a DuckDB table or query to the ClickHouse table ``table``; returns how many."""
    staging = table + STAGE
    ch.command(f"DROP TABLE IF EXISTS {_q(staging)}")
    rows = stage_rows(duck_con, ch, source, staging, like=table)
    if rows:
        names = ", ".join(_q(c) for c, _, _ in query_columns(duck_con, clickhouse.as_select(source)))
        ch.command(f"INSERT INTO {_q(table)} ({names}) SELECT {names} FROM {_q(staging)}")
    ch.command(f"DROP TABLE {_q(staging)}")
    return rows


@contextmanager
def _typed(table: str, frame: pd.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB whose ``table`` holds ``frame``'s rows (columns by name), typed as Pond's schema
    types them, for :func:`engine.store.clickhouse.stage_rows`."""
    with warehouse.schema_connection() as duck:
        names = {c for c, _, _ in duckdb_columns(duck, table)}
        duck.register("frame", frame[[c for c in frame.columns if c in names]])
        duck.execute(f'insert into "{table}" by name select * from frame')
        duck.unregister("frame")
        yield duck


def replace_table(ch: ClickHouseConnection, table: str, frame: pd.DataFrame) -> int:
    """Replace every row of ``table`` with ``frame``'s: written beside it, then swapped in with
    ``EXCHANGE TABLES``, so a reader sees the old rows or the new."""
    staging = f"{table}{DERIVED}{uuid.uuid4().hex[:12]}"  # its own: derivations of two processes never share one
    with _typed(table, frame) as duck:
        rows = stage_rows(duck, ch, table, staging, like=table)
    ch.command(f"EXCHANGE TABLES {_q(staging)} AND {_q(table)}")
    ch.command(f"DROP TABLE {_q(staging)}")
    return rows


def append_frame(ch: ClickHouseConnection, table: str, frame: pd.DataFrame) -> int:
    """Append ``frame``'s rows to ``table``."""
    with _typed(table, frame) as duck:
        return append(duck, ch, table, table)


def replace_derived(ch: ClickHouseConnection, table: str, frame: pd.DataFrame, version_key: str,
                    version: int | str) -> None:
    """A derived table (interest tags, scores) replaced, then the data version it was derived from noted, under
    the write lock (writers and derivations of every process take turns)."""
    with ch.write_lock():
        replace_table(ch, table, frame)
        ch.set_meta(version_key, str(version))


# --- dimensions ------------------------------------------------------------------------------------

def swap(ch: ClickHouseConnection, table: str) -> int:
    """Put the rows of ``<table>__pond_merge`` in place of ``table``'s rows with the same keys; returns them.
    Running it again after an interruption gives the same table."""
    merge, key = table + MERGE, DIMENSION_KEYS[table]
    rows = _count(ch, f"SELECT count() FROM {_q(merge)}")
    if rows:
        ch.command(f"DELETE FROM {_q(table)} WHERE {key} IN (SELECT {key} FROM {_qualified(ch, merge)})")
        ch.command(f"INSERT INTO {_q(table)} SELECT * FROM {_q(merge)}")
    ch.command(f"DROP TABLE {_q(merge)}")
    return rows


def _merge_table(ch: ClickHouseConnection, table: str) -> str:
    merge = table + MERGE
    ch.command(f"DROP TABLE IF EXISTS {_q(merge)}")
    ch.command(f"CREATE TABLE {_q(merge)} AS {_q(table)} ENGINE = MergeTree ORDER BY {DIMENSION_KEYS[table]}")
    return merge


def merge_items(ch: ClickHouseConnection) -> int:
    """The items of the staged upload (``items__pond_write``): new ones added, known ones keeping what the
    file leaves empty (as on DuckDB, see ingest_update_items.sql)."""
    merge = _merge_table(ch, "items")
    ch.command(f"INSERT INTO {_q(merge)} " + load_query("write_merge_items"))
    return swap(ch, "items")


def merge_users(ch: ClickHouseConnection) -> int:
    """First/last seen and acquisition channel of the users in ``users__pond_write``, from all their events,
    with the attributes that table carries (the latest non-empty value wins); users without events are
    left as they are (see :func:`remove_upload`)."""
    merge = _merge_table(ch, "users")
    ch.command(f"INSERT INTO {_q(merge)} " + load_query("write_merge_users"))
    return swap(ch, "users")


def _stage_touched_users(ch: ClickHouseConnection, plan: str) -> None:
    """``users__pond_write``: the users a removal touches (its plan, see :func:`_removal_plan`), without
    attributes."""
    staging = "users" + STAGE
    ch.command(f"DROP TABLE IF EXISTS {_q(staging)}")
    ch.command(f"CREATE TABLE {_q(staging)} AS users ENGINE = MergeTree ORDER BY user_id")
    ch.command(f"INSERT INTO {_q(staging)} (user_id) SELECT user_id FROM {_q(plan)} WHERE user_id IS NOT NULL")


# --- rollups ---------------------------------------------------------------------------------------

def upload_days(ch: ClickHouseConnection, upload_id: int) -> list[date]:
    days = warehouse.run_query(ch, "upload_days", {"tz": warehouse.business_timezone(ch), "upload_id": upload_id})
    return list(pd.to_datetime(days["day"]).dt.date)


# --- removing an upload (undo, and the repair of an interrupted import) -----------------------------

def _removal_plan(ch: ClickHouseConnection, upload_id: int) -> str:
    """The table ``pond__remove_<id>`` of the business days and users an upload's removal must recompute,
    made before any row is deleted (filled beside, then renamed: it exists whole or not at all), so that a
    removal cut short and run again still knows them once the events are gone."""
    plan = f"pond__remove_{int(upload_id)}"
    if plan in tables(ch):
        return plan
    filling, values = plan + "__filling", {"upload_id": str(int(upload_id))}
    ch.command(f"DROP TABLE IF EXISTS {_q(filling)}")
    ch.command(f"CREATE TABLE {_q(filling)} (day Nullable(Date), user_id Nullable(String)) "
               "ENGINE = MergeTree ORDER BY tuple()")
    days = [d.isoformat() for d in upload_days(ch, upload_id)]
    if days:
        ch.execute_native(f"INSERT INTO {_q(filling)} (day) SELECT arrayJoin(CAST({{days:Array(String)}} AS "
                          "Array(Date)))", {"days": clickhouse.ch_value(days)})
    ch.execute_native(f"INSERT INTO {_q(filling)} (user_id) SELECT DISTINCT user_id FROM events "
                      "WHERE upload_id = {upload_id:Int64}", values)
    ch.command(f"RENAME TABLE {_q(filling)} TO {_q(plan)}")
    return plan


def remove_upload(ch: ClickHouseConnection, upload_id: int, *, rejects: bool = False) -> int:
    """Remove what an upload added, as :func:`engine.ingest.undo_upload` does on DuckDB; returns the events
    and assignments removed. ``rejects``: its rejected rows too. Cut short and run again, it finishes the
    job: the days and users to recompute are kept in its plan (:func:`_removal_plan`) until the end."""
    values = {"upload_id": str(int(upload_id))}
    plan = _removal_plan(ch, upload_id)
    days = list(pd.to_datetime(ch.execute_native(f"SELECT day FROM {_q(plan)} WHERE day IS NOT NULL")
                               .df()["day"]).dt.date)
    _stage_touched_users(ch, plan)
    removed = _count(ch, "SELECT count() FROM events WHERE upload_id = {upload_id:Int64}", values)
    removed += _count(ch, "SELECT count() FROM experiments WHERE upload_id = {upload_id:Int64}", values)
    for table in ("events", "experiments") + (("upload_rejects",) if rejects else ()):
        ch.execute_native(f"DELETE FROM {_q(table)} WHERE upload_id = {{upload_id:Int64}}", values)
    merge_users(ch)
    events, touched = _qualified(ch, "events"), _qualified(ch, "users" + STAGE)
    # users left without events and without attributes of their own; those only this upload brought
    ch.command(f"DELETE FROM users WHERE user_id IN (SELECT user_id FROM {touched}) "
               f"AND user_id NOT IN (SELECT DISTINCT user_id FROM {events} WHERE user_id IN "
               f"(SELECT user_id FROM {touched})) AND gender IS NULL AND age_band IS NULL AND city IS NULL")
    ch.execute_native(f"DELETE FROM users WHERE upload_id = {{upload_id:Int64}} "
                      f"AND user_id NOT IN (SELECT DISTINCT user_id FROM {events})", values)
    for table, column in _UPLOAD_DIMENSIONS:
        ch.execute_native(f"DELETE FROM {_q(table)} WHERE upload_id = {{upload_id:Int64}} AND {column} NOT IN "
                          f"(SELECT DISTINCT {column} FROM {events} WHERE {column} IS NOT NULL)", values)
    users = _qualified(ch, "users")
    for table in ("user_tags", "user_scores"):
        ch.command(f"DELETE FROM {_q(table)} WHERE user_id NOT IN (SELECT user_id FROM {users})")
    warehouse.refresh_rollups(ch, days)
    ch.command(f"DROP TABLE IF EXISTS {_q('users' + STAGE)}")
    ch.command(f"DROP TABLE {_q(plan)}")
    return removed


def mark(ch: ClickHouseConnection, upload_id: int, status: str, **columns: object) -> None:
    """Set an upload's status (and other ledger columns) in place."""
    values = {"upload_id": str(int(upload_id)), "status": status}
    sets = ["status = {status:String}"]
    for name, value in columns.items():
        if value is None:
            sets.append(f"{name} = NULL")
            continue
        kind = {int: "Int64", datetime: "DateTime64(6, 'UTC')"}.get(type(value), "String")
        sets.append(f"{name} = {{{name}:{kind}}}")
        values[name] = value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else str(value)
    ch.execute_native(f"ALTER TABLE uploads UPDATE {', '.join(sets)} WHERE upload_id = {{upload_id:Int64}} "
                      "SETTINGS mutations_sync = 2", values)


def now() -> datetime:
    """The ledger's clock, as engine.ingest writes started_at and undone_at on DuckDB (and in the scratch
    warehouse whose rows come here): the machine's wall time."""
    return datetime.now()


def repair(ch: ClickHouseConnection) -> list[str]:
    """Finish or undo what an interrupted write left; returns what was done, one line each."""
    done = []
    present = tables(ch)
    for table in DIMENSION_KEYS:
        if table + MERGE in present:
            swap(ch, table)
            done.append(f"finished the swap of {table} that an interrupted write had begun")
    for leftover in sorted(n for n in present if n.endswith(STAGE) or DERIVED in n):
        ch.command(f"DROP TABLE IF EXISTS {_q(leftover)}")
    ledger = ch.execute_native("SELECT upload_id, status, file_name FROM uploads "
                               "WHERE status IN ('importing', 'undoing') ORDER BY upload_id").df()
    for upload_id, status, file_name in ledger.itertuples(index=False, name=None):
        if status == "importing":
            removed = remove_upload(ch, int(upload_id), rejects=True)
            mark(ch, int(upload_id), "interrupted", message="the import was interrupted; its rows were removed",
                 rows_imported=0)
            done.append(f"removed upload {upload_id} ({file_name}), an interrupted import ({removed:,} rows)")
        else:
            remove_upload(ch, int(upload_id))
            mark(ch, int(upload_id), "undone", undone_at=now())
            done.append(f"finished the undo of upload {upload_id} ({file_name})")
    if ledger.shape[0] or done:
        bump_data_version(ch)
    return done


# --- an import: the scratch DuckDB's upload, written to ClickHouse ----------------------------------

#: what a scratch import needs of the ClickHouse warehouse: its metadata (time zone, pseudonym key,
#: version), ledger (file fingerprints, the next upload id) and remembered mappings
SEEDED = ("meta", "uploads", "mappings")


def seed(scratch: duckdb.DuckDBPyConnection, ch: ClickHouseConnection) -> None:
    """Fill an empty scratch warehouse with what an import reads besides the events."""
    for table in SEEDED:
        frame = ch.execute_native(f"SELECT * FROM {_q(table)}").df()
        scratch.execute(f'delete from "{table}"')
        if len(frame):
            scratch.register("seeded", frame)
            scratch.execute(f'insert into "{table}" by name select * from seeded')
            scratch.unregister("seeded")


def write_upload(scratch: duckdb.DuckDBPyConnection, ch: ClickHouseConnection, upload_id: int, *,
                 natural_ids: bool) -> tuple[int, datetime | None, datetime | None]:
    """Write the upload ``upload_id`` that a scratch warehouse (:func:`seed`, then imported into) holds to
    ClickHouse, skipping events stored there already; returns the rows skipped so (stored already), and
    the first and last time of the events added."""
    append(scratch, ch, f"select * replace ('importing' as status) from uploads where upload_id = {int(upload_id)}",
           "uploads")
    # the first import's time zone (the rollups' calendar) and a new pseudonym key's fingerprint; the
    # version moves on last
    _ship_meta(scratch, ch, besides=("data_version",))
    assignments = scratch.execute("select count(*) from experiments").fetchone()[0]
    if assignments:
        added = _write_assignments(scratch, ch)
        candidates = assignments
    else:
        candidates, added = _write_events(scratch, ch, upload_id, natural_ids=natural_ids)
        for table, merge in (("items", merge_items), ("users", merge_users)):
            ch.command(f"DROP TABLE IF EXISTS {_q(table + STAGE)}")
            stage_rows(scratch, ch, table, table + STAGE, like=table)
            merge(ch)
            ch.command(f"DROP TABLE {_q(table + STAGE)}")
        warehouse.refresh_rollups(ch, upload_days(ch, upload_id))
    append(scratch, ch, "upload_rejects", "upload_rejects")
    remembered = scratch.execute("select signature from mappings where upload_id = ?", [upload_id]).fetchall()
    if remembered:  # the new mapping in first, then the one it replaces out: a cut leaves one of them
        append(scratch, ch, f"select * from mappings where upload_id = {int(upload_id)}", "mappings")
    for (signature,) in remembered:
        ch.execute_native("DELETE FROM mappings WHERE signature = {signature:String} "
                          "AND (upload_id IS NULL OR upload_id != {upload_id:Int64})",
                          {"signature": signature, "upload_id": str(int(upload_id))})
    skipped = candidates - added
    scratch.execute("update audit set rows = rows - ? where action = 'import' and rows is not null", [skipped])
    append(scratch, ch, "audit", "audit")
    row = scratch.execute("select rows_imported, rows_duplicate from uploads where upload_id = ?",
                          [upload_id]).fetchone()
    first, last = ch.execute("select min(event_time), max(event_time) from events where upload_id = ?",
                             [upload_id]).fetchone()
    # the version first: a cut between the two leaves the upload `importing`, which the next write removes
    # (and moves the version on again), never an `imported` upload that caches and tags do not see
    _ship_meta(scratch, ch, ("data_version",))
    mark(ch, upload_id, "imported", rows_imported=int(row[0]) - skipped, rows_duplicate=int(row[1]) + skipped,
         first_event=first, last_event=last, finished_at=now())
    return skipped, first, last


def _ship_meta(scratch: duckdb.DuckDBPyConnection, ch: ClickHouseConnection, keys: Sequence[str] | None = None,
               *, besides: Sequence[str] = ()) -> None:
    """Copy the scratch warehouse's metadata values that changed (``keys``, else all but ``besides``)."""
    stored = meta(ch)
    for key, value in scratch.execute("select key, value from meta order by key").fetchall():
        if (key in keys if keys is not None else key not in besides) and stored.get(key) != value:
            ch.set_meta(key, value)


def _write_events(scratch: duckdb.DuckDBPyConnection, ch: ClickHouseConnection, upload_id: int, *,
                  natural_ids: bool) -> tuple[int, int]:
    staging = "events" + STAGE
    ch.command(f"DROP TABLE IF EXISTS {_q(staging)}")
    base = _count(ch, "SELECT coalesce(max(rowid), -1) + 1 FROM events")
    candidates = stage_rows(scratch, ch, "events", staging, like="events", rowid=True, rowid_base=base)
    names = ", ".join(_q(c) for c, _, _ in duckdb_columns(scratch, "events")) + ", `rowid`"
    # a natural id holds the event time: a stored copy lies within the file's time range
    stored = "SELECT event_id FROM events"
    if natural_ids:
        stored += (f" WHERE event_time BETWEEN (SELECT min(event_time) FROM {_q(staging)}) "
                   f"AND (SELECT max(event_time) FROM {_q(staging)})")
    ch.command(f"INSERT INTO events ({names}) SELECT {names} FROM {_q(staging)} "
               f"WHERE event_id NOT IN ({stored}) SETTINGS insert_allow_materialized_columns = 1")
    ch.command(f"DROP TABLE {_q(staging)}")
    added = _count(ch, "SELECT count() FROM events WHERE upload_id = {upload_id:Int64}",
                   {"upload_id": str(int(upload_id))})
    return candidates, added


def _write_assignments(scratch: duckdb.DuckDBPyConnection, ch: ClickHouseConnection) -> int:
    """Assignments of users not yet assigned to that experiment (an assignment is never changed)."""
    staging = "experiments" + STAGE
    ch.command(f"DROP TABLE IF EXISTS {_q(staging)}")
    stage_rows(scratch, ch, "experiments", staging, like="experiments")
    before = _count(ch, "SELECT count() FROM experiments")
    ch.command(f"INSERT INTO experiments SELECT * FROM {_q(staging)} WHERE (experiment, user_id) "
               "NOT IN (SELECT experiment, user_id FROM experiments)")
    ch.command(f"DROP TABLE {_q(staging)}")
    return _count(ch, "SELECT count() FROM experiments") - before


def replace_demo(ch: ClickHouseConnection, demo_id: int, demo_tables: Sequence[str]) -> None:
    """Empty what the demo filled (the first real import starts clean), as on DuckDB."""
    for table in demo_tables:
        ch.command(f"TRUNCATE TABLE IF EXISTS {_q(table)}")
    ch.set_meta("business_timezone", "UTC")
    mark(ch, demo_id, "undone", undone_at=now(), message="replaced by the first import")
