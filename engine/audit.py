"""The audit trail: who did what, when, to how many rows; kept in the warehouse.

Entries are appended outside the data version (an export must not invalidate every cached
chart) and survive a restore from backup (see :mod:`engine.backup`). Times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd

from engine.warehouse import run_query

ACTIONS = ("sign_in", "sign_in_failed", "sign_out", "import", "undo", "segment_save", "segment_delete", "export",
           "backup", "restore", "user_add", "user_role", "user_remove", "train", "sign_in_throttled")
#: How far back failed sign-ins in the trail still slow a name down (after a restart, or from another
#: dashboard process: the server's own throttle, engine.access.SignInThrottle, is in memory)
FAILURE_MEMORY = timedelta(hours=1)


def record(con: duckdb.DuckDBPyConnection, actor: str, action: str, detail: str = "", *, rows: int | None = None,
           ok: bool = True) -> None:
    """Append one entry."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    con.execute("insert into audit values (?, ?, ?, ?, ?, ?)",
                [datetime.now(UTC).replace(tzinfo=None), actor, action, detail[:2000], rows, ok])


def entries(con: duckdb.DuckDBPyConnection, *, actor: str | None = None, action: str | None = None,
            since: datetime | None = None, limit: int = 5000) -> pd.DataFrame:
    """The newest ``limit`` entries, filtered: logged_at, actor, action, detail, rows, ok."""
    return run_query(con, "audit_list", {"actor": actor, "action": action, "since": since, "limit": limit})


def sign_in_wait(con: duckdb.DuckDBPyConnection, name: str, rule) -> float:
    """Seconds ``name`` must still wait by the trail's failed sign-ins since its last success (within
    :data:`FAILURE_MEMORY`), under ``rule`` (an :class:`engine.access.ThrottleRule`)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    failed, last = con.execute(
        "select count(*), max(logged_at) from audit where actor = ? and action = 'sign_in_failed' "
        "and logged_at >= greatest(?, coalesce((select max(logged_at) from audit "
        "where actor = ? and action = 'sign_in'), ?))",
        [name, now - FAILURE_MEMORY, name, now - FAILURE_MEMORY]).fetchone()
    if not failed:
        return 0.0
    return max(0.0, rule.wait(failed) - (now - last).total_seconds())
