"""Import exports into the warehouse: detect, map, validate, deduplicate, record, undo.

Typical use::

    sample, plan = inspect_file("UserBehavior.csv", timezone="Asia/Shanghai")
    with warehouse.connect() as con:
        result = import_file(con, "UserBehavior.csv", plan=plan)

An import is one transaction: a refused file, an error or a killed process leaves the warehouse
exactly as it was. Re-importing a file already imported adds nothing (its SHA-256 is in the
ledger), and rows already present (same source id, or same natural key) are counted as duplicates.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from engine.admin import audit
from engine.customers.tags import refresh_after_write
from engine.errors import ImportFormatError, PondError
from engine.ingest.formats import (
    FORMAT_NAMES,
    ImportPlan,
    detect_conversion_time_format,
    detect_plan,
    detect_time_format,
)
from engine.ingest.load import Source, open_source, unpack_raw
from engine.ingest.personal import (
    PSEUDONYM_PATTERN,
    key_for,
    key_path,
    mask_personal_text,
    pseudonym_key,
    remember_key,
)
from engine.ingest.remembered import apply_remembered, forget_mapping, list_mappings, remember
from engine.ingest.sniff import FileSample, check_size, sniff_file
from engine.ingest.transform import build_assignments, build_canonical, build_event_rows, sample_time_range
from engine.store import backend
from engine.store.warehouse import (
    EVENT_TYPES,
    ROLLUPS,
    bind_named,
    business_timezone,
    check_timezone,
    execute_query,
    load_query,
    refresh_rollups,
    refresh_user_activity,
    run_query,
    schema_connection,
    write_transaction,
)

__all__ = ["FORMAT_NAMES", "ImportPlan", "ImportResult", "UndoResult", "demo_only", "describe_time_range",
           "forget_mapping",
           "import_file", "inspect_file", "list_mappings",
           "list_uploads", "rejected_rows", "undo_upload"]

Progress = Callable[[float, str], None]


@dataclass
class ImportResult:
    """What one import did; ``status`` is ``imported`` or ``already_imported``."""

    file_name: str
    status: str
    format: str
    sha256: str
    upload_id: int | None = None
    rows_read: int = 0
    rows_imported: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    first_event: datetime | None = None
    last_event: datetime | None = None
    notes: list[str] = field(default_factory=list)
    #: person ids (user and referrer cells) of the file's good rows stored as pseudonyms
    values_pseudonymised: int = 0

    @property
    def summary(self) -> str:
        if self.status == "already_imported":
            return f"{self.file_name}: already imported as upload {self.upload_id}; nothing added"
        return (f"{self.file_name}: upload {self.upload_id} ({self.format}): read {self.rows_read:,}, "
                f"imported {self.rows_imported:,}, rejected {self.rows_rejected:,}, "
                f"duplicates skipped {self.rows_duplicate:,}")


@dataclass
class UndoResult:
    upload_id: int
    file_name: str
    rows_removed: int


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inspect_file(path: str | Path, *, name: str | None = None, format: str = "auto",
                 timezone: str | None = None, con: duckdb.DuckDBPyConnection | None = None
                 ) -> tuple[FileSample, ImportPlan]:
    """Sniff a file and detect its import plan, without changing the warehouse.

    With ``con``, a mapping remembered for files with the same header is applied (its note says
    from which upload); see :mod:`engine.ingest.remembered`.
    """
    sample = sniff_file(path, name=name)
    plan = detect_plan(sample, format=format, timezone=timezone)
    if con is not None and format == "auto":
        apply_remembered(con, plan)
    describe_time_range(sample, plan)
    return sample, plan


def describe_time_range(sample: FileSample, plan: ImportPlan) -> None:
    """Set ``plan.time_range`` from the sample (again after the mapping or the zone changed), detecting
    the format of a time column mapped since detection first."""
    if plan.source("event_time") and plan.time_kind == "text" and not plan.time_patterns:
        column = plan.source("event_time")[0]
        if column in sample.rows:
            detect_time_format(plan, sample.rows[column], None)
    if plan.source("conversion_time") and plan.conversion_time_kind == "text" and not plan.conversion_time_patterns:
        column = plan.source("conversion_time")[0]
        if column in sample.rows:
            detect_conversion_time_format(plan, sample.rows[column], None)
    column = plan.source("event_time")
    values = sample.rows[column[0]].tolist() if column and column[0] in sample.rows else []
    plan.time_range = sample_time_range(plan, values, complete=sample.complete)


def _noop(fraction: float, message: str) -> None:
    return None


def demo_only(con: duckdb.DuckDBPyConnection) -> int | None:
    """The demo's upload id when the warehouse holds the demo and nothing imported beside it."""
    rows = con.execute("select upload_id, format from uploads where status = 'imported'").fetchall()
    return rows[0][0] if len(rows) == 1 and rows[0][1] == "demo" else None


