"""Paths: what users do after a start event, or before an end event.

Semantics (as in PostHog's user paths):

- A user's stream is their own actions (impressions and coupon pushes happen *to* them and are left
  out) in time order; events at one timestamp keep their import order. A run of the same event
  (view, view, view) is one step, so paths show moves between kinds of action.
- Only events on the range's days count, the steps after or before the anchor included.
- ``after`` a start event: each user's first start event on a day of the range, then their next
  ``steps - 1`` steps (a user whose stream ends sooner has a shorter path, ending in ``(end)``).
- ``before`` an end event: each user's last end event on a day of the range and the ``steps - 1``
  steps before it (a shorter stream begins with ``(start)``).
- Each user counts once. ``paths`` lists whole paths by users; ``links`` the moves between step k and
  k+1 that a Sankey diagram draws (node names carry their step: ``2. cart``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.warehouse import PASSIVE_EVENT_TYPES, business_timezone, run_query

DIRECTIONS = ("after", "before")
END, START = "(end)", "(start)"


@dataclass(frozen=True)
class PathQuery:
    event: str = "view"
    direction: str = "after"
    steps: int = 4
    start: date | None = None
    end: date | None = None
    channel: str | None = None  # anchors through this channel only

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise PondError(f"direction must be after (a start event) or before (an end event), not {self.direction!r}")
        if not 2 <= self.steps <= 8:
            raise PondError(f"a path has 2 to 8 steps, not {self.steps}")
        if not self.event:
            raise PondError("choose the event the paths start (or end) at")
        if self.event in PASSIVE_EVENT_TYPES:
            raise PondError(f"{self.event} happens to users, not by them; paths follow users' own actions")
        if self.start and self.end and self.end < self.start:
            raise PondError(f"the range ends ({self.end}) before it starts ({self.start})")


@dataclass
class PathResult:
    paths: pd.DataFrame  # path, steps, users, share
    links: pd.DataFrame  # step, source, target, users
    users: pd.DataFrame = field(repr=False)  # user_id, path
    query: PathQuery = field(repr=False)


def paths(con: duckdb.DuckDBPyConnection, query: PathQuery | None = None, *, top: int = 20) -> PathResult:
    """Compute users' paths; see the module docstring."""
    query = query or PathQuery()
    first, last = con.execute("select min(day), max(day) from daily_events").fetchone()
    start, end = query.start or first, query.end or last
    if start is None:
        raise PondError("the warehouse holds no events yet; import a file or build the demo")
    params = {"event": query.event, "direction": query.direction, "steps": query.steps, "start": start,
              "end": end, "channel": query.channel, "tz": business_timezone(con),
              "passive": list(PASSIVE_EVENT_TYPES),
              "lo": datetime.combine(start, time()) - timedelta(days=1),
              "hi": datetime.combine(end, time()) + timedelta(days=2)}
    steps = run_query(con, "path_steps", params)
    if steps.empty:
        empty = pd.DataFrame(columns=["path", "steps", "users", "share"])
        return PathResult(empty, pd.DataFrame(columns=["step", "source", "target", "users"]),
                          pd.DataFrame(columns=["user_id", "path"]), query)
    steps = steps.sort_values(["user_id", "step"])
    sequences = steps.groupby("user_id", sort=True)["event_type"].agg(list)
    filler = END if query.direction == "after" else START
    padded = sequences.map(lambda s: s if len(s) == query.steps else (
        [*s, filler] if query.direction == "after" else [filler, *s]))
    users = pd.DataFrame({"user_id": padded.index, "path": padded.map(" → ".join).to_numpy()})
    counts = users.groupby("path").size().rename("users").reset_index()
    counts["steps"] = counts["path"].str.count("→") + 1
    counts["share"] = counts["users"] / len(users)
    counts = counts.sort_values(["users", "path"], ascending=[False, True]).head(top).reset_index(drop=True)
    links = []
    for sequence in padded:
        for k in range(len(sequence) - 1):
            links.append((k + 1, f"{k + 1}. {sequence[k]}", f"{k + 2}. {sequence[k + 1]}"))
    moves = (pd.DataFrame(links, columns=["step", "source", "target"]).groupby(["step", "source", "target"])
             .size().rename("users").reset_index().sort_values(["step", "users"], ascending=[True, False]))
    return PathResult(counts[["path", "steps", "users", "share"]], moves.reset_index(drop=True), users, query)
