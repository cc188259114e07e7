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
           "backup", "restore", "user_add", "user_role", "user_remove", "train")
#: Failed sign-ins for one name within this window lock it out for the rest of the window.
LOCKOUT = (5, timedelta(minutes=10))


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


def locked_out(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Too many failed sign-ins for this name lately: refuse further attempts for a while."""
    count, window = LOCKOUT
    since = datetime.now(UTC).replace(tzinfo=None) - window
    failed = con.execute("select count(*) from audit where action = 'sign_in_failed' and actor = ? and logged_at >= ?",
                         [name, since]).fetchall()[0][0]
    return failed >= count