#: every table a demo build fills, and what is derived from it
_DEMO_TABLES = ("events", "users", "items", "contents", "communities", "campaigns", "experiments", "user_tags",
                "user_scores", *ROLLUPS)


def _replace_demo(con: duckdb.DuckDBPyConnection, demo_id: int) -> None:
    """Remove the demo's data (inside the import's transaction): the first real import starts clean."""
    for table in _DEMO_TABLES:
        con.execute(f"delete from {table}")
    con.execute("update meta set value = 'UTC' where key = 'business_timezone'")
    con.execute("update uploads set status = 'undone', undone_at = ?, message = 'replaced by the first import' "
                "where upload_id = ?", [datetime.now(), demo_id])


def import_file(con: duckdb.DuckDBPyConnection, path: str | Path, *, plan: ImportPlan | None = None,
                name: str | None = None, format: str = "auto", timezone: str | None = None,
                imported_by: str | None = None, progress: Progress | None = None,
                derive: bool = True, demo: str = "add", actor: str | None = None,
                stored_events: bool | None = None) -> ImportResult:
    """Import one file as one upload, in one transaction (on ClickHouse, in steps: see
    :mod:`engine.store.chwrites`).

    Parameters
    ----------
    plan
        The (possibly user-edited) plan from :func:`inspect_file`; detected when omitted.
    name
        File name to record (the Upload page passes the browser's file name).
    timezone
        IANA zone of naive source times; when the warehouse is still empty it also becomes the
        warehouse's business time zone (the calendar of day-level charts).
    demo
        When the warehouse holds only the demo: ``replace`` it (what the command line and the Upload
        page do unless told otherwise: a first real import must not mix with generated data) or
        ``add`` to it (the default here, for scripts and benchmarks that import into a demo).
    actor
        Who the audit trail names (the command line's ``cli:<user>``); ``imported_by`` when omitted.
    derive
        Re-derive what is kept per data version (interest tags) before returning. The dashboard
        passes false and derives in the background, so that an upload returns seconds earlier;
        whoever reads the tags first waits for that derivation or makes it.
    stored_events
        Whether the warehouse holds events, when ``con`` is a scratch warehouse that holds none of them
        (an import into ClickHouse): the first import sets the business time zone.

    Raises
    ------
    ImportFormatError
        The file as a whole cannot be imported; the warehouse is unchanged.
    """
    path = Path(path)
    label = name or path.name
    progress = progress or _noop
    if backend.dialect(con) == "clickhouse":
        return _import_into_clickhouse(con, path, plan=plan, label=label, format=format, timezone=timezone,
                                       imported_by=imported_by, progress=progress, derive=derive, demo=demo,
                                       actor=actor)
    progress(0.02, f"Reading {label}")
    if timezone:
        check_timezone(con, timezone)
    detected = None
    if plan is None:
        _, plan = inspect_file(path, name=label, format=format, timezone=timezone, con=con)
    else:
        if timezone:
            plan.timezone = timezone
        if path.exists() and not plan.is_assignments and plan.has_header:
            # what detection proposes, to tell whether the operator chose another mapping to remember
            detected = detect_plan(sniff_file(path, name=label), timezone=timezone)
    plan.check(label)
    if not path.exists():
        raise ImportFormatError(f"{label}: no such file")
    check_size(path, label)  # also when the plan came from an earlier inspection
    sha = file_sha256(path)
    previous = con.execute(
        "select upload_id from uploads where sha256 = ? and status = 'imported' order by upload_id limit 1",
        [sha],
    ).fetchone()
    who = imported_by or getpass.getuser()
    if previous:
        audit.record(con, actor or who, "import", f"{label}: already imported as upload {previous[0]}; nothing added",
                     rows=0)
        return ImportResult(label, "already_imported", plan.format, sha, upload_id=previous[0])

    if demo not in ("replace", "add"):
        raise PondError(f"demo={demo!r}: use replace or add")
    started = datetime.now()
    try:
        with write_transaction(con):
            # an assignment file assigns users already there: it never replaces the demo's
            demo_id = demo_only(con) if demo == "replace" and not plan.is_assignments else None
            if demo_id is not None:
                _replace_demo(con, demo_id)
            result = _import_in_transaction(con, path, plan, label, sha, started, who, progress, stored_events)
            if demo_id is not None:
                result.notes.insert(0, f"Replaced the demo data (upload {demo_id}): the warehouse now holds only "
                                       "imported data")
            if detected is not None and remember(con, plan, detected, result.upload_id, imported_by):
                result.notes.append("Mapping remembered for files with these columns: the next one is "
                                    "imported the same way")
            # in the import's own transaction: an import that committed has its entry, even if killed next
            audit.record(con, actor or who, "import", f"{label}: upload {result.upload_id}", rows=result.rows_imported,
                         flush=False)
    finally:
        _drop_temporaries(con)
    if derive:
        progress(0.95, "Updating interest tags")
        refresh_after_write(con)
    progress(1.0, result.summary)
    return result


