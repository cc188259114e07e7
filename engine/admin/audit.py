"""The audit trail: who did what, when, to how many rows; kept in the warehouse.

Entries are appended outside the data version (an export must not invalidate every cached
chart) and survive a restore from backup (see :mod:`engine.admin.backup`). Times are UTC.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from engine.store import backend
from engine.store.warehouse import run_query

ACTIONS = ("sign_in", "sign_in_failed", "sign_out", "import", "undo", "segment_save", "segment_delete", "export",
           "backup", "restore", "user_add", "user_role", "user_remove", "train", "sign_in_throttled",
           "rejects", "denied", "busy")
#: How far back failed sign-ins in the trail still slow a name down (after a restart, or from another
#: dashboard process: the server's own throttle, engine.admin.access.SignInThrottle, is in memory)
FAILURE_MEMORY = timedelta(hours=1)


def record(con: duckdb.DuckDBPyConnection, actor: str, action: str, detail: str = "", *, rows: int | None = None,
           ok: bool = True, flush: bool = True) -> None:
    """Append one entry, first (unless ``flush`` is false: inside a write's own transaction, which may
    still roll back) the entries deferred while the warehouse was busy, see :func:`defer`."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if flush and backend.dialect(con) == "duckdb":  # deferred entries wait beside a DuckDB file
        flush_deferred(con)
    # an append, which ClickHouse takes too: the trail is the one write Pond makes there
    con.execute("insert into audit values ($at, $actor, $action, $detail, $rows, $ok)",
                {"at": datetime.now(UTC).replace(tzinfo=None), "actor": actor, "action": action,
                 "detail": detail[:2000], "rows": rows, "ok": ok})


def deferred_path(warehouse_path: str | Path) -> Path:
    """Where entries wait that could not be written because the warehouse was busy."""
    path = Path(warehouse_path)
    return path.with_name(path.name + ".audit-pending.jsonl")


def defer(warehouse_path: str | Path, actor: str, action: str, detail: str = "", *, rows: int | None = None,
          ok: bool = True) -> None:
    """Keep an entry beside the warehouse (0600) when the warehouse itself cannot be written (another
    process holds it): the next :func:`record` on that warehouse writes it with its own time."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    line = json.dumps({"logged_at": datetime.now(UTC).replace(tzinfo=None).isoformat(), "actor": actor,
                       "action": action, "detail": detail[:2000], "rows": rows, "ok": ok}, ensure_ascii=False)
    fd = os.open(deferred_path(warehouse_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def flush_deferred(con: duckdb.DuckDBPyConnection) -> int:
    """Write the entries deferred beside this warehouse into its trail (an entry already there is not
    written twice, so a flush killed half-way loses and repeats nothing); returns how many were added."""
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    if not row or not row[0]:
        return 0
    pending = deferred_path(row[0])
    if not pending.exists():
        return 0
    entries_ = []
    for line in pending.read_text(encoding="utf-8").splitlines():
        try:
            e = json.loads(line)
            entries_.append([datetime.fromisoformat(e["logged_at"]), e["actor"], e["action"], e["detail"],
                             e["rows"], e["ok"]])
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a kill: the entry it began was never acknowledged
    added = 0
    for entry in entries_:
        exists = con.execute("select count(*) from audit where logged_at = ? and actor = ? and action = ? "
                             "and detail = ?", entry[:4]).fetchone()[0]
        if not exists:
            con.execute("insert into audit values (?, ?, ?, ?, ?, ?)", entry)
            added += 1
    pending.unlink(missing_ok=True)
    return added


def entries(con: duckdb.DuckDBPyConnection, *, actor: str | None = None, action: str | None = None,
            since: datetime | None = None, limit: int = 5000) -> pd.DataFrame:
    """The newest ``limit`` entries, filtered: logged_at, actor, action, detail, rows, ok."""
    return run_query(con, "audit_list", {"actor": actor, "action": action, "since": since, "limit": limit})


def sign_in_wait(con: duckdb.DuckDBPyConnection, name: str, rule) -> float:
    """Seconds ``name`` must still wait by the trail's failed sign-ins since its last success (within
    :data:`FAILURE_MEMORY`), under ``rule`` (an :class:`engine.admin.access.ThrottleRule`)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    failed, last = con.execute(
        "select count(*), max(logged_at) from audit where actor = ? and action = 'sign_in_failed' "
        "and logged_at >= greatest(?, coalesce((select max(logged_at) from audit "
        "where actor = ? and action = 'sign_in'), ?))",
        [name, now - FAILURE_MEMORY, name, now - FAILURE_MEMORY]).fetchone()
    if not failed:
        return 0.0
    return max(0.0, rule.wait(failed) - (now - last).total_seconds())
