"""Trends: any event over time, counted the way the question needs, filtered and broken down.

A trend is one or more :class:`Series` (labelled A, B, C ... in order), each an event type (or
``any`` action of the user's own) with its own filters, measured as

- ``events``: how many such events;
- ``users``: distinct users who did it in the period;
- ``per_user``: events ÷ users (how often a user who did it did it);
- ``sum_amount`` / ``avg_amount``: the sum or the average of ``amount`` over those events (rows
  without an amount are left out of the average, as in PostHog's property math).

Periods are business days, ISO weeks (Monday first) or months in the warehouse's time zone; a period
that reaches outside the chosen days is marked ``complete=False``. A breakdown splits every series
by an event property (the event's own value) or a user property (the user's): the ``limit`` values
with the most events, then ``Other``; a missing value is ``(none)``. A formula such as ``B / A`` or
``(A - B) / A`` combines series per period and breakdown value (a division by zero gives no value).
With ``compare=True`` each value is shown beside the same position of the period just before.

The SQL is assembled here because the filters vary; it names only our own columns (see
:mod:`engine.store.filters`) and binds every value.
"""

from __future__ import annotations

import ast
import operator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import duckdb
import numpy as np
import pandas as pd

from engine.behaviour.lifecycle import mark_complete
from engine.errors import PondError
from engine.store.filters import PROPERTIES, Condition, compile_conditions
from engine.store.warehouse import PASSIVE_EVENT_TYPES, business_timezone, read_sql

MEASURES = {"events": "Events", "users": "Unique users", "per_user": "Events per user",
            "sum_amount": "Sum of amount", "avg_amount": "Average amount"}
INTERVALS = ("day", "week", "month")
ANY_EVENT = "any"
OTHER = "Other"
NONE = "(none)"
ALL = "All"  # the one "breakdown value" of a trend without a breakdown
LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Series:
    event: str = ANY_EVENT
    measure: str = "events"
    filters: tuple[Condition, ...] = ()

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise PondError(f"measure must be one of {', '.join(MEASURES)}, not {self.measure!r}")
        if not self.event:
            raise PondError("every series needs an event (or 'any')")

    def describe(self) -> str:
        what = "any action" if self.event == ANY_EVENT else self.event
        where = " where " + " and ".join(c.describe() for c in self.filters) if self.filters else ""
        return f"{MEASURES[self.measure]} of {what}{where}"


@dataclass(frozen=True)
class TrendQuery:
    series: tuple[Series, ...] = (Series(),)
    interval: str = "day"
    start: date | None = None
    end: date | None = None
    breakdown: str | None = None
    limit: int = 5
    formula: str | None = None
    compare: bool = False
    where: tuple[Condition, ...] = ()  # applies to every series (the page's global filters)

    def __post_init__(self) -> None:
        if not 1 <= len(self.series) <= len(LETTERS):
            raise PondError(f"a trend has 1 to {len(LETTERS)} series; got {len(self.series)}")
        if self.interval not in INTERVALS:
            raise PondError(f"interval must be one of {', '.join(INTERVALS)}, not {self.interval!r}")
        if self.breakdown is not None and self.breakdown not in PROPERTIES:
            raise PondError(f"cannot break down by {self.breakdown!r}; choose one of {', '.join(PROPERTIES)}")
        if not 1 <= self.limit <= 50:
            raise PondError(f"show 1 to 50 breakdown values, not {self.limit}")
        if self.start and self.end and self.end < self.start:
            raise PondError(f"the range ends ({self.end}) before it starts ({self.start})")
        if self.formula:
            check_formula(self.formula, LETTERS[:len(self.series)])


@dataclass
class TrendResult:
    """``frame``: ``period, series, breakdown, value, complete`` (and ``previous`` with compare);
    ``series`` is a letter, or ``formula``."""

    frame: pd.DataFrame
    query: TrendQuery = field(repr=False)
    labels: dict[str, str] = field(default_factory=dict)


# --- formulas --------------------------------------------------------------------------------------

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def check_formula(formula: str, letters: str) -> ast.Expression:
    """Parse ``formula`` (letters of series, numbers, + - * / and brackets) or say what is wrong."""
    try:
        tree = ast.parse(formula.strip().upper(), mode="eval")
    except SyntaxError:
        raise PondError(f"cannot read the formula {formula!r}: use series letters, numbers, + - * / and "
                        "brackets, e.g. B / A") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in letters:
            raise PondError(f"the formula names series {node.id}, but the series are {', '.join(letters)}")
        if not isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.Name, ast.Load,
                                 ast.Constant, *_BINARY)):
            raise PondError(f"the formula {formula!r} may only use series letters, numbers, + - * / and brackets")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise PondError(f"the formula {formula!r} may only use numbers besides series letters")
    return tree