def _import_into_clickhouse(ch, path: Path, *, plan: ImportPlan | None, label: str, format: str,
                            timezone: str | None, imported_by: str | None, progress: Progress, derive: bool,
                            demo: str, actor: str | None) -> ImportResult:
    """An import into ClickHouse: the file read, checked, mapped and deduplicated by the same importer, in a
    scratch DuckDB warehouse that holds the ClickHouse warehouse's metadata, ledger and remembered mappings;
    its upload is then written to ClickHouse, skipping events stored there already
    (:func:`engine.store.chwrites.write_upload`). A refused file leaves ClickHouse as it was."""
    with ch.write_lock():  # the ledger's next upload id and the stored events stay the same until it ends
        return _import_locked(ch, path, plan=plan, label=label, format=format, timezone=timezone,
                              imported_by=imported_by, progress=progress, derive=derive, demo=demo, actor=actor)


def _import_locked(ch, path: Path, *, plan: ImportPlan | None, label: str, format: str, timezone: str | None,
                   imported_by: str | None, progress: Progress, derive: bool, demo: str, actor: str | None
                   ) -> ImportResult:
    from engine.store import chwrites

    repaired = chwrites.repair(ch)
    with schema_connection() as scratch, key_for(key_path(ch)):
        chwrites.seed(scratch, ch)
        if plan is None:
            _, plan = inspect_file(path, name=label, format=format, timezone=timezone, con=scratch)
        demo_id = demo_only(ch) if demo == "replace" and not plan.is_assignments else None
        if demo_id is not None:  # as the DuckDB import's transaction does before it adds the rows
            scratch.execute("update meta set value = 'UTC' where key = 'business_timezone'")
            scratch.execute("update uploads set status = 'undone' where upload_id = ?", [demo_id])
        stored = demo_id is None and bool(ch.execute("select count(*) from (select 1 from events limit 1)")
                                          .fetchone()[0])
        result = import_file(scratch, path, plan=plan, name=label, timezone=timezone, imported_by=imported_by,
                             progress=lambda f, m: progress(0.7 * f, m), derive=False, demo="add", actor=actor,
                             stored_events=stored)
        if result.status == "already_imported":
            chwrites.append(scratch, ch, "audit", "audit")
            return result
        progress(0.75, "Writing the upload to ClickHouse")
        if demo_id is not None:
            chwrites.replace_demo(ch, demo_id, _DEMO_TABLES)
            result.notes.insert(0, f"Replaced the demo data (upload {demo_id}): the warehouse now holds only "
                                   "imported data")
        skipped, first, last = chwrites.write_upload(scratch, ch, result.upload_id,
                                                     natural_ids=not plan.source("event_id"))
    if not plan.is_assignments:
        result.first_event, result.last_event = first, last
    result.rows_imported -= skipped
    result.rows_duplicate += skipped
    result.notes.extend(f"Repaired first: {line}" for line in repaired)
    if derive:
        progress(0.95, "Updating interest tags")
        refresh_after_write(ch)
    progress(1.0, result.summary)
    return result


