"""Trends and the filter model on hand-made events with exact expected values.

All times UTC (the business zone); 2024-01-01 is a Monday.
  u1 (douyin, F): view A/c1 01-01 10:00, view B/c2 01-01 11:00, purchase A 01-02 (100)
  u2 (wechat, M): view A/c1 01-01 12:00, purchase A 01-03 (50)
  u3 (no channel, no gender): view C 01-02, impression 01-02 (not an action)
  u4 (douyin, no gender): purchase B 01-08 (30)
"""

from __future__ import annotations

import math
from datetime import date

import pytest

from engine.behaviour.trends import Series, TrendQuery, trends
from engine.errors import PondError
from engine.ingest import import_file
from engine.store.filters import Condition, compile_conditions, parse_condition

EVENTS = """user_id,event_type,event_time,item_id,category,channel,amount,gender
u1,view,2024-01-01 10:00:00,A,c1,douyin,,F
u1,view,2024-01-01 11:00:00,B,c2,douyin,,F
u1,purchase,2024-01-02 09:00:00,A,c1,douyin,100,F
u2,view,2024-01-01 12:00:00,A,c1,wechat,,M
u2,purchase,2024-01-03 09:00:00,A,c1,wechat,50,M
u3,view,2024-01-02 10:00:00,C,,,,
u3,impression,2024-01-02 10:01:00,,,,,
u4,purchase,2024-01-08 09:00:00,B,c2,douyin,30,
"""
DAYS = {"start": date(2024, 1, 1), "end": date(2024, 1, 3)}


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def values(result, series="A", breakdown="All"):
    frame = result.frame
    return frame[(frame["series"] == series) & (frame["breakdown"] == breakdown)]["value"].tolist()


def test_measures_by_day(shop):
    assert values(trends(shop, TrendQuery((Series("view", "events"),), **DAYS))) == [3, 1, 0]
    assert values(trends(shop, TrendQuery((Series("view", "users"),), **DAYS))) == [2, 1, 0]
    per_user = values(trends(shop, TrendQuery((Series("view", "per_user"),), **DAYS)))
    assert per_user[:2] == [1.5, 1.0] and math.isnan(per_user[2])  # nobody viewed on the 3rd
    assert values(trends(shop, TrendQuery((Series("purchase", "sum_amount"),), **DAYS))) == [0, 100, 50]
    average = values(trends(shop, TrendQuery((Series("purchase", "avg_amount"),), **DAYS)))
    assert math.isnan(average[0]) and average[1:] == [100, 50]
    # any action: impressions happen to users and do not count
    assert values(trends(shop, TrendQuery((Series("any", "events"),), **DAYS))) == [3, 2, 1]


@pytest.mark.parametrize("text, expected", [
    ("channel = douyin", [2, 1, 0]),
    ("channel != douyin", [1, 1, 1]),  # a missing channel is not douyin either
    ("channel in douyin,wechat", [3, 1, 1]),
    ("channel not in wechat", [2, 2, 0]),
    ("item contains a", [2, 1, 1]),
    ("amount between 40,100", [0, 1, 1]),
    ("amount > 60", [0, 1, 0]),
    ("amount <= 50", [0, 0, 1]),
    ("channel is set", [3, 1, 1]),
    ("channel is not set", [0, 1, 0]),
    ("category = c2", [1, 0, 0]),
    ("gender = F", [2, 1, 0]),  # a user property that only some users have
    ("gender is not set", [0, 1, 0]),
])
def test_every_operator(shop, text, expected):
    query = TrendQuery((Series("any", "events", (parse_condition(text),)),), **DAYS)
    assert values(trends(shop, query)) == expected


def test_global_filters_apply_to_every_series(shop):
    query = TrendQuery((Series("view"), Series("purchase")), where=(parse_condition("channel = wechat"),), **DAYS)
    result = trends(shop, query)
    assert values(result, "A") == [1, 0, 0] and values(result, "B") == [0, 0, 1]


