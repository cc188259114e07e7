"""User lifecycle and stickiness.

Lifecycle (as in PostHog) per day, week or month, over users with actions of their own:
*new* (first active period ever), *returning* (also active the period before), *resurrecting*
(active again after at least one inactive period) and *dormant* (active the period before but not
this one, reported as a negative number so that stacked bars show gains above and losses below).

Stickiness per day: DAU / MAU, where MAU counts users active in the 30 days ending that day.

A period is *complete* when it lies wholly inside the chosen days: the first and last week or month
of a range usually do not, and would look like a collapse. They are kept, marked ``complete=False``,
and left out of averages (:func:`average_per_period`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store.warehouse import PASSIVE_EVENT_TYPES, business_timezone, run_query

PERIODS = ("day", "week", "month")
STATUSES = ("new", "returning", "resurrecting", "dormant")


def period_params(con: duckdb.DuckDBPyConnection, start: date | None, end: date | None,
                  channel: str | None) -> dict:
    """Bound parameters shared by the period analyses (defaults: the whole span of data)."""
    first, last = con.execute("select min(day), max(day) from user_day").fetchone()
    start, end = start or first or date(1970, 1, 1), end or last or date(1970, 1, 1)
    if end < start:
        raise PondError(f"the period ends ({end}) before it starts ({start})")
    return {"start": start, "end": end, "channel": channel, "tz": business_timezone(con),
            "lo": datetime.combine(start, time()) - timedelta(days=1),
            "hi": datetime.combine(end, time()) + timedelta(days=2),
            "passive": list(PASSIVE_EVENT_TYPES)}


def mark_complete(frame: pd.DataFrame, period: str, start: date, end: date) -> pd.DataFrame:
    """Add ``complete``: whether the day, week or month starting on ``frame["period"]`` lies wholly
    inside [start, end]."""
    from engine.behaviour.retention import period_last_day

    firsts = pd.Series(pd.to_datetime(frame["period"]).dt.date, index=frame.index)
    complete = firsts.map(lambda first: first >= start and period_last_day(first, period) <= end)
    return frame.assign(complete=complete.astype(bool))


def average_per_period(frame: pd.DataFrame, value: str, by: str) -> pd.DataFrame:
    """Mean of ``value`` per ``by`` over the complete periods only (``by, average, periods``)."""
    done = frame[frame["complete"]]
    out = done.groupby(by, as_index=False)[value].agg(average="mean", periods="count")
    return out


def lifecycle(con: duckdb.DuckDBPyConnection, *, period: str = "week", start: date | None = None,
              end: date | None = None, channel: str | None = None) -> pd.DataFrame:
    """Users per period and status: ``period, status, users, complete`` (dormant negative), every
    status present; see :func:`mark_complete`."""
    if period not in PERIODS:
        raise PondError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    params = {**period_params(con, start, end, channel), "period": period}
    frame = run_query(con, "lifecycle", params)
    if frame.empty:
        return frame.assign(complete=pd.Series(dtype=bool))
    frame["period"] = pd.to_datetime(frame["period"]).dt.date
    periods = sorted(frame["period"].unique())
    grid = pd.MultiIndex.from_product([periods, STATUSES], names=["period", "status"])
    frame = frame.set_index(["period", "status"]).reindex(grid, fill_value=0).reset_index()
    return mark_complete(frame.astype({"users": "int64"}), period, params["start"], params["end"])


def stickiness(con: duckdb.DuckDBPyConnection, *, start: date | None = None, end: date | None = None,
               channel: str | None = None) -> pd.DataFrame:
    """``day, dau, mau, stickiness`` for every business day of the period."""
    from engine.behaviour.metrics import rolling_active_users

    frame = rolling_active_users(con, period_params(con, start, end, channel), 30).rename(columns={"active": "mau"})
    frame["stickiness"] = frame["dau"] / frame["mau"].where(frame["mau"] > 0)
    return frame