def _import_in_transaction(con, path, plan, label, sha, started, who, progress, stored_events=None) -> ImportResult:
    if plan.is_assignments:
        return _import_assignments(con, path, plan, label, sha, started, who, progress)
    was_empty = con.execute("select count(*) = 0 from (select 1 from events limit 1)").fetchone()[0] \
        if stored_events is None else not stored_events
    # any row may hold a phone number or an e-mail, so the key is needed unless the operator keeps them
    key = None if plan.keep_personal else pseudonym_key(con)
    with open_source(con, path, plan, label) as source:
        _detect_time_again(con, plan, source)
        progress(0.1, "Reading and checking rows")
        build_canonical(con, plan, source, key=key)
    hint = "check the column mapping (--map FIELD=COLUMN), the time column's format and its zone (--tz)"
    rows_read, rejected, good, reasons = _checked_rows(con, "canon", label, hint=hint)
    build_event_rows(con, plan)
    conversions = con.execute("select count(*) from canon_events").fetchone()[0] - good
    upload_id = _next_upload_id(con)
    progress(0.55, "Adding new events")
    imported = _insert_events(con, plan, upload_id)
    _record_rejects(con, "canon", upload_id, key)
    progress(0.7, "Updating items and users")
    for name in ("ingest_upsert_items", "ingest_update_items", "ingest_insert_items"):
        execute_query(con, name, {"upload_id": upload_id})
    con.execute("create or replace temp table touched_users as "
                "select distinct user_id from events where upload_id = ?", [upload_id])
    refresh_user_activity(con)
    for name in ("ingest_upsert_user_attributes", "ingest_update_user_attributes"):
        execute_query(con, name)
    notes = list(plan.notes)
    pseudonymised = _count_pseudonymised(con, plan) if key is not None else (0, 0)
    if pseudonymised[0]:
        remember_key(con, key)
        notes.append(f"{pseudonymised[0]:,} personal ids (phone numbers, e-mails, WeChat or ID card numbers) in "
                     f"{pseudonymised[1]:,} rows were pseudonymised with the warehouse's key; keep the key with "
                     "the backups")
    if conversions:
        notes.append(f"{conversions:,} rows with a set conversion flag also became "
                     f"{plan.conversion_event_type or 'purchase'} events")
    if was_empty and plan.timezone and business_timezone(con) != plan.timezone:
        con.execute("update meta set value = ? where key = 'business_timezone'", [plan.timezone])
        notes.append(f"Business time zone set to {plan.timezone} (day boundaries of charts)")
    progress(0.8, "Refreshing rollups")
    days = run_query(con, "upload_days", {"tz": business_timezone(con), "upload_id": upload_id})
    refresh_rollups(con, list(days["day"].dt.date) if len(days) else [])
    first, last = con.execute("select min(event_time), max(event_time) from events where upload_id = ?",
                              [upload_id]).fetchone()
    others = con.execute(
        "select list(distinct event_type order by event_type) from events "
        "where upload_id = ? and event_type not in (select unnest(?))",
        [upload_id, list(EVENT_TYPES)],
    ).fetchone()[0]
    if others:
        notes.append("Kept event types outside the standard vocabulary: " + ", ".join(others))
    result = ImportResult(
        file_name=label, status="imported", format=plan.format, sha256=sha, upload_id=upload_id,
        rows_read=rows_read, rows_imported=imported, rows_rejected=rejected,
        rows_duplicate=good + conversions - imported, reject_reasons=reasons, first_event=first, last_event=last,
        notes=notes, values_pseudonymised=pseudonymised[0],
    )
    _record_upload(con, result, plan, who, started)
    return result


def _import_assignments(con, path, plan, label, sha, started, who, progress) -> ImportResult:
    """Experiment assignment files fill the experiments table, with the same ledger, rejects and undo."""
    with open_source(con, path, plan, label) as source:
        _detect_time_again(con, plan, source)
        progress(0.3, "Checking assignments")
        build_assignments(con, plan, source)
    rows_read, rejected, good, reasons = _checked_rows(con, "canon_assignments", label,
                                                       hint="check the user, experiment and variant columns")
    upload_id = _next_upload_id(con)
    imported = _counted_insert(con, "experiments", load_query("ingest_insert_assignments"), {"upload_id": upload_id})
    _record_rejects(con, "canon_assignments", upload_id)
    result = ImportResult(file_name=label, status="imported", format=plan.format, sha256=sha, upload_id=upload_id,
                          rows_read=rows_read, rows_imported=imported, rows_rejected=rejected,
                          rows_duplicate=good - imported, reject_reasons=reasons, notes=list(plan.notes))
    _record_upload(con, result, plan, who, started)
    return result


