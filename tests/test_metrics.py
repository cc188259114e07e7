"""Overview KPIs on a hand-made week with exact expected values."""

from __future__ import annotations

import math
from datetime import date

import pytest

from engine.behaviour import metrics
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
    # Jan 9-15 against Jan 2-8, the first day of data and after
    table = metrics.kpi_comparison(week, metrics.Period(date(2024, 1, 9), date(2024, 1, 15))).set_index("kpi")
    assert table.loc["dau", "previous"] == 3 / 7  # u1 on the 2nd and 8th, u3 on the 3rd
    assert table.loc["dau", "change"] == pytest.approx((5 / 7 - 3 / 7) / (3 / 7))
    assert table.loc["new_users", ["value", "previous", "change"]].tolist() == [3, 2, 0.5]
    assert table.loc["gmv", ["value", "previous"]].tolist() == [80.0, 100.0]
    assert table.loc["gmv", "change"] == pytest.approx(-0.2)
    assert (table["compared_with"] == "2024-01-02 – 2024-01-08").all()
    assert table.index.tolist() == list(metrics.KPI_LABELS)


def test_no_comparison_against_days_before_the_data(week):
    # the week before Jan 8-14 starts on Jan 1, the day before the first event: no change is shown
    table = metrics.kpi_comparison(week, WEEK).set_index("kpi")
    assert table["previous"].isna().all() and table["change"].isna().all()
    assert table.loc["dau", "value"] == 5 / 7
    assert table.loc["dau", "compared_with"].startswith("no comparison: data starts on 2024-01-02")
    whole = metrics.kpi_comparison(week, metrics.Period(date(2024, 1, 2), date(2024, 1, 15)))
    assert whole["change"].isna().all()


def test_comparison_when_the_previous_value_is_zero(week):
    table = metrics.kpi_comparison(week, metrics.Period(date(2024, 1, 14), date(2024, 1, 15))).set_index("kpi")
    assert table.loc["gmv", ["value", "previous"]].tolist() == [30.0, 0.0]
    assert math.isnan(table.loc["gmv", "change"])  # nothing to compare with


def test_wau_and_mau_end_on_the_last_day_whatever_the_range(week):
    # the 30 days ending Feb 10 (Jan 12 - Feb 10) hold u4 and u5 only; u3 was merely shown a post on
    # the 12th. A range of 30 days must not reach back another 29 (that would count all 5).
    k = metrics.kpis(week, metrics.Period(date(2024, 1, 12), date(2024, 2, 10)))
    assert (k["wau"], k["mau"]) == (0, 2)
    k = metrics.kpis(week, metrics.Period(date(2024, 1, 9), date(2024, 1, 15)))
    assert (k["wau"], k["mau"]) == (4, 5)  # u1, u2, u4, u5 in Jan 9-15; everyone in the 30 days
    by_day = metrics.active_users_by_day(week, metrics.Period(date(2024, 1, 7), date(2024, 1, 15)))
    assert by_day.columns.tolist() == ["day", "dau", "wau", "mau"]
    assert by_day.set_index("day").loc[date(2024, 1, 10)].tolist() == [1, 2, 3]  # u2; u1, u2; u1, u2, u3 (3rd)
    last = by_day.iloc[-1]
    assert (last["wau"], last["mau"]) == (k["wau"], k["mau"])


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
