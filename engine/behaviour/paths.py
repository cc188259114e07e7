"""Paths: what users do after a start event, or before an end event.

Semantics (as in PostHog's user paths):

- A user's stream is their own actions (impressions and coupon pushes happen *to* them and are left
  out) in time order; events at one timestamp keep their import order. A step is named by its event
  type, or by type and item category (``grouping="category"``). With ``collapse`` (the default) a run
  of one name (view, view, view) is one step, so paths show moves between kinds of action.
- Each step shows its ``max_nodes`` most common names; the rest are summed as ``other``.
- ``steps``: users still on their path at each step and how many stopped before it (drop-off).
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
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from engine.errors import PondError
from engine.store.warehouse import PASSIVE_EVENT_TYPES, business_timezone, run_query

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
    collapse: bool = True  # a run of one event (view, view, view) is one step
    grouping: str = "type"  # node names: the event type, or "category": type and item category
    max_nodes: int = 8  # nodes per step; the rest are summed as "other"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise PondError(f"direction must be after (a start event) or before (an end event), not {self.direction!r}")
        if not 2 <= self.steps <= 8:
            raise PondError(f"a path has 2 to 8 steps, not {self.steps}")
        if not self.event:
            raise PondError("choose the event the paths start (or end) at")
        if self.event in PASSIVE_EVENT_TYPES:
            raise PondError(f"{self.event} happens to users, not by them; paths follow users' own actions")
        if self.grouping not in ("type", "category"):
            raise PondError(f"group path steps by type or category, not {self.grouping!r}")
        if not 2 <= self.max_nodes <= 50:
            raise PondError(f"show 2 to 50 nodes per step, not {self.max_nodes}")
        if self.start and self.end and self.end < self.start:
            raise PondError(f"the range ends ({self.end}) before it starts ({self.start})")


@dataclass
class PathResult:
    paths: pd.DataFrame  # path, steps, users, share
    links: pd.DataFrame  # step, source, target, users
    users: pd.DataFrame = field(repr=False)  # user_id, path
    query: PathQuery = field(repr=False)
    steps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["step", "users", "dropped",
                                                                             "share_of_start"]))

    def nodes(self) -> list[str]:
        """Every node of the Sankey diagram (``2. cart``), step by step."""
        return list(dict.fromkeys([*self.links["source"], *self.links["target"]]))

    def users_through(self, node: str) -> pd.DataFrame:
        """The users whose path has this node's name at its step (``user_id, path``)."""
        step, _, name = node.partition(". ")
        k = int(step) - 1
        return self.users[self.users["path"].map(lambda p: p.split(" → ")[k:k + 1] == [name])].reset_index(drop=True)


def paths(con: duckdb.DuckDBPyConnection, query: PathQuery | None = None, *, top: int = 20) -> PathResult:
    """Compute users' paths; see the module docstring."""
    query = query or PathQuery()
    first, last = con.execute("select min(day), max(day) from daily_events").fetchone()
    start, end = query.start or first, query.end or last
    if start is None:
        raise PondError("the warehouse holds no events yet; import a file or build the demo")
    params = {"event": query.event, "direction": query.direction, "steps": query.steps, "start": start,
              "collapse": query.collapse, "grouping": query.grouping,
              "end": end, "channel": query.channel, "passive": list(PASSIVE_EVENT_TYPES)}
    zone = ZoneInfo(business_timezone(con))
    for name, day in (("from_utc", start), ("to_utc", end + timedelta(days=1))):  # local midnights in UTC
        params[name] = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    steps = run_query(con, "path_steps", params)
    if steps.empty:
        empty = pd.DataFrame(columns=["path", "steps", "users", "share"])
        return PathResult(empty, pd.DataFrame(columns=["step", "source", "target", "users"]),
                          pd.DataFrame(columns=["user_id", "path"]), query)
    return _assemble(steps, query, top)


def _assemble(steps: pd.DataFrame, query: PathQuery, top: int) -> PathResult:
    """Paths, links and drop-off from the SQL's (user, step, name) rows, in numpy arrays indexed by
    user number (a list per user was most of the call's time on the 10M-event bench warehouse)."""
    n = query.steps
    users_of, user_ids = pd.factorize(steps["user_id"], sort=True)
    step = steps["step"].to_numpy(dtype="int64")
    names = steps["event_type"].to_numpy(dtype=object)
    length = np.bincount(users_of, minlength=len(user_ids))
    short = length < n
    if query.direction == "after":  # steps 1..L, then (end) at L+1
        position, filler, filler_at = step, END, length + 1
    else:  # steps n-L+1..n become 2..L+1 after (start) at 1
        position, filler, filler_at = step - (n - length[users_of]) + short[users_of], START, np.ones_like(length)
    width = int(max(position.max(), filler_at[short].max() if short.any() else 0))
    grid = np.full((len(user_ids), width), None, dtype=object)
    grid[users_of, position - 1] = names
    grid[np.flatnonzero(short), filler_at[short] - 1] = filler
    _cap_node_names(grid, query.max_nodes)
    path = pd.Series(grid[:, 0], dtype=object)
    for k in range(1, width):
        column = pd.Series(grid[:, k], dtype=object)
        present = column.notna()
        path = path.where(~present, path + " → " + column.where(present, ""))
    users = pd.DataFrame({"user_id": user_ids.to_numpy(), "path": path.to_numpy()})
    counts = users.groupby("path").size().rename("users").reset_index()
    counts["steps"] = counts["path"].str.count("→") + 1
    counts["share"] = counts["users"] / len(users)
    counts = counts.sort_values(["users", "path"], ascending=[False, True]).head(top).reset_index(drop=True)
    pairs = []
    for k in range(width - 1):
        both = pd.DataFrame({"a": grid[:, k], "b": grid[:, k + 1]}).dropna()
        pairs.append(both.groupby(["a", "b"]).size().rename("users").reset_index().assign(
            step=k + 1, source=lambda f, k=k: f"{k + 1}. " + f["a"], target=lambda f, k=k: f"{k + 2}. " + f["b"]))
    columns = ["step", "source", "target", "users"]
    moves = (pd.concat(pairs, ignore_index=True)[columns] if pairs else pd.DataFrame(columns=columns))
    moves = moves.sort_values(["step", "source", "target"]).reset_index(drop=True)
    moves = moves.sort_values(["step", "users"], ascending=[True, False])
    own = pd.DataFrame(grid).isin([END, START]) | pd.DataFrame(grid).isna()
    reached = (~own).sum().to_numpy()
    per_step = pd.DataFrame({"step": np.arange(1, width + 1), "users": reached})
    per_step = per_step[per_step["users"] > 0].reset_index(drop=True)
    per_step["dropped"] = (per_step["users"].shift(1) - per_step["users"]).fillna(0).astype("int64")
    per_step["share_of_start"] = per_step["users"] / len(users)
    return PathResult(counts[["path", "steps", "users", "share"]], moves.reset_index(drop=True), users, query,
                      per_step)


def _cap_node_names(grid: np.ndarray, limit: int) -> None:
    """Per step (column), keep the ``limit`` names with the most users; the others become ``other``."""
    for k in range(grid.shape[1]):
        column = pd.Series(grid[:, k], dtype=object)
        own = column[column.notna() & ~column.isin([END, START])]
        ranked = sorted(own.value_counts().items(), key=lambda item: (-item[1], item[0]))  # ties by name
        dropped = own.index[~own.isin([name for name, _ in ranked[:limit]])]
        grid[dropped.to_numpy(), k] = OTHER


OTHER = "other"