# The steps every kind of import shares. Table names passed here are our own constants
# ("canon", "canon_assignments", "events", "experiments"), never user text.

_TEMPORARY_VIEWS = ("canon_events", "canon", "canon_assignments")
_TEMPORARY_TABLES = ("stage", "stage_rejects", "canon_rows", "canon_assignments_rows", "vocabulary",
                     "touched_users", "seen_items", "seen_user_attributes")


def _drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    for view in _TEMPORARY_VIEWS:
        con.execute(f"drop view if exists {view}")
    for table in _TEMPORARY_TABLES:
        con.execute(f"drop table if exists {table}")


def _detect_time_again(con: duckdb.DuckDBPyConnection, plan: ImportPlan, source: Source) -> None:
    """Detect the time format from the file when the mapping changed after detection."""
    if plan.source("event_time") and plan.time_kind == "text" and not plan.time_patterns:
        column = plan.columns.index(plan.source("event_time")[0])
        values = con.execute(f"select c{column} from {source.relation} where c{column} is not null limit 500",
                             source.params).df()
        detect_time_format(plan, values.iloc[:, 0], con)
    if plan.source("conversion_time") and plan.conversion_time_kind == "text" and not plan.conversion_time_patterns:
        column = plan.columns.index(plan.source("conversion_time")[0])
        values = con.execute(f"select c{column} from {source.relation} where c{column} is not null limit 500",
                             source.params).df()
        detect_conversion_time_format(plan, values.iloc[:, 0], con)


def _count_pseudonymised(con: duckdb.DuckDBPyConnection, plan: ImportPlan) -> tuple[int, int]:
    """Person ids of the good rows stored as pseudonyms, and the rows that hold one."""
    cells = [f"regexp_full_match({c}, $pattern)" for c in ("user_id", "referrer_id") if plan.source(c)]
    if not cells:
        return 0, 0
    ids = " + ".join(f"coalesce({c}, false)::int" for c in cells)
    row = con.execute(f"select coalesce(sum({ids}), 0), count(*) filter (where {ids} > 0) from canon "
                      "where reason is null", {"pattern": PSEUDONYM_PATTERN}).fetchone()
    return int(row[0]), int(row[1])


def _insert_events(con: duckdb.DuckDBPyConnection, plan: ImportPlan, upload_id: int) -> int:
    """Insert the new good rows of ``canon``; returns how many were added.

    The two duplicate checks cost a pass each only when they can find something: the in-file one
    (first copy by row) only when an id occurs twice in the file, and the one against stored events
    only over the stored events in the file's time range when every id is a natural key (which
    contains the event time, so a stored copy has the same time).
    """
    repeats, first, last = con.execute(
        "select count(*) - count(distinct event_id), min(event_time), max(event_time) from canon_events"
    ).fetchone()
    natural = not plan.source("event_id")
    sql = load_query("ingest_insert_events").format(
        first_copies="qualify row_number() over (partition by event_id order by _row) = 1" if repeats else "",
        stored="where event_time between $first and $last" if natural else "",
    )
    return _counted_insert(con, "events", sql, {"upload_id": upload_id, "first": first, "last": last})


def _checked_rows(con: duckdb.DuckDBPyConnection, canon: str, label: str, *, hint: str
                  ) -> tuple[int, int, int, dict[str, int]]:
    """Rows read, rejected and good, and reject counts by reason; refuses a file with nothing to import."""
    parse_rejects = con.execute("select count(*) from stage_rejects").fetchone()[0]
    staged, good = con.execute(
        f"select count(*), count(*) filter (where reason is null) from {canon}").fetchone()
    rows_read = staged + parse_rejects
    if rows_read == 0:
        raise ImportFormatError(f"{label}: the file has a header but no rows")
    reasons = _reject_reasons(con, canon)
    if good == 0:
        top = "; ".join(f"{n:,} × {r}" for r, n in list(reasons.items())[:3])
        raise ImportFormatError(f"{label}: none of the {rows_read:,} rows can be imported ({top}); {hint}")
    return rows_read, staged - good + parse_rejects, good, reasons


