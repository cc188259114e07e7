"""Survival curves: how long users stay, per group (channel, community, RFM segment, a saved segment).

A user has **churned** when they have had no activity (any action of their own, or a purchase when
``basis="purchase"``) for ``inactivity_days`` up to the last day of data; their lifetime is first
to last active day. Everyone else is still active and their lifetime is *censored* at the last day.
Curves are Kaplan–Meier estimates with 95% bands; groups are compared with a log-rank test.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from engine.customers.rfm import rfm_scores
from engine.customers.segments import load_segment, segment_users
from engine.errors import InsufficientDataError, PondError
from engine.predictions.churn import BASES, last_day
from engine.store.warehouse import run_query

GROUPS = ("none", "channel", "community", "rfm", "segment")


def lifetimes(con: duckdb.DuckDBPyConnection, *, inactivity_days: int = 30, basis: str = "activity"
              ) -> pd.DataFrame:
    """Per user: first_day, last_day, duration (days), churned (event observed), channel, community."""
    if basis not in BASES:
        raise PondError(f"basis must be activity or purchase, not {basis!r}")
    if not 1 <= inactivity_days <= 365:
        raise PondError("churn needs 1 to 365 days without activity")
    end = last_day(con)
    frame = run_query(con, "churn_lifetimes", {"basis": basis})
    if frame.empty:
        raise InsufficientDataError("no user has a purchase yet" if basis == "purchase" else "no activity yet")
    frame["first_day"] = pd.to_datetime(frame["first_day"]).dt.date
    frame["last_day"] = pd.to_datetime(frame["last_day"]).dt.date
    away = np.array([(end - d).days for d in frame["last_day"]])
    frame["churned"] = away >= inactivity_days
    # a churned user's life ends on their last active day; the others are still alive at the end
    ends = np.where(frame["churned"], [(d - f).days for d, f in zip(frame["last_day"], frame["first_day"],
                                                                   strict=True)],
                    [(end - f).days for f in frame["first_day"]])
    frame["duration"] = ends + 1
    return frame


def _group_labels(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, group: str, segment: str | None
                  ) -> pd.Series:
    if group == "none":
        return pd.Series("everyone", index=frame.index)
    if group in ("channel", "community"):
        return frame[group].astype(str)
    if group == "rfm":
        scores = rfm_scores(con).set_index("user_id")["segment"]
        return frame["user_id"].map(scores).fillna("not a buyer (365 days)")
    if group == "segment":
        if not segment:
            raise PondError("choose a saved segment to compare with everyone else")
        members = set(segment_users(con, load_segment(con, segment))["user_id"])
        return frame["user_id"].map(lambda u: segment if u in members else "everyone else")
    raise PondError(f"group by one of {', '.join(GROUPS)}, not {group!r}")


@dataclass
class SurvivalResult:
    curves: pd.DataFrame          # group, day, survival, low, high
    groups: pd.DataFrame          # group, users, churned, active, median_lifetime
    logrank_p: float | None
    inactivity_days: int
    basis: str


def survival(con: duckdb.DuckDBPyConnection, *, inactivity_days: int = 30, basis: str = "activity",
             group: str = "none", segment: str | None = None, max_groups: int = 8) -> SurvivalResult:
    """Kaplan–Meier curves with 95% bands per group, median lifetimes and a log-rank test."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    frame = lifetimes(con, inactivity_days=inactivity_days, basis=basis)
    frame["group"] = _group_labels(con, frame, group, segment)
    top = frame["group"].value_counts().index[:max_groups]
    frame.loc[~frame["group"].isin(top), "group"] = "other"
    curves, rows = [], []
    for name, part in frame.groupby("group", sort=True):
        km = KaplanMeierFitter().fit(part["duration"], part["churned"], label="survival")
        table = km.survival_function_.join(km.confidence_interval_)
        table.columns = ["survival", "low", "high"]
        curves.append(table.rename_axis("day").reset_index().assign(group=name))
        median = km.median_survival_time_
        rows.append({"group": name, "users": len(part), "churned": int(part["churned"].sum()),
                     "active": int((~part["churned"]).sum()),
                     "median_lifetime": None if not np.isfinite(median) else float(median)})
    p_value = None
    if frame["group"].nunique() > 1:
        test = multivariate_logrank_test(frame["duration"], frame["group"], frame["churned"])
        p_value = float(test.p_value)
    return SurvivalResult(pd.concat(curves, ignore_index=True)[["group", "day", "survival", "low", "high"]],
                          pd.DataFrame(rows), p_value, inactivity_days, basis)
