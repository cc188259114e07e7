"""Breakdowns by any text property for the analyses that read through :mod:`engine.store.scope`.

A breakdown runs an analysis once per value of a property: the ``limit`` values with the most events
on the period's business days (ties by value), then ``Other`` (every other value), then ``(none)`` (events or users
without one), each bucket a condition added to the filters in force. So each bucket's figure is the
analysis' own figure restricted to that bucket, computed by the same code as the unbroken one.

- An **event property** (channel, category, campaign ...) splits events: a user who bought through
  two channels is a buyer in both rows, so user counts (DAU, MAU, buyers) of the rows can add up to
  more than the total; events, orders and GMV add up exactly. (PostHog counts unique users per
  breakdown value the same way.)
- A **user property** (city, gender ...) splits users: every row is a disjoint set of users and
  every figure adds up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import TypeVar

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store import scope
from engine.store.filters import PROPERTIES, USER_PROPERTIES, Condition
from engine.store.warehouse import business_timezone, load_query, read_sql

OTHER = "Other"
NONE = "(none)"
ALL = "All"
#: properties a breakdown can split by: the text ones (a number or a date has too many values)
BREAKDOWN_PROPERTIES = tuple(p for p, (_, kind) in PROPERTIES.items() if kind == "text")
T = TypeVar("T")


def check_property(prop: str) -> None:
    if prop not in BREAKDOWN_PROPERTIES:
        raise PondError(f"cannot break down by {prop!r}; use one of {', '.join(BREAKDOWN_PROPERTIES)}")


#: properties the user_day rollup can split by (the user's own, and the channel it carries)
ON_ROLLUP = tuple(p for p in BREAKDOWN_PROPERTIES if p in USER_PROPERTIES or p == "channel")


def rows_sql(name: str, prop: str) -> str:
    """The query ``name`` with its ``{rows}`` (user_day-shaped rows with the property's value, from the
    rollup where it can) and ``{value}`` slots filled in."""
    rows = load_query("breakdown_rows_rollup" if prop in ON_ROLLUP else "breakdown_rows_events")
    return load_query(name).replace("{rows}", rows.rstrip().rstrip(";")).replace("{value}", column_of(prop))


def column_of(prop: str) -> str:
    """The SQL of a breakdown property's value (our own text, from :mod:`engine.store.filters`)."""
    check_property(prop)
    return PROPERTIES[prop][0]


def top_values(con: duckdb.DuckDBPyConnection, prop: str, start: date, end: date, limit: int) -> list[str]:
    """The ``limit`` values of ``prop`` with the most events on the period's business days, most first
    (equal counts by value)."""
    sql = rows_sql("breakdown_top_values", prop)
    params = {"lo": datetime.combine(start, time()) - timedelta(days=1),
              "hi": datetime.combine(end, time()) + timedelta(days=2), "limit": int(limit), "lo_day": start,
              "start": start, "end": end, "tz": business_timezone(con), "channel": None}
    return read_sql(con, sql, params).df()["value"].tolist()


def buckets(prop: str, values: list[str]) -> list[tuple[str, tuple[Condition, ...]]]:
    """Each breakdown row's label and the conditions that make it."""
    rows = [(v, (Condition(prop, "=", (v,)),)) for v in values]
    if values:
        rows.append((OTHER, (Condition(prop, "is set"), Condition(prop, "not in", tuple(values)))))
    rows.append((NONE, (Condition(prop, "is not set"),)))
    return rows


def broken_down(con: duckdb.DuckDBPyConnection, prop: str, start: date, end: date,
                compute: Callable[[], T], *, limit: int = 5) -> list[tuple[str, T]]:
    """``compute()`` for the whole (``All``) and then once per bucket of ``prop``, within the filters
    in force. Buckets that hold no event in the period (an empty ``Other``, say) are still listed."""
    if limit < 1:
        raise PondError("a breakdown shows at least one value; --limit must be 1 or more")
    values = top_values(con, prop, start, end, limit)
    results = [(ALL, compute())]
    base = scope.current()
    for label, conditions in buckets(prop, values):
        with scope.applied((*base, *conditions)):
            results.append((label, compute()))
    return results


def frame_of(rows: list[tuple[str, dict]], column: str = "breakdown") -> pd.DataFrame:
    """One row per bucket from per-bucket dicts, the bucket in ``column``."""
    return pd.DataFrame([{column: label, **values} for label, values in rows])