def _reject_reasons(con: duckdb.DuckDBPyConnection, canon: str) -> dict[str, int]:
    """Reject counts by reason, with quoted values folded so that reasons group."""
    rows = con.execute(
        f"""select regexp_replace(reason, ' ''.*''$| \\d{{4}}-\\d{{2}}-\\d{{2}} \\(.*| -?[\\d.]+ on .*|: .*$', '')
                  as kind, count(*) as n
        from (select reason from {canon} where reason is not null
              union all select reason from stage_rejects)
        group by kind order by n desc, kind"""
    ).fetchall()
    return dict(rows)


def _next_upload_id(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select coalesce(max(upload_id), 0) + 1 from uploads").fetchone()[0]


def _counted_insert(con: duckdb.DuckDBPyConnection, table: str, sql: str, params: dict[str, object]) -> int:
    """Run an insert statement and return how many rows it added to ``table``."""
    before = con.execute(f"select count(*) from {table}").fetchone()[0]
    con.execute(sql, bind_named(sql, params))
    return con.execute(f"select count(*) from {table}").fetchone()[0] - before


def _record_rejects(con: duckdb.DuckDBPyConnection, canon: str, upload_id: int, key: str | None = None) -> None:
    """Keep the rejected rows with their reasons and original cells; with a pseudonym ``key``, personal
    values in those cells are stored as their pseudonyms, as the imported ids are."""
    # the original cells were packed for rejected rows only, when the rows were checked
    con.execute(
        f"insert into upload_rejects select ?, _row, reason, raw from {canon} where reason is not null "
        "union all select ?, row_number, reason, raw from stage_rejects",
        [upload_id, upload_id],
    )
    if key is None:
        return
    rows = con.execute("select rowid, raw from upload_rejects where upload_id = ? and raw is not null",
                       [upload_id]).fetchall()
    masked = [(mask_personal_text(raw, key), rowid) for rowid, raw in rows]
    changed = pd.DataFrame([(rowid, text) for (text, rowid), (_, raw) in zip(masked, rows, strict=True)
                            if text != raw], columns=["rid", "raw"])
    if not changed.empty:
        con.register("masked_rejects", changed)
        try:
            con.execute("update upload_rejects set raw = m.raw from masked_rejects as m "
                        "where upload_rejects.rowid = m.rid")
        finally:
            con.unregister("masked_rejects")


def _record_upload(con: duckdb.DuckDBPyConnection, result: ImportResult, plan: ImportPlan, who: str,
                   started: datetime) -> None:
    con.execute(
        """insert into uploads (upload_id, file_name, sha256, format, encoding, timezone, rows_read,
            rows_imported, rows_rejected, rows_duplicate, first_event, last_event, imported_by,
            started_at, finished_at, status, message, mapping)
        values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'imported', ?, ?)""",
        [result.upload_id, result.file_name, result.sha256, plan.format, plan.encoding, plan.timezone,
         result.rows_read, result.rows_imported, result.rows_rejected, result.rows_duplicate,
         result.first_event, result.last_event, who, started, datetime.now(), "; ".join(result.notes),
         json.dumps(plan.to_dict(), ensure_ascii=False)],
    )


def undo_upload(con: duckdb.DuckDBPyConnection, upload_id: int, *, derive: bool = True,
                undone_by: str | None = None) -> UndoResult:
    """Remove the events an upload added and mark it undone (one transaction).

    Events that a later upload skipped as duplicates of this one's are removed with it. ``derive``
    as for :func:`import_file`: the dashboard passes false and derives the tags in the background.
    """
    if backend.dialect(con) == "clickhouse":
        with con.write_lock():
            return _undo_locked(con, upload_id, derive=derive, undone_by=undone_by)
    return _undo_locked(con, upload_id, derive=derive, undone_by=undone_by)


def _undo_locked(con: duckdb.DuckDBPyConnection, upload_id: int, *, derive: bool, undone_by: str | None
                 ) -> UndoResult:
    if backend.dialect(con) == "clickhouse":
        from engine.store import chwrites

        chwrites.repair(con)
    row = con.execute("select file_name, status, undone_at from uploads where upload_id = ?",
                      [upload_id]).fetchone()
    if row is None:
        raise PondError(f"there is no upload {upload_id}; `python -m engine uploads` lists them")
    file_name, status, undone_at = row
    if status == "undone":
        raise PondError(f"upload {upload_id} ({file_name}) was already undone on {undone_at:%Y-%m-%d %H:%M}")
    if status != "imported":
        raise PondError(f"upload {upload_id} ({file_name}) is {status}: it holds no rows to undo")
    if backend.dialect(con) == "clickhouse":
        return _undo_on_clickhouse(con, upload_id, file_name, derive=derive, undone_by=undone_by)
    try:
        with write_transaction(con):
            removed = _undo_in_transaction(con, upload_id)
            audit.record(con, undone_by or getpass.getuser(), "undo", f"upload {upload_id} ({file_name})",
                         rows=removed, flush=False)
    finally:
        con.execute("drop table if exists touched_users")
    if derive:
        refresh_after_write(con)
    return UndoResult(upload_id, file_name, removed)


def _undo_on_clickhouse(ch, upload_id: int, file_name: str, *, derive: bool, undone_by: str | None) -> UndoResult:
    """An undo on ClickHouse, in steps that the next write finishes if this one is cut short
    (:mod:`engine.store.chwrites`)."""
    from engine.store import chwrites

    chwrites.mark(ch, upload_id, "undoing")
    removed = chwrites.remove_upload(ch, upload_id)
    chwrites.bump_data_version(ch)  # before the ledger says undone: a cut in between is finished by repair
    audit.record(ch, undone_by or getpass.getuser(), "undo", f"upload {upload_id} ({file_name})", rows=removed)
    chwrites.mark(ch, upload_id, "undone", undone_at=chwrites.now())
    if derive:
        refresh_after_write(ch)
    return UndoResult(upload_id, file_name, removed)


def _undo_in_transaction(con: duckdb.DuckDBPyConnection, upload_id: int) -> int:
    days = run_query(con, "upload_days", {"tz": business_timezone(con), "upload_id": upload_id})
    con.execute("create or replace temp table touched_users as "
                "select distinct user_id from events where upload_id = ?", [upload_id])
    removed = con.execute("select count(*) from events where upload_id = ?", [upload_id]).fetchone()[0]
    removed += con.execute("select count(*) from experiments where upload_id = ?", [upload_id]).fetchone()[0]
    con.execute("delete from events where upload_id = ?", [upload_id])
    con.execute("delete from experiments where upload_id = ?", [upload_id])
    refresh_user_activity(con)
    execute_query(con, "users_drop_vanished")
    # what only this upload brought goes with it: its users left without events (with their
    # attributes: a demo's users have some), items, contents, communities and campaigns no other
    # upload's events name, and the tags and scores derived for users that are gone
    con.execute("delete from users where upload_id = ? and user_id not in "
                "(select distinct user_id from events)", [upload_id])
    for table, column in (("items", "item_id"), ("contents", "content_id"), ("communities", "community_id"),
                          ("campaigns", "campaign_id")):
        con.execute(f"delete from {table} where upload_id = ? and {column} not in "
                    f"(select distinct {column} from events where {column} is not null)", [upload_id])
    for table in ("user_tags", "user_scores"):
        con.execute(f"delete from {table} where user_id not in (select user_id from users)")
    refresh_rollups(con, list(days["day"].dt.date) if len(days) else [])
    con.execute("update uploads set status = 'undone', undone_at = ? where upload_id = ?",
                [datetime.now(), upload_id])
    return removed


def list_uploads(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The upload ledger, newest first."""
    return run_query(con, "uploads_list")


def rejected_rows(con: duckdb.DuckDBPyConnection, upload_id: int) -> pd.DataFrame:
    """An upload's rejected rows: row number, reason, and the row's original cells by column."""
    row = con.execute("select mapping from uploads where upload_id = ?", [upload_id]).fetchone()
    if row is None:
        raise PondError(f"there is no upload {upload_id}")
    columns = json.loads(row[0])["columns"] if row[0] else []
    rejects = con.execute("select row_number, reason, raw from upload_rejects where upload_id = ? "
                          "order by row_number", [upload_id]).fetchall()
    records = [{"row": n, "reason": reason, **unpack_raw(raw, columns)} for n, reason, raw in rejects]
    return pd.DataFrame(records, columns=["row", "reason", *columns] if not records else None)