def evaluate_formula(formula: str, columns: dict[str, pd.Series]) -> pd.Series:
    """The formula over aligned series (a division by zero gives NaN, not infinity)."""
    tree = check_formula(formula, "".join(columns))

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Name):
            return columns[node.id].astype(float)
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.UnaryOp):
            return -walk(node.operand)
        left, right = walk(node.left), walk(node.right)
        if isinstance(node.op, ast.Div):
            right = right.where(right != 0) if isinstance(right, pd.Series) else (right or np.nan)
        return _BINARY[type(node.op)](left, right)

    return walk(tree)


# --- the query -------------------------------------------------------------------------------------

def _bounds(con: duckdb.DuckDBPyConnection, query: TrendQuery) -> tuple[date, date]:
    first, last = con.execute("select min(day), max(day) from daily_events").fetchone()
    if first is None:
        raise PondError("the warehouse holds no events yet; import a file or build the demo")
    return query.start or first, query.end or last


def _series_sql(series: Series, query: TrendQuery, breakdown_sql: str) -> tuple[str, dict]:
    conditions, params = compile_conditions((*query.where, *series.filters))
    sql = f"""with scoped as (
        select
            cast((e.event_time at time zone 'UTC') at time zone $tz as date) as day,
            e.user_id, e.amount, {breakdown_sql} as raw_breakdown
        from events as e
        left join users as u on u.user_id = e.user_id
        where e.event_time >= $lo and e.event_time < $hi
            and (e.event_type = $event or ($event = 'any' and not list_contains($passive, e.event_type)))
            and {conditions}
    ),

    in_range as (
        select * from scoped where day between $start and $end
    ),

    bucketed as (
        select
            cast(date_trunc($interval, day) as date) as period,
            case when raw_breakdown is null then '{NONE}'
                 when $limited and not list_contains($top, raw_breakdown) then '{OTHER}'
                 else raw_breakdown end as breakdown,
            user_id, amount
        from in_range
    ),

    final as (
        select
            period, breakdown,
            count(*) as events,
            count(distinct user_id) as users,
            cast(sum(cast(amount as decimal(18, 4))) as double) as sum_amount,
            avg(amount) as avg_amount,
            count(amount) as amount_events
        from bucketed
        group by period, breakdown
    )

    select * from final"""
    return sql, params


def _run_series(con, series: Series, query: TrendQuery, start: date, end: date, top: list[str] | None
                ) -> pd.DataFrame:
    column = f"'{ALL}'" if query.breakdown is None else f"cast({PROPERTIES[query.breakdown][0]} as varchar)"
    sql, params = _series_sql(series, query, column)
    params.update(
        tz=business_timezone(con), event=series.event, passive=list(PASSIVE_EVENT_TYPES),
        start=start, end=end, interval=query.interval, limited=top is not None, top=top or [""],
        lo=datetime.combine(start, time()) - timedelta(days=1), hi=datetime.combine(end, time()) + timedelta(days=2))
    frame = read_sql(con, sql, params).df()
    frame["period"] = pd.to_datetime(frame["period"]).dt.date
    return frame


def _top_values(con, query: TrendQuery, start: date, end: date
                ) -> tuple[list[str] | None, list[pd.DataFrame] | None]:
    """The breakdown values with the most events over every series, most first (None: no breakdown),
    and each series' frame from this ranking pass where it is already the answer (None where the
    series must run again): every one when every value made the list, else those whose measure adds
    up across values, with the rest folded into ``Other``."""
    if query.breakdown is None:
        return None, None
    frames = [_run_series(con, series, query, start, end, None) for series in query.series]
    totals: dict[str, int] = {}
    for frame in frames:
        for value, events in frame.groupby("breakdown")["events"].sum().items():
            totals[value] = totals.get(value, 0) + int(events)
    named = sorted((v for v in totals if v != NONE), key=lambda v: (-totals[v], v))
    top = named[:query.limit]
    if len(named) <= query.limit:
        return top, frames
    # events and amounts add up across values: fold the rest into Other; distinct users do not (a user
    # of two values is one user of Other), so a series counted in users runs again with the list
    folded = [_fold(frame, top) if series.measure not in ("users", "per_user") else None
              for series, frame in zip(query.series, frames, strict=True)]
    return top, folded


