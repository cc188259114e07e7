"""Interest tags: each user's top tags, TF-IDF scores over what they engaged with (categories and
item tags), weighted by intent and recency (see queries/interest_tags.sql).

The default scoring is kept in ``user_tags`` per data version and derived again after each write;
segments (``interest_tag = ...``), portraits and User 360 read it from here.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store import backend
from engine.store.warehouse import data_version, run_query

DEFAULT_TAGS = {"lookback": 180, "half_life": 30.0, "top": 5}
#: One derivation at a time in a process: the dashboard derives in the background after an upload
#: while a page may ask for the tags; the second caller waits and then finds them current.
_DERIVING = threading.Lock()


def interest_tags(con: duckdb.DuckDBPyConnection, *, lookback_days: int = 180, half_life_days: float = 30,
                  top: int = 5) -> pd.DataFrame:
    """Each user's ``top`` tags: ``user_id, tag, score`` (tags read ``category:X`` or ``tag:Y``).

    With the default parameters the tags come from the ``user_tags`` table, derived again only when
    the warehouse version has moved on (scoring every user takes seconds at 10M events).
    """
    if not 1 <= lookback_days <= 3650 or half_life_days <= 0 or not 1 <= top <= 50:
        raise PondError("lookback 1-3650 days, a positive half-life and 1-50 tags per user")
    params = {"lookback": lookback_days, "half_life": float(half_life_days), "top": top}
    if params != DEFAULT_TAGS:
        tags = run_query(con, "interest_tags", params)
        return tags.sort_values(["user_id", "score", "tag"], ascending=[True, False, True], ignore_index=True)
    ensure_interest_tags(con)
    return con.execute("select user_id, tag, score from user_tags order by user_id, score desc, tag").df()


def refresh_after_write(con: duckdb.DuckDBPyConnection) -> None:
    """Re-derive what is kept per data version once a write has committed (so the first segment
    query after an import is not the one that pays). A failure here is logged, never raised: the
    write itself has already succeeded."""
    try:
        ensure_interest_tags(con)
    except Exception:  # noqa: BLE001 - derived data must not fail a committed import
        logging.getLogger("pond.engine").exception("could not derive interest tags; they will be derived on use")


def ensure_interest_tags(con: duckdb.DuckDBPyConnection) -> None:
    """Derive ``user_tags`` with the default parameters unless it matches the current data version."""
    with _DERIVING:
        if tags_are_current(con):
            return
        _write_tags(con, run_query(con, "interest_tags", DEFAULT_TAGS), data_version(con))


def _write_tags(con: duckdb.DuckDBPyConnection, tags: pd.DataFrame, version: int) -> None:
    """Replace ``user_tags`` with ``tags``, derived from ``version``, in one short transaction (on
    ClickHouse: swapped in whole, then the version noted)."""
    if backend.dialect(con) == "clickhouse":
        from engine.store import chwrites

        chwrites.replace_derived(con, "user_tags", tags, "tags_version", version)
        return
    con.execute("begin transaction")
    try:
        con.execute("delete from user_tags")
        con.register("derived_tags", tags[["user_id", "tag", "score"]])
        con.execute("insert into user_tags select user_id, tag, score from derived_tags")
        con.unregister("derived_tags")
        con.execute("update meta set value = ? where key = 'tags_version'", [str(version)])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


#: Seconds a background derivation leaves the warehouse closed between its steps: longer than the
#: longest pause of a writer polling for the file (engine.store.warehouse._open), so a waiting command-line
#: import gets it rather than the derivation's next step.
GIVE_WAY_SECONDS = 0.6


def derive_interest_tags_in_turns(path: str | Path, *, timeout: float = 30.0) -> bool:
    """Derive the tags of the warehouse at ``path`` without holding it for the whole derivation: score
    on one opening (a read), leave the file to any waiting writer, then write in a short transaction.
    Returns whether tags were written; a version that moved on meanwhile writes nothing (its own
    derivation follows)."""
    from engine.store.warehouse import connect

    with _DERIVING:
        with connect(path, timeout=timeout) as con:
            if tags_are_current(con):
                return False
            version = data_version(con)
            tags = run_query(con, "interest_tags", DEFAULT_TAGS)
        time.sleep(GIVE_WAY_SECONDS)
        with connect(path, timeout=timeout) as con:
            if data_version(con) != version:
                return False
            _write_tags(con, tags, version)
        return True


def tags_derivation_done() -> None:
    """Return once no derivation of the tags is under way in this process (call it before opening the
    warehouse: waiting with it open would hold it for the whole derivation)."""
    with _DERIVING:
        pass


def tags_are_current(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``user_tags`` was derived from the current data version."""
    stored = con.execute("select value from meta where key = 'tags_version'").fetchone()[0]
    return stored == str(data_version(con))
