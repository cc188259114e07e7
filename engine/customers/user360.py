"""User 360: everything Pond knows about one user: profile, totals, RFM, interest tags, timeline."""

from __future__ import annotations

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store.warehouse import run_query


def find_users(con: duckdb.DuckDBPyConnection, prefix: str, *, limit: int = 20) -> pd.DataFrame:
    """Users whose id starts with ``prefix`` (case-insensitive), most recently seen first."""
    return run_query(con, "user_search", {"prefix": prefix.strip(), "limit": limit})


def user_profile(con: duckdb.DuckDBPyConnection, user_id: str, *, tags: pd.DataFrame | None = None,
                 rfm: pd.DataFrame | None = None) -> dict:
    """Properties, totals, RFM scores and segment, and interest tags of one user.

    ``tags`` and ``rfm`` may be passed in when the caller already holds them for everyone (the
    dashboard caches both per warehouse version); otherwise they are computed.
    """
    row = con.execute("select * from users where user_id = ?", [user_id]).df()
    if row.empty:
        raise PondError(f"there is no user {user_id!r}; search by the start of the id")
    profile = {k: (None if pd.isna(v) else v) for k, v in row.iloc[0].to_dict().items()}
    totals = run_query(con, "user_summary", {"user_id": user_id}).iloc[0].to_dict()
    # a user without events (kept by an import of user attributes) has no last active day
    totals = {k: (None if pd.isna(v) else v) for k, v in totals.items()}
    if rfm is None:
        from engine.customers.rfm import rfm_scores

        rfm = rfm_scores(con)
    mine = rfm[rfm["user_id"] == user_id]
    if tags is None:
        from engine.customers.tags import interest_tags

        tags = interest_tags(con)
    return {
        "profile": profile,
        "totals": totals,
        "rfm": None if mine.empty else mine.iloc[0].to_dict(),
        "tags": tags.loc[tags["user_id"] == user_id, ["tag", "score"]].reset_index(drop=True),
    }


def user_timeline(con: duckdb.DuckDBPyConnection, user_id: str, *, limit: int = 1000) -> pd.DataFrame:
    """The user's latest ``limit`` events, newest first, with item and content names."""
    return run_query(con, "user_timeline", {"user_id": user_id, "limit": limit})
