"""RFM: recency, frequency and monetary scores per customer, and named segments from rules.

Scores run 1-5 (5 = most recent, most frequent, most spent) as percentile buckets computed in
DuckDB, so customers with equal values share a score. Segment rules are data: each rule gives
inclusive score ranges for R, F and M, and the first matching rule in list order names the
customer (no match: "Other"). :data:`DEFAULT_RULES` is the widely used eleven-segment scheme; the
Segments page lets a marketer edit it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store.warehouse import run_query


@dataclass(frozen=True)
class RfmRule:
    segment: str
    r: tuple[int, int]
    f: tuple[int, int]
    m: tuple[int, int]


DEFAULT_RULES: tuple[RfmRule, ...] = (
    RfmRule("Champions", (4, 5), (4, 5), (4, 5)),
    RfmRule("Loyal Customers", (3, 5), (3, 5), (3, 5)),
    RfmRule("Can't Lose Them", (1, 1), (4, 5), (4, 5)),
    RfmRule("At Risk", (1, 2), (3, 5), (3, 5)),
    RfmRule("Potential Loyalists", (3, 5), (2, 3), (1, 5)),
    RfmRule("New Customers", (4, 5), (1, 1), (1, 5)),
    RfmRule("Promising", (3, 3), (1, 1), (1, 5)),
    RfmRule("Need Attention", (2, 3), (2, 3), (2, 5)),
    RfmRule("About to Sleep", (2, 3), (1, 2), (1, 5)),
    RfmRule("Hibernating", (1, 2), (1, 2), (2, 5)),
    RfmRule("Lost", (1, 2), (1, 2), (1, 1)),
)
RULE_COLUMNS = ["segment", "r_low", "r_high", "f_low", "f_high", "m_low", "m_high"]


def rules_frame(rules: tuple[RfmRule, ...] = DEFAULT_RULES) -> pd.DataFrame:
    """Rules as an editable table (one row per segment, in priority order)."""
    return pd.DataFrame([[r.segment, *r.r, *r.f, *r.m] for r in rules], columns=RULE_COLUMNS)


def rules_from_frame(frame: pd.DataFrame) -> tuple[RfmRule, ...]:
    """Check an edited rules table and turn it back into rules; says which row is wrong."""
    rules = []
    for number, row in enumerate(frame.dropna(how="all").itertuples(index=False), start=1):
        name = str(row.segment or "").strip()
        if not name:
            raise PondError(f"rule {number} has no segment name")
        bounds = []
        for score in ("r", "f", "m"):
            low, high = getattr(row, f"{score}_low"), getattr(row, f"{score}_high")
            try:
                low, high = int(low), int(high)
            except (TypeError, ValueError) as exc:
                raise PondError(f"rule {number} ({name}): {score.upper()} bounds must be whole numbers 1-5"
                                ) from exc
            if not 1 <= low <= high <= 5:
                raise PondError(f"rule {number} ({name}): {score.upper()} must go from a low to a high "
                                f"score within 1-5, not {low}-{high}")
            bounds.append((low, high))
        rules.append(RfmRule(name, *bounds))
    if not rules:
        raise PondError("keep at least one segment rule")
    return tuple(rules)


def rfm_scores(con: duckdb.DuckDBPyConnection, *, as_of: date | None = None, lookback_days: int = 365,
               channel: str | None = None, rules: tuple[RfmRule, ...] = DEFAULT_RULES) -> pd.DataFrame:
    """``user_id, recency_days, frequency, monetary, r, f, m, segment`` for every customer.

    Parameters
    ----------
    as_of
        Business day the scores are computed at (default: the last day of data).
    lookback_days
        Only purchases in the ``lookback_days`` days up to ``as_of`` count.
    """
    if not 1 <= lookback_days <= 3650:
        raise PondError(f"the lookback must be 1 to 3650 days, not {lookback_days}")
    as_of = as_of or con.execute("select max(day) from user_day").fetchone()[0] or date(1970, 1, 1)
    con.execute("create or replace temp table rfm_rules (segment varchar, priority integer, r_low integer, "
                "r_high integer, f_low integer, f_high integer, m_low integer, m_high integer)")
    con.executemany("insert into rfm_rules values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [[r.segment, i, *r.r, *r.f, *r.m] for i, r in enumerate(rules)])
    try:
        return run_query(con, "rfm_scores", {"as_of": as_of, "lookback": lookback_days, "channel": channel})
    finally:
        con.execute("drop table if exists rfm_rules")


def segment_sizes(scores: pd.DataFrame) -> pd.DataFrame:
    """Customers, share, total and average monetary value, average recency per segment."""
    if scores.empty:
        return pd.DataFrame(columns=["segment", "customers", "share", "monetary", "avg_monetary",
                                     "avg_recency_days", "avg_frequency"])
    out = scores.groupby("segment", as_index=False).agg(
        customers=("user_id", "count"), monetary=("monetary", "sum"), avg_monetary=("monetary", "mean"),
        avg_recency_days=("recency_days", "mean"), avg_frequency=("frequency", "mean"))
    out.insert(2, "share", out["customers"] / out["customers"].sum())
    return out.sort_values("customers", ascending=False).reset_index(drop=True)


def segment_transitions(con: duckdb.DuckDBPyConnection, *, as_of: date, period_days: int,
                        lookback_days: int = 365, channel: str | None = None,
                        rules: tuple[RfmRule, ...] = DEFAULT_RULES) -> pd.DataFrame:
    """How customers moved between segments from ``as_of - period_days`` to ``as_of``.

    Columns ``from_segment, to_segment, customers``; customers who were not yet customers at the
    earlier date come ``from`` "(not a customer yet)", those no longer customers go ``to``
    "(no purchase in lookback)".
    """
    before = rfm_scores(con, as_of=as_of - timedelta(days=period_days), lookback_days=lookback_days,
                        channel=channel, rules=rules)[["user_id", "segment"]]
    after = rfm_scores(con, as_of=as_of, lookback_days=lookback_days, channel=channel,
                       rules=rules)[["user_id", "segment"]]
    moved = before.merge(after, on="user_id", how="outer", suffixes=("_before", "_after"))
    moved["from_segment"] = moved["segment_before"].fillna("(not a customer yet)")
    moved["to_segment"] = moved["segment_after"].fillna("(no purchase in lookback)")
    return (moved.groupby(["from_segment", "to_segment"], as_index=False).size()
            .rename(columns={"size": "customers"}))
