"""Headline metrics for the overview: KPIs against the previous period, daily activity.

Every function reads the rollups (``user_day``, ``daily_events``), never the raw events, and works
on business days (the warehouse's business time zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from engine.warehouse import business_timezone, data_version, run_query

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


def kpi_comparison(con: duckdb.DuckDBPyConnection, period: Period, *,
                   channel: str | None = None) -> pd.DataFrame:
    """KPIs of a period next to the previous period of equal length, with the relative change.

    Columns: ``kpi, label, value, previous, change`` (change is a fraction, NaN when the previous
    value is 0).
    """
    now, before = kpis(con, period, channel=channel), kpis(con, period.previous(), channel=channel)
    rows = []
    for key, label in KPI_LABELS.items():
        prev = before[key]
        change = (now[key] - prev) / prev if prev else float("nan")
        rows.append({"kpi": key, "label": label, "value": now[key], "previous": prev, "change": change})
    return pd.DataFrame(rows)


def daily_events(con: duckdb.DuckDBPyConnection, period: Period, *, channel: str | None = None
                 ) -> pd.DataFrame:
    """Events per business day and event type (columns ``day, event_type, events, amount``)."""
    return run_query(con, "daily_events_by_type", _params(con, period, channel))


def daily_activity(con: duckdb.DuckDBPyConnection, period: Period, *, channel: str | None = None
                   ) -> pd.DataFrame:
    """Active users, buyers, orders and GMV per business day."""
    return run_query(con, "daily_active_users", _params(con, period, channel))


def warehouse_summary(con: duckdb.DuckDBPyConnection) -> dict:
    """Counts, the span of events and days, the last import, the version and the time zone."""
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
