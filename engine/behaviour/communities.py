"""Communities (private groups): members, activity, retention, posts, comments and member GMV.

- members: users who joined the group (a ``join_group`` event carrying its ``community_id``) by the
  period's last day; new members joined within the period;
- active members: members with an action of their own in the period (anywhere, or through the
  chosen channel); retention = active members / members;
- interactions: actions inside the group (events carrying its id, by members or by people its
  posts reached); activity = interactions / members; comments likewise; posts: content published
  in the group in the period;
- member GMV: what members bought in the period, wherever they bought it.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd

from engine.behaviour.lifecycle import mark_complete, period_params
from engine.store.warehouse import run_composed


def community_leaderboard(con: duckdb.DuckDBPyConnection, *, start: date | None = None,
                          end: date | None = None, channel: str | None = None) -> pd.DataFrame:
    """One row per community, most active members first, with ``activity`` and ``retention``."""
    frame = run_composed(con, "community_leaderboard", period_params(con, start, end, channel),
                         joins="community_members")
    members = frame["members"].where(frame["members"] > 0)
    frame["activity"] = frame["interactions"] / members
    frame["retention"] = frame["active_members"] / members
    return frame


def community_trend(con: duckdb.DuckDBPyConnection, *, period: str = "week", start: date | None = None,
                    end: date | None = None, channel: str | None = None) -> pd.DataFrame:
    """Active members per community and period (``community_id, period, active_members, complete``;
    a period that reaches outside the chosen days is not complete, see
    :func:`engine.behaviour.lifecycle.mark_complete`)."""
    params = {**period_params(con, start, end, channel), "period": period}
    frame = run_composed(con, "community_trend", params, joins="community_members")
    return mark_complete(frame, period, params["start"], params["end"])
