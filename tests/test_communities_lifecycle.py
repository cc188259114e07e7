"""Communities, lifecycle and stickiness on hand-made warehouses with exact numbers."""

from __future__ import annotations

from datetime import date

import pytest

from engine.behaviour.communities import community_leaderboard, community_trend
from engine.behaviour.lifecycle import average_per_period, lifecycle, stickiness
from engine.errors import PondError
from engine.ingest import import_file

GROUPS = """user_id,event_type,event_time,community_id,amount
u1,join_group,2024-01-01 10:00:00,g1,
u2,join_group,2024-01-05 10:00:00,g1,
u3,join_group,2024-01-02 10:00:00,g2,
u1,comment,2024-01-03 10:00:00,g1,
u1,like,2024-01-03 10:05:00,g1,
u4,comment,2024-01-04 10:00:00,g1,
u1,purchase,2024-01-03 11:00:00,,50
u3,view,2024-01-09 10:00:00,,
"""
COLUMNS = ["community_id", "members", "new_members", "active_members", "interactions", "comments", "member_gmv"]


@pytest.fixture
def groups(con, write):
    import_file(con, write("groups.csv", GROUPS))
    return con


def test_community_leaderboard_first_week(groups):
    board = community_leaderboard(groups, start=date(2024, 1, 1), end=date(2024, 1, 7))
    # u4 comments in g1 without being a member: an interaction, not a member
    assert board[COLUMNS].values.tolist() == [["g1", 2, 2, 2, 5, 2, 50.0], ["g2", 1, 1, 1, 1, 0, 0.0]]
    assert board["activity"].tolist() == [2.5, 1.0] and board["retention"].tolist() == [1.0, 1.0]


def test_community_leaderboard_second_week(groups):
    board = community_leaderboard(groups, start=date(2024, 1, 8), end=date(2024, 1, 14))
    assert board[COLUMNS].values.tolist() == [["g2", 1, 0, 1, 0, 0, 0.0], ["g1", 2, 0, 0, 0, 0, 0.0]]
    assert board["retention"].tolist() == [1.0, 0.0]


def test_community_trend(groups):
    trend = community_trend(groups, period="week", start=date(2024, 1, 1), end=date(2024, 1, 14))
    trend["period"] = trend["period"].astype(str)
    assert trend.values.tolist() == [["g1", "2024-01-01", 2, True], ["g2", "2024-01-01", 1, True],
                                     ["g2", "2024-01-08", 1, True]]
    # ending on Wednesday Jan 10, the week of Jan 8 is not over: marked partial, not a collapse
    short = community_trend(groups, period="week", start=date(2024, 1, 1), end=date(2024, 1, 10))
    assert short["complete"].tolist() == [True, True, False]


ACTIVITY = """user_id,event_type,event_time
u1,view,2024-01-01 10:00:00
u1,view,2024-01-02 10:00:00
u2,cart,2024-01-02 11:00:00
u2,impression,2024-01-03 11:00:00
u1,share,2024-01-04 10:00:00
u3,view,2024-01-04 12:00:00
"""


@pytest.fixture
def days(con, write):
    import_file(con, write("activity.csv", ACTIVITY))
    return con


def test_daily_lifecycle(days):
    frame = lifecycle(days, period="day")
    table = {(str(r.period), r.status): r.users for r in frame.itertuples() if r.users}
    # 01-03: only an impression (not an action), so u1 and u2 go dormant; u1 resurrects on 01-04
    assert table == {("2024-01-01", "new"): 1, ("2024-01-02", "new"): 1, ("2024-01-02", "returning"): 1,
                     ("2024-01-03", "dormant"): -2, ("2024-01-04", "new"): 1, ("2024-01-04", "resurrecting"): 1}
    assert len(frame) == 4 * 4  # every status on every period, zeros included


def test_weekly_lifecycle_and_bad_period(days):
    frame = lifecycle(days, period="week")
    assert frame[frame.users != 0][["status", "users"]].values.tolist() == [["new", 3]]
    # the data ends on Thursday Jan 4: the week of Monday Jan 1 is not over, so there is no average yet
    assert not frame["complete"].any()
    assert average_per_period(frame, "users", "status").empty
    daily = lifecycle(days, period="day", end=date(2024, 1, 3))
    assert daily["complete"].all()
    averages = average_per_period(daily, "users", "status").set_index("status")
    assert averages.loc["new", "average"] == pytest.approx(2 / 3) and averages.loc["dormant", "average"] == -2 / 3
    with pytest.raises(PondError, match="period must be one of day, week, month"):
        lifecycle(days, period="year")


def test_stickiness(days):
    frame = stickiness(days)
    assert frame[["dau", "mau"]].values.tolist() == [[1, 1], [2, 2], [0, 2], [2, 3]]
    assert frame["stickiness"].tolist() == [1.0, 1.0, 0.0, pytest.approx(2 / 3)]


def test_monthly_active_window_is_thirty_days(con, write):
    import_file(con, write("gap.csv", "user_id,event_type,event_time\nu1,view,2024-01-01 10:00:00\n"
                                      "u1,view,2024-01-31 10:00:00\nu2,view,2024-01-30 10:00:00\n"
                                      "u2,view,2024-03-15 10:00:00\n"))
    frame = stickiness(con, start=date(2024, 1, 29), end=date(2024, 3, 16)).set_index("day")
    mau = frame["mau"]
    # u1: 01-01 covers to 01-30, 01-31 (30 days later) continues it; u2 covers 01-30..02-28
    assert (mau[date(2024, 1, 30)], mau[date(2024, 1, 31)], mau[date(2024, 2, 28)], mau[date(2024, 2, 29)],
            mau[date(2024, 3, 1)], mau[date(2024, 3, 15)]) == (2, 2, 2, 1, 0, 1)
