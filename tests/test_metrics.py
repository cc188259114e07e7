"""Overview KPIs on a hand-made week with exact expected values."""

from __future__ import annotations

import math
from datetime import date

import pytest

from engine import metrics
from engine.ingest import import_file

EVENTS = """user_id,event_type,event_time,channel,order_id,amount
u1,view,2024-01-02 10:00:00,,,
u3,view,2024-01-03 10:00:00,,,
u1,view,2024-01-08 10:00:00,,,
u1,purchase,2024-01-08 10:05:00,,o1,100
u1,purchase,2024-01-09 10:05:00,,o2,50
u2,view,2024-01-09 12:00:00,douyin,,
u2,cart,2024-01-10 12:00:00,douyin,,
u4,view,2024-01-14 09:00:00,douyin,,
u4,purchase,2024-01-14 09:30:00,douyin,,30
u3,coupon_issue,2024-01-11 10:00:00,,,
u3,impression,2024-01-12 10:00:00,douyin,,
u5,refund,2024-01-15 09:30:00,,o9,20
"""
WEEK = metrics.Period(date(2024, 1, 8), date(2024, 1, 14))


@pytest.fixture
def week(con, write):
    import_file(con, write("week.csv", EVENTS))
    return con


def test_kpis_of_a_week(week):
    # u3 was only pushed a coupon and shown a post this week: not an active user
    k = metrics.kpis(week, WEEK)
    assert k == {"dau": 5 / 7, "wau": 3, "mau": 4, "new_users": 2, "orders": 3, "gmv": 180.0,
                 "conversion_rate": 2 / 3, "active_users": 3, "buyers": 2, "refunds": 0.0}


def test_kpis_for_one_channel(week):
    k = metrics.kpis(week, WEEK, channel="douyin")
    assert (k["dau"], k["wau"], k["mau"], k["new_users"], k["orders"], k["gmv"], k["conversion_rate"]) == (
        3 / 7, 2, 2, 2, 1, 30.0, 0.5)


def test_comparison_with_the_previous_week(week):
    table = metrics.kpi_comparison(week, WEEK).set_index("kpi")
    assert table.loc["dau", "previous"] == 2 / 7
    assert table.loc["dau", "change"] == pytest.approx((5 / 7 - 2 / 7) / (2 / 7))
    assert table.loc["new_users", "change"] == 0.0  # 2 new users in both weeks
    assert math.isnan(table.loc["gmv", "change"])  # nothing to compare with
    assert table.index.tolist() == list(metrics.KPI_LABELS)


def test_empty_period_and_unknown_channel_give_zeros(week):
    k = metrics.kpis(week, metrics.Period(date(2023, 1, 1), date(2023, 1, 7)))
    assert k["dau"] == 0 and k["conversion_rate"] == 0.0 and k["gmv"] == 0.0
    assert metrics.kpis(week, WEEK, channel="nowhere")["mau"] == 0


def test_daily_series(week):
    events = metrics.daily_events(week, WEEK)
    assert events[events.day.dt.date == date(2024, 1, 8)][["event_type", "events"]].values.tolist() == [
        ["purchase", 1], ["view", 1]]
    activity = metrics.daily_activity(week, WEEK)
    assert activity[["active_users", "buyers", "orders", "gmv"]].sum().tolist() == [5, 3, 3, 180.0]


def test_channels_and_summary(week):
    assert metrics.channels(week) == ["douyin"]
    summary = metrics.warehouse_summary(week)
    assert (summary["events"], summary["users"], summary["first_day"], summary["last_day"],
            summary["last_upload_file"], summary["version"]) == (
        12, 5, date(2024, 1, 2), date(2024, 1, 15), "week.csv", 1)


def test_period_rules():
    assert WEEK.days == 7 and WEEK.previous() == metrics.Period(date(2024, 1, 1), date(2024, 1, 7))
    with pytest.raises(ValueError, match="ends .* before it starts"):
        metrics.Period(date(2024, 1, 2), date(2024, 1, 1))