def _fold(frame: pd.DataFrame, top: list[str]) -> pd.DataFrame:
    """A ranking pass's rows with every value outside ``top`` (and not missing) summed as Other."""
    named = frame["breakdown"].map(lambda v: v if v in top or v == NONE else OTHER)
    folded = frame.assign(breakdown=named, amount_total=frame["avg_amount"] * frame["amount_events"])
    out = folded.groupby(["period", "breakdown"], as_index=False).agg(
        events=("events", "sum"), users=("users", "sum"), sum_amount=("sum_amount", "sum"),
        amount_total=("amount_total", "sum"), amount_events=("amount_events", "sum"))
    out["avg_amount"] = out["amount_total"] / out["amount_events"].where(out["amount_events"] > 0)
    return out.drop(columns="amount_total")


def _periods(start: date, end: date, interval: str) -> list[date]:
    firsts = pd.period_range(start, end, freq={"day": "D", "week": "W-SUN", "month": "M"}[interval])
    return [p.start_time.date() for p in firsts]


def _measured(frame: pd.DataFrame, measure: str) -> pd.Series:
    if measure == "per_user":
        return frame["events"] / frame["users"].where(frame["users"] > 0)
    return frame[measure].astype(float)


def _one_range(con, query: TrendQuery, start: date, end: date, top: list[str] | None,
               frames: list[pd.DataFrame] | None = None) -> pd.DataFrame:
    """The trend over [start, end] split by the breakdown values ``top``; ``frames``: the series'
    results when they are already at hand (see :func:`_top_values`)."""
    parts = []
    for n, (letter, series) in enumerate(zip(LETTERS, query.series, strict=False)):
        known = frames[n] if frames is not None else None
        frame = known if known is not None else _run_series(con, series, query, start, end, top)
        frame["value"] = _measured(frame, series.measure)
        parts.append(frame[["period", "breakdown", "value", "events"]].assign(series=letter))
    raw = pd.concat(parts, ignore_index=True)
    present = set(raw["breakdown"])
    # biggest first, then Other and (none); every top value is shown, even with no event in this range
    values = [ALL] if query.breakdown is None else [*(top or []), *[v for v in (OTHER, NONE) if v in present]]
    values = values or [NONE]
    grid = pd.MultiIndex.from_product([[LETTERS[i] for i in range(len(query.series))], values,
                                       _periods(start, end, query.interval)], names=["series", "breakdown", "period"])
    filled = raw.set_index(["series", "breakdown", "period"])["value"].reindex(grid).reset_index()
    # no event in a period: a count is 0, an average has no value
    for letter, series in zip(LETTERS, query.series, strict=False):
        if series.measure in ("events", "users", "sum_amount"):
            rows = filled["series"] == letter
            filled.loc[rows, "value"] = filled.loc[rows, "value"].fillna(0.0)
    if query.formula:
        wide = filled.pivot_table(index=["breakdown", "period"], columns="series", values="value", dropna=False)
        result = evaluate_formula(query.formula, {c: wide[c] for c in wide.columns})
        formula = result.rename("value").reset_index().assign(series="formula")
        filled = pd.concat([filled, formula[["series", "breakdown", "period", "value"]]], ignore_index=True)
    return mark_complete(filled, query.interval, start, end)


def trends(con: duckdb.DuckDBPyConnection, query: TrendQuery | None = None) -> TrendResult:
    """Compute a trend; see the module docstring for the rules."""
    query = query or TrendQuery()
    start, end = _bounds(con, query)
    top, ranked = _top_values(con, query, start, end)
    frame = _one_range(con, query, start, end, top, ranked)
    if query.compare:  # the previous period split by the same values, so that each line has its own past
        days = (end - start).days + 1
        before = _one_range(con, query, start - timedelta(days=days), start - timedelta(days=1), top)
        for part in (frame, before):
            part["position"] = part.groupby(["series", "breakdown"]).cumcount()
        earlier = before.set_index(["series", "breakdown", "position"])["value"].rename("previous")
        frame = frame.join(earlier, on=["series", "breakdown", "position"]).drop(columns="position")
    order = {value: n for n, value in enumerate(dict.fromkeys(frame["breakdown"]))}  # biggest first, as built
    frame = frame.sort_values(["series", "breakdown", "period"], kind="stable",
                              key=lambda c: c.map(order) if c.name == "breakdown" else c).reset_index(drop=True)
    labels = {letter: series.describe() for letter, series in zip(LETTERS, query.series, strict=False)}
    if query.formula:
        labels["formula"] = query.formula.upper()
    return TrendResult(frame[["period", "series", "breakdown", "value", "complete",
                              *(["previous"] if query.compare else [])]], query, labels)
