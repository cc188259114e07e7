"""Headline metrics for the overview: KPIs against the previous period, daily activity.

Every function reads the rollups (``user_day``, ``daily_events``), never the raw events, and works
on business days (the warehouse's business time zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import duckdb
import pandas as pd

from engine.store import scope
from engine.store.warehouse import business_timezone, data_version, read_sql, run_query

KPI_LABELS = {
    "dau": "DAU (average)",
    "wau": "WAU",
    "mau": "MAU",
    "new_users": "New users",
    "orders": "Orders",
    "gmv": "GMV",
    "conversion_rate": "Conversion rate",
}


@dataclass(frozen=True)
class Period:
    """An inclusive range of business days."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))


def _params(con: duckdb.DuckDBPyConnection, period: Period, channel: str | None) -> dict:
    return {"start": period.start, "end": period.end, "channel": channel, "tz": business_timezone(con)}


def kpis(con: duckdb.DuckDBPyConnection, period: Period, *, channel: str | None = None) -> dict[str, float]:
    """DAU (daily average), WAU, MAU, new users, orders, GMV and conversion rate for a period.

    WAU and MAU count the users of the 7 and 30 days that end on the period's last day;
    conversion rate is buyers / active users within the period (0 when nobody was active).
    """
    row = run_query(con, "kpi_summary", _params(con, period, channel)).iloc[0]
    active = int(row["active_users"])
    return {
        "dau": float(row["dau"]),
        "wau": int(row["wau"]),
        "mau": int(row["mau"]),
        "new_users": int(row["new_users"]),
        "orders": int(row["orders"]),
        "gmv": float(row["gmv"]),
        "conversion_rate": (int(row["buyers"]) / active) if active else 0.0,
        "active_users": active,
        "buyers": int(row["buyers"]),
        "refunds": float(row["refunds"]),
    }


def history_start(con: duckdb.DuckDBPyConnection) -> date | None:
    """The first business day of the dense history, or None when nobody was ever active.

    Stray early stamps, or an old sample file followed by months of silence, do not count: a
    previous period that holds only those is not data to compare with (see the query).
    """
    start = run_query(con, "history_start")["start_day"].iloc[0]
    return None if pd.isna(start) else pd.Timestamp(start).date()


def comparison_note(period: Period, first_day: date | None) -> str | None:
    """Why a period cannot be compared with the one before it, or None when it can.

    The previous period must lie wholly inside the data: against days before the first event, every
    KPI would look like growth from nothing.
    """
    before = period.previous()
    if first_day is None or before.start < first_day:
        since = "no activity yet" if first_day is None else f"data starts on {first_day:%Y-%m-%d}"
        if period.days == 1:
            return f"no comparison: {since}, so the day before ({before.start:%Y-%m-%d}) has none"
        return (f"no comparison: {since}, so the previous {period.days} days "
                f"({before.start:%Y-%m-%d} – {before.end:%Y-%m-%d}) are not all covered")
    return None


def kpi_comparison(con: duckdb.DuckDBPyConnection, period: Period, *,
                   channel: str | None = None) -> pd.DataFrame:
    """KPIs of a period next to the previous period of equal length, with the relative change.

    Columns: ``kpi, label, value, previous, change, compared_with``. ``change`` is a fraction, NaN
    when the previous value is 0. When the previous period reaches before the first day of data,
    ``previous`` and ``change`` are NaN and ``compared_with`` says so (see :func:`comparison_note`);
    otherwise it names the previous period's days.
    """
    now = kpis(con, period, channel=channel)
    before = period.previous()
    note = comparison_note(period, history_start(con))
    earlier = None if note else kpis(con, before, channel=channel)
    rows = []
    for key, label in KPI_LABELS.items():
        prev = float("nan") if earlier is None else earlier[key]
        change = (now[key] - prev) / prev if earlier is not None and prev else float("nan")
        rows.append({"kpi": key, "label": label, "value": now[key], "previous": prev, "change": change,
                     "compared_with": note or f"{before.start:%Y-%m-%d} – {before.end:%Y-%m-%d}"})
    return pd.DataFrame(rows)


