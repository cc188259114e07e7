"""Cohort retention: do users who did a start event come back and do a return event?

Semantics (as in Amplitude and Mixpanel):

- A *cohort* is the calendar period (business day; week, starting Monday or, with
  ``week_start="sunday"``, Sunday; or month) of a user's start event: their first one ever
  (``first_time=True``), or every period with one (recurring).
- Period 0 is the cohort itself (100%). A user counts in period n >= 1 if they did the return event
  in the n-th period after the cohort's (``mode="on"``), or in that period or any later one
  (``mode="on_or_after"``, unbounded retention). With ``min_returns=N`` a period counts only
  when the user did the return event at least N times in it.
- Cohorts are whole periods (as in PostHog): a weekly cohort of a range that starts on a Sunday
  holds the users whose start event fell anywhere in that Monday-to-Sunday week. With ``clip=True``
  only start events on the range's days count, so a cohort never reaches past the range. Either
  way ``cohort_from`` and ``cohort_to`` give the days a cohort's start events may lie on.
- A cell is *complete* when its period has ended by the last day of data; incomplete cells are
  shown but left out of averages. ``any`` as an event means any action of the user's own
  (impressions and coupon pushes are not actions).

Everything is computed in DuckDB from the ``user_day_type`` rollup.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.warehouse import PASSIVE_EVENT_TYPES, run_composed, run_query

PERIODS = ("day", "week", "month")
MODES = ("on", "on_or_after")
BREAKDOWNS = ("none", "channel", "community", "segment", "gender", "age_band", "city")
ANY_EVENT = "any"


@dataclass(frozen=True)
class RetentionQuery:
    """What to compute; the defaults are first purchase -> purchase, weekly, first-time, "on"."""

    period: str = "week"
    start_event: str = "purchase"
    return_event: str = "purchase"
    first_time: bool = True
    mode: str = "on"
    start: date | None = None  # first cohort (default: the first day of data)
    end: date | None = None  # last cohort start (default: the last day of data)
    channel: str | None = None  # only users acquired through this channel
    breakdown: str = "none"
    segment: str | None = None  # saved segment for breakdown="segment"
    clip: bool = False  # only start events on the days [start, end] make a user a cohort member
    week_start: str = "monday"  # or "sunday"
    min_returns: int = 1  # return events a period needs before the user counts as back in it

    def __post_init__(self) -> None:
        for name, value, allowed in (("period", self.period, PERIODS), ("mode", self.mode, MODES),
                                     ("breakdown", self.breakdown, BREAKDOWNS)):
            if value not in allowed:
                raise PondError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if self.start and self.end and self.end < self.start:
            raise PondError(f"the cohort range ends ({self.end}) before it starts ({self.start})")
        if self.breakdown == "segment" and not self.segment:
            raise PondError("choose the saved segment to break down by")
        if self.week_start not in ("monday", "sunday"):
            raise PondError(f"a week starts on monday or sunday, not {self.week_start!r}")
        if not 1 <= self.min_returns <= 1000:
            raise PondError(f"a period needs 1 to 1,000 return events, not {self.min_returns}")

    def params(self, con: duckdb.DuckDBPyConnection) -> dict:
        bounds = con.execute("select min(day), max(day) from user_day_type").fetchone()
        start = self.start or bounds[0] or date(1970, 1, 1)
        end = self.end or bounds[1] or date(1970, 1, 1)
        values = {k: v for k, v in asdict(self).items() if k not in ("start", "end")}
        return {**values, "from": start, "to": end, "passive": list(PASSIVE_EVENT_TYPES)}


def _run(con: duckdb.DuckDBPyConnection, query_name: str, params: dict) -> pd.DataFrame:
    from engine.segments import materialise_segment

    materialise_segment(con, params["segment"] if params["breakdown"] == "segment" else None)
    try:
        return run_composed(con, query_name, params, members="retention_members")
    finally:
        con.execute("drop table if exists segment_members")


def retention_matrix(con: duckdb.DuckDBPyConnection, query: RetentionQuery | None = None) -> pd.DataFrame:
    """One row per segment, cohort and period.

    Returns
    -------
    DataFrame
        ``segment, cohort, period, users, cohort_size, rate, complete, cohort_from, cohort_to``;
        ``cohort`` is the first day of the cohort's period, ``period`` counts periods after it (0 = the
        cohort itself), ``cohort_from``/``cohort_to`` the first and last day its members' start events
        may fall on (see :func:`cohort_span`).
    """
    query = query or RetentionQuery()
    params = query.params(con)
    frame = _run(con, "retention_matrix", params)
    frame["cohort"] = pd.to_datetime(frame["cohort"]).dt.date
    spans = {c: cohort_span(c, query.period, params["from"], params["to"], clip=query.clip)
             for c in frame["cohort"].unique()}
    frame["cohort_from"] = frame["cohort"].map(lambda c: spans[c][0])
    frame["cohort_to"] = frame["cohort"].map(lambda c: spans[c][1])
    return frame.astype({"period": "int64", "users": "int64", "cohort_size": "int64", "complete": "bool"})


def period_last_day(first: date, period: str) -> date:
    """The last day of the day, week (Monday to Sunday) or month that starts on ``first``."""
    if period == "day":
        return first
    if period == "week":
        return first + timedelta(days=6)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


def cohort_span(cohort: date, period: str, start: date, end: date, *, clip: bool) -> tuple[date, date]:
    """The first and last day on which a cohort's start events may lie: its whole period, or with
    ``clip`` the part of it inside the range [start, end]."""
    last = period_last_day(cohort, period)
    return (max(cohort, start), min(last, end)) if clip else (cohort, last)


def cohort_label(cohort_from: date, cohort_to: date) -> str:
    """``Jul 5`` for one day, ``Jul 5–6`` or ``Jun 30–Jul 6`` for a span, with the year when it changes."""
    if cohort_from == cohort_to:
        return f"{cohort_from:%b} {cohort_from.day}, {cohort_from.year}"
    if (cohort_from.year, cohort_from.month) == (cohort_to.year, cohort_to.month):
        return f"{cohort_from:%b} {cohort_from.day}–{cohort_to.day}, {cohort_to.year}"
    if cohort_from.year == cohort_to.year:
        return f"{cohort_from:%b} {cohort_from.day}–{cohort_to:%b} {cohort_to.day}, {cohort_to.year}"
    return f"{cohort_from:%b} {cohort_from.day}, {cohort_from.year}–{cohort_to:%b} {cohort_to.day}, {cohort_to.year}"


def cohorts_beyond_range(matrix: pd.DataFrame, start: date, end: date) -> list[tuple[date, date]]:
    """Spans of the cohorts whose start events may lie outside the range [start, end]."""
    spans = matrix[["cohort_from", "cohort_to"]].drop_duplicates()
    outside = spans[(spans["cohort_from"] < start) | (spans["cohort_to"] > end)]
    return list(outside.itertuples(index=False, name=None))


def retention_average(matrix: pd.DataFrame) -> pd.DataFrame:
    """Weighted average retention per segment and period over the complete cells.

    ``rate = sum(users) / sum(cohort_size)`` of the cohorts whose period n has ended, so big cohorts
    weigh more and half-observed periods do not drag the average down.
    """
    done = matrix[matrix["complete"]]
    out = done.groupby(["segment", "period"], as_index=False)[["users", "cohort_size"]].sum()
    out["rate"] = out["users"] / out["cohort_size"]
    out["cohorts"] = done.groupby(["segment", "period"]).size().to_numpy()
    return out


def period_n_over_time(matrix: pd.DataFrame, n: int) -> pd.DataFrame:
    """Period-n retention of each cohort (e.g. week-1 retention per weekly cohort), complete cells only."""
    cells = matrix[(matrix["period"] == n) & matrix["complete"]]
    return cells[["segment", "cohort", "users", "cohort_size", "rate"]].reset_index(drop=True)


def retention_cell_users(con: duckdb.DuckDBPyConnection, query: RetentionQuery, *, segment: str,
                         cohort: date, period: int) -> pd.DataFrame:
    """The users of one cohort with whether they came back in ``period`` (for drill-down and export)."""
    params = {**query.params(con), "segment": segment, "cohort": cohort, "n": period}
    return _run(con, "retention_cell_users", params)


def event_types(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Event types present in the warehouse, most frequent first."""
    return run_query(con, "event_type_list")["event_type"].tolist()
