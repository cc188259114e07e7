"""Cohort retention on a hand-made warehouse with exact expected matrices.

Events (UTC = business time zone unless a test changes it); the last day of data is 2024-01-04:
  u1 (douyin):  purchase 01-01, purchase 01-02, purchase 01-04
  u2 (wechat):  purchase 01-01, view 01-02, purchase 01-03
  u3 (douyin):  purchase 01-02                       (a user with a single event)
  u4 (wechat):  view 01-01                           (never purchases: in no purchase cohort)
"""

from __future__ import annotations

from datetime import date

import pytest

from engine.behaviour.retention import (
    RetentionQuery,
    period_n_over_time,
    retention_average,
    retention_cell_users,
    retention_matrix,
)
from engine.errors import PondError
from engine.ingest import import_file
from engine.store import warehouse

EVENTS = """user_id,event_type,event_time,channel
u1,purchase,2024-01-01 09:00:00,douyin
u2,purchase,2024-01-01 10:00:00,wechat_group
u4,view,2024-01-01 11:00:00,wechat_group
u1,purchase,2024-01-02 09:00:00,douyin
u2,view,2024-01-02 10:00:00,wechat_group
u3,purchase,2024-01-02 23:59:59,douyin
u2,purchase,2024-01-03 00:00:00,wechat_group
u1,purchase,2024-01-04 09:00:00,douyin
"""
D1, D2, D3, D4 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4)


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def cells(frame):
    return [(r.cohort, r.period, r.users, r.cohort_size) for r in frame.itertuples()]


def test_daily_first_purchase_to_purchase(shop):
    m = retention_matrix(shop, RetentionQuery(period="day"))
    assert cells(m) == [(D1, 0, 2, 2), (D1, 1, 1, 2), (D1, 2, 1, 2), (D1, 3, 1, 2),
                        (D2, 0, 1, 1), (D2, 1, 0, 1), (D2, 2, 0, 1)]
    assert m["complete"].all()
    assert m["rate"].tolist() == [1.0, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0]
    assert set(m["segment"]) == {"All users"}


def test_on_or_after_counts_any_later_return(shop):
    m = retention_matrix(shop, RetentionQuery(period="day", mode="on_or_after"))
    assert cells(m) == [(D1, 0, 2, 2), (D1, 1, 2, 2), (D1, 2, 2, 2), (D1, 3, 1, 2),
                        (D2, 0, 1, 1), (D2, 1, 0, 1), (D2, 2, 0, 1)]


def test_recurring_cohorts(shop):
    m = retention_matrix(shop, RetentionQuery(period="day", first_time=False))
    assert cells(m) == [(D1, 0, 2, 2), (D1, 1, 1, 2), (D1, 2, 1, 2), (D1, 3, 1, 2),
                        (D2, 0, 2, 2), (D2, 1, 0, 2), (D2, 2, 1, 2),
                        (D3, 0, 1, 1), (D3, 1, 0, 1),
                        (D4, 0, 1, 1)]


def test_any_action_as_return_event(shop):
    m = retention_matrix(shop, RetentionQuery(period="day", return_event="any"))
    assert cells(m)[:4] == [(D1, 0, 2, 2), (D1, 1, 2, 2), (D1, 2, 1, 2), (D1, 3, 1, 2)]


def test_weekly_period_is_incomplete_until_the_week_ends(shop):
    m = retention_matrix(shop, RetentionQuery(period="week"))
    assert cells(m) == [(D1, 0, 3, 3)]  # 2024-01-01 is a Monday; the data ends on Thursday
    assert m["complete"].tolist() == [False]
    assert retention_average(m).empty  # nothing complete to average


def test_weighted_average_uses_complete_cells(shop):
    avg = retention_average(retention_matrix(shop, RetentionQuery(period="day")))
    assert [(r.period, r.users, r.cohort_size, r.cohorts) for r in avg.itertuples()] == [
        (0, 3, 3, 2), (1, 1, 3, 2), (2, 1, 3, 2), (3, 1, 2, 1)]
    assert avg["rate"].tolist() == [1.0, 1 / 3, 1 / 3, 0.5]


def test_period_n_over_time(shop):
    line = period_n_over_time(retention_matrix(shop, RetentionQuery(period="day")), 1)
    assert line[["cohort", "rate"]].values.tolist() == [[D1, 0.5], [D2, 0.0]]