def rolling_active_users(con: duckdb.DuckDBPyConnection, params: dict, window: int) -> pd.DataFrame:
    """``day, dau, active`` for every business day of ``params``' [start, end]: ``active`` counts
    the distinct users active in the ``window`` days that end on that day."""
    frame = run_query(con, "rolling_active_users", {**params, "window": window})
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def active_users_by_day(con: duckdb.DuckDBPyConnection, period: Period, *, channel: str | None = None
                        ) -> pd.DataFrame:
    """``day, dau, wau, mau`` for every business day of the period, each as the KPI cards define it
    for a period that ends on that day (WAU: the 7 days ending that day, MAU: the 30)."""
    params = _params(con, period, channel)
    week = rolling_active_users(con, params, 7)
    month = rolling_active_users(con, params, 30)
    return pd.DataFrame({"day": week["day"], "dau": week["dau"].astype("int64"),
                         "wau": week["active"].astype("int64"), "mau": month["active"].astype("int64")})


def daily_events(con: duckdb.DuckDBPyConnection, period: Period, *, channel: str | None = None
                 ) -> pd.DataFrame:
    """Events per business day and event type (columns ``day, event_type, events, amount``)."""
    return run_query(con, "daily_events_by_type", _params(con, period, channel))


def daily_activity(con: duckdb.DuckDBPyConnection, period: Period, *, channel: str | None = None
                   ) -> pd.DataFrame:
    """Active users, buyers, orders and GMV per business day."""
    return run_query(con, "daily_active_users", _params(con, period, channel))


def warehouse_summary(con: duckdb.DuckDBPyConnection) -> dict:
    """Counts, the span of events and days, the last import, the version and the time zone, of the
    whole warehouse (a property filter in force does not narrow it)."""
    with scope.applied(()):
        row = run_query(con, "warehouse_summary").iloc[0].to_dict()
    row = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    row["version"] = data_version(con)
    row["timezone"] = business_timezone(con)
    for key in ("first_day", "last_day"):
        if row[key] is not None:
            row[key] = pd.Timestamp(row[key]).date()
    return row


def channels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Channels present in the events, busiest first."""
    return run_query(con, "channel_list")["channel"].tolist()


def kpi_breakdown(con: duckdb.DuckDBPyConnection, period: Period, prop: str, *, channel: str | None = None,
                  limit: int = 5) -> pd.DataFrame:
    """The KPIs of :func:`kpis` for the whole and for each value of ``prop`` (see
    :mod:`engine.behaviour.breakdowns`), in one pass over the events: one row per bucket, ``breakdown``
    first; buckets nobody was active in (and nobody new) are left out."""
    from engine.behaviour.breakdowns import ALL, NONE, OTHER, rows_sql, top_values

    top = top_values(con, prop, period.start, period.end, limit)
    first = min(period.start, period.end - timedelta(days=29))
    params = {**_params(con, period, channel), "top": top or [""], "lo_day": first,
              "lo": datetime.combine(first, time()) - timedelta(days=1),
              "hi": datetime.combine(period.end, time()) + timedelta(days=2)}
    sql = rows_sql("kpi_breakdown", prop)
    split = read_sql(con, sql, params).df().set_index("breakdown")
    whole = kpis(con, period, channel=channel)
    rows = [{"breakdown": ALL, **whole}]
    for label in [*top, OTHER, NONE]:
        if label in split.index:
            row = split.loc[label]
            active = int(row["active_users"])
            rows.append({"breakdown": label, "dau": float(row["dau"]), "wau": int(row["wau"]), "mau": int(row["mau"]),
                         "new_users": int(row["new_users"]), "orders": int(row["orders"]), "gmv": float(row["gmv"]),
                         "conversion_rate": int(row["buyers"]) / active if active else 0.0,
                         "active_users": active, "buyers": int(row["buyers"])})
    frame = pd.DataFrame(rows)
    frame = frame[(frame["breakdown"] == ALL) | (frame["active_users"] > 0) | (frame["new_users"] > 0)]
    return frame[["breakdown", *KPI_LABELS, "active_users", "buyers"]].reset_index(drop=True)