def test_breakdown_with_other_and_none(shop):
    whole = {"start": date(2024, 1, 1), "end": date(2024, 1, 8), "interval": "week"}
    result = trends(shop, TrendQuery((Series("any"),), breakdown="channel", limit=1, **whole))
    # douyin 4 events, wechat 2 (-> Other), no channel 1
    assert list(dict.fromkeys(result.frame["breakdown"])) == ["douyin", "Other", "(none)"]
    assert values(result, breakdown="douyin") == [3, 1]
    assert values(result, breakdown="Other") == [2, 0]
    assert values(result, breakdown="(none)") == [1, 0]
    assert result.frame["complete"].tolist()[:2] == [True, False]  # the week of Jan 8 is not over on the 8th
    by_user = trends(shop, TrendQuery((Series("any", "users"),), breakdown="gender", **whole))
    assert values(by_user, breakdown="F") == [1, 0] and values(by_user, breakdown="(none)") == [1, 1]


def test_formula_and_comparison(shop):
    weeks = {"start": date(2024, 1, 1), "end": date(2024, 1, 14), "interval": "week"}
    result = trends(shop, TrendQuery((Series("view", "users"), Series("purchase", "users")), formula="b / a",
                                     **weeks))
    ratio = values(result, "formula")
    assert ratio[0] == pytest.approx(2 / 3) and math.isnan(ratio[1])  # nobody viewed in the second week
    assert result.labels["formula"] == "B / A"
    compared = trends(shop, TrendQuery((Series("any"),), start=date(2024, 1, 8), end=date(2024, 1, 14),
                                       interval="week", compare=True))
    assert compared.frame[["value", "previous"]].values.tolist() == [[1, 6]]


@pytest.mark.parametrize("build, message", [
    (lambda: parse_condition("colour = red"), "there is no property 'colour'; filter on one of event_type"),
    (lambda: parse_condition("amount > lots"), "amount is a number; 'lots' is not one"),
    (lambda: parse_condition("channel ~ x"), "cannot read the filter"),
    (lambda: Condition("amount", "contains", ("1",)), "contains works on text properties"),
    (lambda: Condition("channel", "between", ("a",)), "takes 2 values"),
    (lambda: Condition("first_seen", ">", ("yesterday",)), "is a date"),
    (lambda: TrendQuery(formula="A / C"), "names series C, but the series are A"),
    (lambda: TrendQuery(formula="__import__('os')"), "may only use"),
    (lambda: TrendQuery(breakdown="colour"), "cannot break down by 'colour'"),
    (lambda: Series("view", "median"), "measure must be one of"),
])
def test_refusals_say_what_exists(build, message):
    with pytest.raises(PondError, match=message):
        build()


def test_values_are_bound_never_formatted():
    sql, params = compile_conditions((Condition("channel", "=", ("x'; drop table events; --",)),))
    assert "drop table" not in sql and params == {"f0_0": "x'; drop table events; --"}


def test_empty_range_gives_zeros(shop):
    result = trends(shop, TrendQuery((Series("view"),), start=date(2023, 1, 1), end=date(2023, 1, 2)))
    assert values(result) == [0, 0]


def test_previous_period_uses_the_same_breakdown_values(shop):
    # Jan 8-14 has only douyin (u4); the week before has douyin, wechat and no channel
    result = trends(shop, TrendQuery((Series("any"),), start=date(2024, 1, 8), end=date(2024, 1, 14),
                                     interval="week", breakdown="channel", compare=True))
    assert result.frame[["breakdown", "value", "previous"]].values.tolist() == [["douyin", 1, 3]]


def test_other_folds_events_and_amounts_and_counts_its_users_once(con, write):
    """Y and Z have 2 purchases each (ties go by value: Y is the top one); X and Z are Other. User a
    bought X and Z: one user of Other, whose amounts average over the purchases that have one."""
    import_file(con, write("buys.csv", "user_id,event_type,event_time,item_id,amount\n"
                                       "a,purchase,2024-01-01 10:00:00,X,10\nb,purchase,2024-01-01 11:00:00,Y,20\n"
                                       "c,purchase,2024-01-01 12:00:00,Y,40\na,purchase,2024-01-01 13:00:00,Z,30\n"
                                       "d,purchase,2024-01-01 14:00:00,Z,\n"))
    day = {"start": date(2024, 1, 1), "end": date(2024, 1, 1), "breakdown": "item", "limit": 1}
    expected = {"events": (2, 3), "sum_amount": (60, 40), "avg_amount": (30, 20), "users": (2, 2),
                "per_user": (1, 1.5)}
    for measure, (top, other) in expected.items():
        result = trends(con, TrendQuery((Series("purchase", measure),), **day))
        assert values(result, breakdown="Y") == [top], measure
        assert values(result, breakdown="Other") == [other], measure
