"""ClickHouse parity, one level up from the queries: every analysis a page or the CLI calls, run through
the engine's own functions on a DuckDB connection and on a ClickHouse (chDB) connection holding the same
data, gives the same answer (multisets of rows, floats to 6 significant digits).

The analyses do not know which backend they run on: the same call gets either connection.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("chdb")

from engine.behaviour import metrics  # noqa: E402

END = date(2026, 12, 3)  # the shared demo's end (tests/test_clickhouse_parity.py)
LAST = END - timedelta(days=1)
MONTH = metrics.Period(LAST - timedelta(days=29), LAST)


@pytest.fixture(scope="module")
def both(chdb_warehouses):
    """(DuckDB connection, ClickHouse connection) over the same demo (tests/conftest.py)."""
    return chdb_warehouses


def _normal(value):
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime().replace(tzinfo=None)
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(_normal(v) for v in value)
    return value


def _rows(frame: pd.DataFrame) -> list[tuple]:
    frame = frame.reset_index(drop=True)
    return sorted((tuple(_normal(v) for v in row) for row in frame.itertuples(index=False, name=None)), key=repr)


def same(a, b) -> None:
    """Equal answers: frames as multisets of rows with the same columns; dicts and scalars value by value."""
    if isinstance(a, pd.DataFrame):
        assert list(a.columns) == list(b.columns)
        assert len(a) == len(b)
        assert _rows(a) == _rows(b)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            same(a[key], b[key])
    elif isinstance(a, list | tuple):
        assert [_normal(x) for x in a] == [_normal(x) for x in b]
    else:
        assert _normal(a) == _normal(b)


def _retention():
    from engine.behaviour.retention import RetentionQuery, retention_matrix

    return lambda con: retention_matrix(con, RetentionQuery(start=LAST - timedelta(days=55), end=LAST))


def _funnel():
    from engine.behaviour.funnels import FunnelQuery, funnel

    return lambda con: funnel(con, FunnelQuery(steps=("view", "cart", "purchase"), start=MONTH.start,
                                               end=MONTH.end)).steps


def _trends():
    from engine.behaviour.trends import Series, TrendQuery, trends

    return lambda con: trends(con, TrendQuery((Series("view"), Series("purchase", measure="users")),
                                              start=MONTH.start, end=MONTH.end)).frame


def _paths():
    from engine.behaviour.paths import PathQuery, paths

    return lambda con: paths(con, PathQuery(event="view", start=MONTH.start, end=MONTH.end)).paths


def _content():
    from engine.behaviour.content import content_performance

    return lambda con: content_performance(con, start=MONTH.start, end=MONTH.end)


def _lifecycle():
    from engine.behaviour.lifecycle import lifecycle

    return lambda con: lifecycle(con, start=MONTH.start, end=MONTH.end)


def _communities():
    from engine.behaviour.communities import community_leaderboard

    return lambda con: community_leaderboard(con, start=MONTH.start, end=MONTH.end)


def _rfm():
    from engine.customers.rfm import rfm_scores

    return lambda con: rfm_scores(con, as_of=LAST)


def _share_graph():
    from engine.social.network import share_graph

    return lambda con: share_graph(con).sharers


def _experiments():
    from engine.social.experiments import list_experiments

    return list_experiments


def _growth():
    from engine.predictions.growth import growth_series

    return growth_series


ANALYSES = {
    "kpis": lambda con: metrics.kpis(con, MONTH),
    "kpi_comparison": lambda con: metrics.kpi_comparison(con, MONTH),
    "daily_events": lambda con: metrics.daily_events(con, MONTH),
    "active_users_by_day": lambda con: metrics.active_users_by_day(con, MONTH),
    "channels": metrics.channels,
    "retention_matrix": _retention(),
    "funnel_steps": _funnel(),
    "trends": _trends(),
    "paths": _paths(),
    "content_performance": _content(),
    "lifecycle": _lifecycle(),
    "community_leaderboard": _communities(),
    "rfm_scores": _rfm(),
    "share_graph_sharers": _share_graph(),
    "experiments": _experiments(),
    "growth_series": _growth(),
}


@pytest.mark.parametrize("name", sorted(ANALYSES))
def test_the_analysis_answers_the_same_on_clickhouse(both, name):
    duck, ch = both
    same(ANALYSES[name](duck), ANALYSES[name](ch))


def test_timestamps_come_back_as_duckdb_gives_them(both):
    """Naive UTC datetimes in frames (a page's pandas code localises them itself) and dates as dates."""
    duck, ch = both
    sql = "select min(event_time) as first, max(cast(event_time as date)) as last_day from events"
    on_duck, on_ch = duck.execute(sql).df(), ch.execute(sql).df()
    for frame in (on_duck, on_ch):  # the resolution may differ (us, ns); the zone may not
        assert pd.api.types.is_datetime64_dtype(frame["first"]) and frame["first"].dt.tz is None
    assert on_ch["first"].iloc[0] == on_duck["first"].iloc[0]
    assert ch.execute(sql).fetchone() == duck.execute(sql).fetchone()


def test_the_funnel_trend_answers_the_same(both):
    from engine.behaviour.funnels import FunnelQuery, funnel, funnel_trend

    duck, ch = both
    query = FunnelQuery(steps=("view", "cart", "purchase"), start=MONTH.start, end=MONTH.end)
    same(funnel_trend(duck, funnel(duck, query)), funnel_trend(ch, funnel(ch, query)))