def test_breakdown_by_acquisition_channel(shop):
    m = retention_matrix(shop, RetentionQuery(period="day", breakdown="channel"))
    douyin = m[m.segment == "douyin"]
    assert cells(douyin) == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 0, 1), (D1, 3, 1, 1),
                             (D2, 0, 1, 1), (D2, 1, 0, 1), (D2, 2, 0, 1)]
    assert cells(m[m.segment == "wechat_group"]) == [(D1, 0, 1, 1), (D1, 1, 0, 1), (D1, 2, 1, 1), (D1, 3, 0, 1)]


def test_channel_filter_and_cohort_range(shop):
    m = retention_matrix(shop, RetentionQuery(period="day", channel="wechat_group"))
    assert cells(m) == [(D1, 0, 1, 1), (D1, 1, 0, 1), (D1, 2, 1, 1), (D1, 3, 0, 1)]
    m = retention_matrix(shop, RetentionQuery(period="day", start=D2, end=D2))
    assert cells(m) == [(D2, 0, 1, 1), (D2, 1, 0, 1), (D2, 2, 0, 1)]
    assert retention_matrix(shop, RetentionQuery(channel="nowhere")).empty


def test_business_time_zone_moves_events_across_midnight(shop):
    warehouse.set_business_timezone(shop, "Asia/Shanghai")  # u3's 23:59 UTC is 01-03 07:59 local
    m = retention_matrix(shop, RetentionQuery(period="day"))
    assert (D3, 0, 1, 1) in cells(m) and (D2, 0, 1, 1) not in cells(m)


def test_cell_users_for_drill_down(shop):
    users = retention_cell_users(shop, RetentionQuery(period="day"), segment="All users", cohort=D1, period=2)
    assert users[["user_id", "came_back"]].values.tolist() == [["u2", True], ["u1", False]]


def test_bad_parameters_are_refused():
    with pytest.raises(PondError, match="period must be one of hour, day, week, month, not 'year'"):
        RetentionQuery(period="year")
    with pytest.raises(PondError, match="ends .* before it starts"):
        RetentionQuery(start=D2, end=D1)


def test_empty_warehouse_gives_an_empty_matrix(con):
    assert retention_matrix(con).empty


def test_whole_period_cohorts_say_their_span_and_clipped_ones_stay_in_the_range(shop):
    from engine.behaviour.retention import cohort_label, cohorts_beyond_range

    # Jan 2-3 by week: the cohort is the week of Monday Jan 1, so u1 and u2 (first purchase Jan 1) join u3
    whole = retention_matrix(shop, RetentionQuery(period="week", start=D2, end=D3))
    assert cells(whole) == [(D1, 0, 3, 3)]
    assert cohorts_beyond_range(whole, D2, D3) == [(D1, date(2024, 1, 7))]
    assert cohort_label(D1, date(2024, 1, 7)) == "Jan 1–7, 2024"
    clipped = retention_matrix(shop, RetentionQuery(period="week", start=D2, end=D3, clip=True))
    assert cells(clipped) == [(D1, 0, 1, 1)]  # only u3's first purchase lies on Jan 2-3
    assert (clipped["cohort_from"].iloc[0], clipped["cohort_to"].iloc[0]) == (D2, D3)
    assert cohorts_beyond_range(clipped, D2, D3) == []
    assert cohort_label(D2, D3) == "Jan 2–3, 2024"
    # recurring cohorts: everyone with a purchase on Jan 2-3 (u1 on the 2nd, u2 on the 3rd, u3)
    recurring = retention_matrix(shop, RetentionQuery(period="week", start=D2, end=D3, clip=True,
                                                      first_time=False))
    assert cells(recurring) == [(D1, 0, 3, 3)]
    users = retention_cell_users(shop, RetentionQuery(period="day", start=D2, end=D2, clip=True),
                                 segment="All users", cohort=D2, period=1)
    assert users["user_id"].tolist() == ["u3"]


def test_cohort_labels_across_months_and_years():
    from engine.behaviour.retention import cohort_label, cohort_span

    assert cohort_label(date(2026, 6, 29), date(2026, 7, 5)) == "Jun 29–Jul 5, 2026"
    assert cohort_label(date(2025, 12, 29), date(2026, 1, 4)) == "Dec 29, 2025–Jan 4, 2026"
    assert cohort_label(D4, D4) == "Jan 4, 2024"
    assert cohort_span(date(2024, 2, 1), "month", D1, date(2024, 2, 10), clip=False) == (
        date(2024, 2, 1), date(2024, 2, 29))
    assert cohort_span(date(2024, 12, 1), "month", D1, date(2025, 2, 10), clip=False)[1] == date(2024, 12, 31)
    assert cohort_span(date(2024, 2, 1), "month", D1, date(2024, 2, 10), clip=True) == (
        date(2024, 2, 1), date(2024, 2, 10))


def test_weeks_that_start_on_sunday_and_a_minimum_of_return_events(shop, write):
    # u1 buys on Sunday Jan 7 (twice) and u2 on Tuesday Jan 9 (once)
    import_file(shop, write("more.csv", "user_id,event_type,event_time,order_id\n"
                                        "u1,purchase,2024-01-07 10:00:00,o1\nu1,purchase,2024-01-07 11:00:00,o2\n"
                                        "u2,purchase,2024-01-09 10:00:00,o3\n"))
    monday = retention_matrix(shop, RetentionQuery(period="week"))
    assert cells(monday) == [(D1, 0, 3, 3), (D1, 1, 1, 3)]  # Jan 7 is in the week of Monday Jan 1
    sunday = retention_matrix(shop, RetentionQuery(period="week", week_start="sunday"))
    dec31 = date(2023, 12, 31)
    assert cells(sunday) == [(dec31, 0, 3, 3), (dec31, 1, 2, 3)]  # Jan 7 and Jan 9 open the week of Jan 7
    assert sunday["cohort_to"].iloc[0] == date(2024, 1, 6)
    twice = retention_matrix(shop, RetentionQuery(period="week", week_start="sunday", min_returns=2))
    assert cells(twice) == [(dec31, 0, 3, 3), (dec31, 1, 1, 3)]  # only u1 bought twice that week
    with pytest.raises(PondError, match="monday or sunday"):
        RetentionQuery(week_start="friday")
    with pytest.raises(PondError, match="1 to 1,000 return events"):
        RetentionQuery(min_returns=0)


def test_breakdown_by_a_user_property_that_only_some_users_have(shop, write):
    import_file(shop, write("who.csv", "user_id,event_type,event_time,gender\nu1,signup,2023-12-01 10:00:00,F\n"))
    m = retention_matrix(shop, RetentionQuery(period="day", breakdown="gender"))
    sizes = m[m["period"] == 0].groupby("segment")["cohort_size"].sum().to_dict()
    assert sizes == {"F": 1, "(unknown)": 2}  # u1; u2 and u3 have no gender
    with pytest.raises(PondError, match="breakdown must be one of"):
        RetentionQuery(breakdown="shoe_size")


# Views with a category, for property matching and event filters (last day of data 2024-01-03):
#   a: view c1 01-01, view c2 01-02, view c1 01-03
#   b: view c2 01-01, view c2 01-02
#   c: view (no category) 01-01, view (no category) 01-02
CATEGORIES = """user_id,event_type,event_time,category
a,view,2024-01-01 09:00:00,c1
b,view,2024-01-01 10:00:00,c2
c,view,2024-01-01 11:00:00,
a,view,2024-01-02 09:00:00,c2
b,view,2024-01-02 10:00:00,c2
c,view,2024-01-02 11:00:00,
a,view,2024-01-03 09:00:00,c1
"""


@pytest.fixture
def categories(con, write):
    import_file(con, write("views.csv", CATEGORIES))
    return con


def test_return_must_match_the_start_events_category(categories):
    plain = RetentionQuery(period="day", start_event="view", return_event="view")
    # cohort 01-01 = a, b, c; day 1: all three viewed again; day 2: only a
    assert cells(retention_matrix(categories, plain)) == [(D1, 0, 3, 3), (D1, 1, 3, 3), (D1, 2, 1, 3)]
    matched = RetentionQuery(period="day", start_event="view", return_event="view", match_property="category")
    # day 1: b (c2 again); a's c2 is not its start's c1, c's missing category never matches
    # day 2: a is back on c1
    assert cells(retention_matrix(categories, matched)) == [(D1, 0, 3, 3), (D1, 1, 1, 3), (D1, 2, 1, 3)]
    users = retention_cell_users(categories, matched, segment="All users", cohort=D1, period=1)
    assert users[["user_id", "came_back"]].values.tolist() == [["b", True], ["a", False], ["c", False]]


def test_recurring_cohorts_match_any_start_value_of_their_period(categories):
    matched = RetentionQuery(period="day", start_event="view", return_event="view", match_property="category",
                             first_time=False)
    # cohort 01-01 as above; cohort 01-02 = a (c2), b (c2), c: day 1 (01-03) a views c1, not c2 -> 0;
    # cohort 01-03 = a alone
    assert cells(retention_matrix(categories, matched)) == [
        (D1, 0, 3, 3), (D1, 1, 1, 3), (D1, 2, 1, 3), (D2, 0, 3, 3), (D2, 1, 0, 3), (D3, 0, 1, 1)]


def test_filters_on_the_start_and_the_return_event(categories):
    from engine.store.filters import parse_condition

    on_c2 = RetentionQuery(period="day", start_event="view", return_event="view",
                           start_where=(parse_condition("category = c2"),))
    # a's first c2 view is on 01-02, b's on 01-01; any later view is a return
    assert cells(retention_matrix(categories, on_c2)) == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 0, 1),
                                                          (D2, 0, 1, 1), (D2, 1, 1, 1)]
    back_on_c1 = RetentionQuery(period="day", start_event="view", return_event="view",
                                return_where=(parse_condition("category = c1"),))
    # cohort 01-01 = a, b, c; the only c1 view after it is a's on 01-03 (day 2)
    assert cells(retention_matrix(categories, back_on_c1)) == [(D1, 0, 3, 3), (D1, 1, 0, 3), (D1, 2, 1, 3)]


# Hourly: h1 views at 08:10 and 09:50, h2 at 08:30 and 10:00 (one day, the last hour of data is 10:00).
HOURS = """user_id,event_type,event_time
h1,view,2024-01-05 08:10:00
h2,view,2024-01-05 08:30:00
h1,view,2024-01-05 09:50:00
h2,view,2024-01-05 10:00:00
"""


def test_hourly_periods(con, write):
    from datetime import datetime

    import_file(con, write("hours.csv", HOURS))
    m = retention_matrix(con, RetentionQuery(period="hour", start_event="view", return_event="view"))
    # cohort 08:00 = h1, h2; hour 1 (09:00): h1; hour 2 (10:00): h2
    h8 = datetime(2024, 1, 5, 8)
    assert cells(m) == [(h8, 0, 2, 2), (h8, 1, 1, 2), (h8, 2, 1, 2)]
    assert m["complete"].all()
    after = retention_matrix(con, RetentionQuery(period="hour", start_event="view", return_event="view",
                                                 mode="on_or_after"))
    assert after["users"].tolist() == [2, 2, 1]


def test_hourly_and_matching_limits_are_explained():
    with pytest.raises(PondError, match="hourly retention follows up to 3 days of cohorts"):
        RetentionQuery(period="hour", start=D1, end=date(2024, 1, 10))
    with pytest.raises(PondError, match="a return can match the start event on item, category"):
        RetentionQuery(match_property="amount")


def _segment(frame, name):
    return cells(frame[frame["segment"] == name])


def test_breakdown_by_the_start_events_category_first_time_and_recurring(categories):
    first = retention_matrix(categories, RetentionQuery(period="day", start_event="view", return_event="view",
                                                        breakdown="category"))
    # first-time cohort 01-01: a (c1), b (c2), c (no category); all back on 01-02, only a on 01-03
    assert _segment(first, "c1") == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 1, 1)]
    assert _segment(first, "c2") == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 0, 1)]
    assert _segment(first, "(none)") == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 0, 1)]
    recurring = retention_matrix(categories, RetentionQuery(period="day", start_event="view", return_event="view",
                                                            breakdown="category", first_time=False))
    # recurring: 01-02's cohort a (c2), b (c2), c (none); a is back on 01-03; 01-03's cohort is a (c1)
    assert _segment(recurring, "c2") == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 0, 1), (D2, 0, 2, 2), (D2, 1, 1, 2)]
    assert _segment(recurring, "c1") == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 1, 1), (D3, 0, 1, 1)]


def test_breakdown_limit_puts_the_rest_in_other(categories):
    query = RetentionQuery(period="day", start_event="view", return_event="view", breakdown="category",
                           breakdown_limit=1)
    frame = retention_matrix(categories, query)
    # c1 and c2 both have one member: the tie goes to c1 by name; c2 becomes Other
    assert sorted(frame["segment"].unique()) == ["(none)", "Other", "c1"]
    assert _segment(frame, "Other") == [(D1, 0, 1, 1), (D1, 1, 1, 1), (D1, 2, 0, 1)]
    users = retention_cell_users(categories, query, segment="Other", cohort=D1, period=1)
    assert users[["user_id", "came_back"]].values.tolist() == [["b", True]]


def test_breakdown_by_a_user_property(categories):
    frame = retention_matrix(categories, RetentionQuery(period="day", start_event="view", return_event="view",
                                                        breakdown="acquisition_channel"))
    # no user has an acquisition channel: all three are (none)
    assert _segment(frame, "(none)") == [(D1, 0, 3, 3), (D1, 1, 3, 3), (D1, 2, 1, 3)]
