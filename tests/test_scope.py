"""The global property filter (engine.store.scope): every read sees the filtered events and users.

Hand-made events, all times UTC (the business zone); the range is 2024-01-01..01-03:
  u1 (F, Shanghai): view A 01-01 (douyin), purchase A 01-02 (100, order o1, douyin)
  u2 (M, Wuhan):    view A 01-01 (wechat), purchase A 01-03 (50, order o2, wechat), view B 01-03 (wechat)
  u3 (no gender):   view C 01-02, impression 01-02 (not an action)
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from engine.behaviour import metrics
from engine.customers import filtering
from engine.errors import PondError
from engine.ingest import import_file
from engine.ingest.demo import build_demo
from engine.store import scope, warehouse
from engine.store.filters import parse_condition

EVENTS = """user_id,event_type,event_time,item_id,channel,amount,order_id,gender,city
u1,view,2024-01-01 10:00:00,A,douyin,,,F,Shanghai
u1,purchase,2024-01-02 09:00:00,A,douyin,100,o1,F,Shanghai
u2,view,2024-01-01 12:00:00,A,wechat,,,M,Wuhan
u2,purchase,2024-01-03 09:00:00,A,wechat,50,o2,M,Wuhan
u2,view,2024-01-03 10:00:00,B,wechat,,,M,Wuhan
u3,view,2024-01-02 10:00:00,C,,,,,
u3,impression,2024-01-02 10:01:00,,,,,,
"""
PERIOD = metrics.Period(date(2024, 1, 1), date(2024, 1, 3))


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def kpis(con, *filters: str) -> dict:
    with scope.applied([parse_condition(f) for f in filters]):
        frame = metrics.kpi_comparison(con, PERIOD)
    return frame.set_index("kpi")["value"].round(4).to_dict()


@pytest.mark.parametrize("filters, dau, orders, gmv, new_users", [
    ((), (2 + 2 + 1) / 3, 2, 150, 3),            # active: 01-01 u1 u2; 01-02 u1 u3; 01-03 u2
    (("gender = F",), (1 + 1 + 0) / 3, 1, 100, 1),
    (("city in Shanghai,Wuhan",), (2 + 1 + 1) / 3, 2, 150, 2),
    (("gender is not set",), (0 + 1 + 0) / 3, 0, 0, 1),
    (("channel = wechat",), (1 + 0 + 1) / 3, 1, 50, 1),  # an event property: u2's events only
    (("amount > 60",), (0 + 1 + 0) / 3, 1, 100, 1),     # only u1's purchase has an amount over 60
    (("event_type = view", "item = A"), (2 + 0 + 0) / 3, 0, 0, 2),
    (("gender = M", "channel = douyin"), 0, 0, 0, 0),   # nothing matches both
])
def test_kpis_under_a_filter(shop, filters, dau, orders, gmv, new_users):
    got = kpis(shop, *filters)
    assert got["dau"] == round(dau, 4)
    assert got["orders"] == orders
    assert got["gmv"] == gmv
    assert got["new_users"] == new_users


def test_the_filter_ends_with_its_block(shop):
    with scope.applied([parse_condition("gender = F")]):
        assert scope.current()
    assert scope.current() == ()
    assert kpis(shop)["orders"] == 2


def test_writes_see_every_row(shop, write):
    """An import inside a filtered block still checks and adds every row."""
    more = "user_id,event_type,event_time,gender\nu4,view,2024-01-03 11:00:00,M\nu1,view,2024-01-03 11:00:00,F\n"
    with scope.applied([parse_condition("gender = F")]):
        result = import_file(shop, write("more.csv", more))
    assert result.rows_imported == 2 and result.rows_duplicate == 0
    assert shop.execute("select count(*) from events").fetchone()[0] == 9


def test_positional_queries_and_writes_are_left_alone():
    sql = "insert into user_day select * from x"
    with scope.applied([parse_condition("gender = F")]):
        assert scope.scoped(sql, {}, "UTC") == (sql, {})
        assert scope.scoped("select 1", {}, "UTC") == ("select 1", {})  # reads no scoped table


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("scope") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=300, days=40, seed=2, end=date(2026, 3, 1))
    return path


@pytest.mark.parametrize("keep_all", ["event_type is set", "first_seen is set"])
@pytest.mark.parametrize("table", ["user_day", "user_day_type", "daily_events", "content_day"])
def test_a_filter_that_keeps_everything_reads_the_rollups_exactly(small_demo, table, keep_all):
    """Recounted from the filtered events, each rollup equals the stored one."""
    with warehouse.connect(small_demo) as con:
        stored = warehouse.read_sql(con, f"select * from {table} order by all").df()
        with scope.applied([parse_condition(keep_all)]):
            scoped = warehouse.read_sql(con, f"select * from {table} order by all").df()
    pd.testing.assert_frame_equal(scoped, stored, check_dtype=False)


def test_demo_kpis_under_filters_match_pandas(small_demo):
    """DAU, orders, GMV and buyers recomputed from raw events by their definitions (docs/METRICS.md)."""
    period = metrics.Period(date(2026, 2, 1), date(2026, 2, 28))
    with warehouse.connect(small_demo) as con:
        events = con.execute("select e.user_id, e.event_type, e.event_time, e.channel, e.amount, e.order_id, u.gender, u.city "
                             "from events e join users u using (user_id)").df()
        tz = warehouse.business_timezone(con)
        cities = con.execute("select city from users where city is not null group by 1 order by count(*) desc").df()
        city = cities["city"].iloc[0]
        cases = {"gender = F": events["gender"] == "F", f"city = {city}": events["city"] == city,
                 "channel = douyin": events["channel"] == "douyin", "amount >= 50": events["amount"] >= 50}
        for text, keep in cases.items():
            with scope.applied([parse_condition(text)]):
                got = metrics.kpi_comparison(con, period).set_index("kpi")["value"]
            kept = events[keep].copy()
            kept["day"] = kept["event_time"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.date
            kept = kept[(kept["day"] >= period.start) & (kept["day"] <= period.end)]
            actions = kept[~kept["event_type"].isin(["impression", "coupon_issue"])]
            daily = actions.groupby("day")["user_id"].nunique()
            purchases = kept[kept["event_type"] == "purchase"]
            orders = purchases["order_id"].nunique() + purchases["order_id"].isna().sum()
            assert got["dau"] == pytest.approx(daily.sum() / period.days), text
            assert got["orders"] == orders, text
            assert got["gmv"] == pytest.approx(purchases["amount"].sum(), abs=0.005), text
            assert got["conversion_rate"] == pytest.approx(purchases["user_id"].nunique() / actions["user_id"].nunique()
                                                           ), text


def test_an_unknown_property_is_refused_with_the_list():
    with pytest.raises(PondError, match="filter on one of event_type, item"):
        parse_condition("shoe_size = 42")


@pytest.mark.parametrize("filters", [("channel = douyin",), ("channel in douyin,wechat_group", "gender = F"),
                                     ("channel not in douyin,referral",)])
@pytest.mark.parametrize("table", ["user_day", "user_day_type", "daily_events", "content_day", "users"])
def test_a_channel_filter_read_from_the_rollups_equals_the_recount_from_events(small_demo, table, filters):
    """Channel-only filters read the rollups' rows; adding a condition that keeps every event forces
    the recount from events, which must give the same rows."""
    read = f"select * from {table} order by all"
    with warehouse.connect(small_demo) as con:
        with scope.applied([parse_condition(f) for f in filters]):
            sql, _ = scope.scoped(read, {}, "UTC")
            recounted = table in ("daily_events", "content_day") and len(filters) > 1  # no user id to keep by
            assert ("pond_scope_events" in sql) == recounted
            from_rollups = warehouse.read_sql(con, read).df()
        with scope.applied([parse_condition(f) for f in (*filters, "event_type is set")]):
            from_events = warehouse.read_sql(con, read).df()
    assert len(from_rollups) > 0
    pd.testing.assert_frame_equal(from_rollups, from_events, check_dtype=False)


# --- breakdowns ------------------------------------------------------------------------------------

def breakdown(con, prop, limit=5, *filters):
    with scope.applied([parse_condition(f) for f in filters]):
        frame = metrics.kpi_breakdown(con, PERIOD, prop, limit=limit)
    return frame.set_index("breakdown")


def test_kpis_by_a_user_property_split_users(shop):
    frame = breakdown(shop, "gender")
    # u1 (F), u2 (M) and u3 (no gender); the rows add up to All
    assert frame.index.tolist() == ["All", "M", "F", "(none)"]  # M has 3 events, F 2 (u3's 2 have no gender)
    assert frame["orders"].to_dict() == {"All": 2, "M": 1, "F": 1, "(none)": 0}
    assert frame["gmv"].to_dict() == {"All": 150, "M": 50, "F": 100, "(none)": 0}
    assert frame.loc["(none)", "dau"] == pytest.approx(1 / 3)
    assert frame.loc[["M", "F", "(none)"], "active_users"].sum() == frame.loc["All", "active_users"] == 3


def test_kpis_by_an_event_property_with_other_and_none(shop):
    frame = breakdown(shop, "channel", 1)
    # wechat has 3 events, douyin 2, none 2: the top 1 is wechat, douyin is Other
    assert frame.index.tolist() == ["All", "wechat", "Other", "(none)"]
    assert frame["gmv"].to_dict() == {"All": 150, "wechat": 50, "Other": 100, "(none)": 0}
    assert frame["active_users"].to_dict() == {"All": 3, "wechat": 1, "Other": 1, "(none)": 1}
    # within a filter: only the filter's events are split
    within = breakdown(shop, "channel", 5, "item = A")
    assert within.index.tolist() == ["All", "douyin", "wechat"]  # no (none) row: nobody active there
    assert within["orders"].to_dict() == {"All": 2, "douyin": 1, "wechat": 1}


def test_a_breakdown_needs_a_text_property(shop):
    with pytest.raises(PondError, match="cannot break down by 'amount'"):
        metrics.kpi_breakdown(shop, PERIOD, "amount")


def test_engagement_by_a_property(con, write):
    events = ("user_id,event_type,event_time,content_id,gender\n"
              "a,impression,2024-01-01 10:00,c1,F\na,impression,2024-01-01 10:01,c1,F\na,click,2024-01-01 10:02,c1,F\n"
              "b,impression,2024-01-01 11:00,c1,M\nb,impression,2024-01-01 11:01,c2,M\nb,share,2024-01-01 11:02,c2,M\n")
    import_file(con, write("content.csv", events))
    from engine.behaviour.content import engagement_breakdown

    frame = engagement_breakdown(con, "gender", start=date(2024, 1, 1), end=date(2024, 1, 1)).set_index("breakdown")
    assert frame.index.tolist() == ["All", "F", "M"]
    assert frame["impressions"].to_dict() == {"All": 4, "F": 2, "M": 2}
    assert frame["ctr"].to_dict() == {"All": 0.25, "F": 0.5, "M": 0.0}
    assert frame["share_rate"].to_dict() == {"All": 0.25, "F": 0.0, "M": 0.5}
    assert frame["posts"].to_dict() == {"All": 2, "F": 1, "M": 2}


def test_demo_kpis_by_city_match_pandas(small_demo):
    period = metrics.Period(date(2026, 2, 1), date(2026, 2, 28))
    with warehouse.connect(small_demo) as con:
        events = con.execute("select e.user_id, e.event_type, e.event_time, e.amount, e.order_id, u.city "
                             "from events e join users u using (user_id)").df()
        tz = warehouse.business_timezone(con)
        frame = metrics.kpi_breakdown(con, period, "city", limit=3).set_index("breakdown")
    events["day"] = events["event_time"].dt.tz_localize("UTC").dt.tz_convert(tz).dt.date
    in_range = events[(events["day"] >= period.start) & (events["day"] <= period.end)]
    ranked = in_range["city"].value_counts()  # the most events in the chosen days, ties by name
    top = sorted(ranked.index, key=lambda c: (-ranked[c], c))[:3]
    assert frame.index.tolist()[1:4] == top
    for label, rows in [*((c, in_range[in_range["city"] == c]) for c in top),
                        ("Other", in_range[in_range["city"].notna() & ~in_range["city"].isin(top)])]:
        purchases = rows[rows["event_type"] == "purchase"]
        assert frame.loc[label, "gmv"] == pytest.approx(purchases["amount"].sum(), abs=0.005), label
        actions = rows[~rows["event_type"].isin(["impression", "coupon_issue"])]
        assert frame.loc[label, "active_users"] == actions["user_id"].nunique(), label


def test_first_seen_is_the_business_day(con, write):
    """u1 first came at 2024-01-01 20:00 UTC, which is 2024-01-02 04:00 in Shanghai."""
    import_file(con, write("late.csv", "user_id,event_type,event_time\nu1,view,2024-01-01 20:00:00\n"
                                       "u2,view,2024-01-02 10:00:00\n"))
    warehouse.set_business_timezone(con, "Asia/Shanghai")
    period = metrics.Period(date(2024, 1, 1), date(2024, 1, 3))
    for text, users in [("first_seen = 2024-01-02", 2), ("first_seen = 2024-01-01", 0),
                        ("first_seen between 2024-01-01,2024-01-02", 2)]:
        with scope.applied([parse_condition(text)]):
            assert metrics.kpis(con, period)["new_users"] == users, text


@pytest.mark.parametrize("prop, filters", [("city", ()), ("channel", ()), ("category", ()), ("gender", ("amount > 50",)),
                                           ("age_band", ("channel = douyin",)), ("campaign", ("city = Wuhan",))])
def test_the_one_pass_breakdown_equals_the_filtered_kpis_of_each_value(small_demo, prop, filters):
    """Each row of the one-pass SQL equals the KPIs read through a filter on that row's value."""
    from engine.behaviour.breakdowns import broken_down, frame_of

    period = metrics.Period(date(2026, 2, 1), date(2026, 2, 28))
    with warehouse.connect(small_demo) as con, scope.applied([parse_condition(f) for f in filters]):
        fast = metrics.kpi_breakdown(con, period, prop, limit=3).set_index("breakdown")
        slow = frame_of(broken_down(con, prop, period.start, period.end, lambda: metrics.kpis(con, period),
                                    limit=3)).set_index("breakdown")
    kept = slow[(slow["active_users"] > 0) | (slow["new_users"] > 0) | (slow.index == "All")]
    assert fast.index.tolist() == kept.index.tolist()
    slow = slow.loc[fast.index]
    assert len(fast) >= 2
    for column in ("dau", "wau", "mau", "new_users", "orders", "gmv", "active_users", "buyers"):
        assert fast[column].tolist() == pytest.approx(slow[column].tolist()), column


@pytest.mark.parametrize("prop, filters", [("city", ()), ("channel", ()), ("gender", ("channel = douyin",)),
                                           ("campaign", ()), ("content", ("age_band is set",))])
def test_the_one_pass_engagement_breakdown_equals_the_filtered_totals_of_each_value(small_demo, prop, filters):
    from engine.behaviour.breakdowns import broken_down, frame_of
    from engine.behaviour.content import content_performance, engagement_breakdown, engagement_summary

    start, end = date(2026, 2, 1), date(2026, 2, 28)

    def totals():
        return engagement_summary(con, content_performance(con, by="channel", start=start, end=end),
                                  start=start, end=end)

    with warehouse.connect(small_demo) as con, scope.applied([parse_condition(f) for f in filters]):
        fast = engagement_breakdown(con, prop, start=start, end=end, limit=3).set_index("breakdown")
        slow = frame_of(broken_down(con, prop, start, end, totals, limit=3)).set_index("breakdown")
    kept = slow[(slow["impressions"] > 0) | (slow.index == "All")]
    assert fast.index.tolist() == kept.index.tolist()
    assert len(fast) >= 2
    for column in ("impressions", "clicks", "shares", "comments", "clickers", "conversions", "posts",
                   "comments_per_post"):
        assert fast[column].tolist() == pytest.approx(kept[column].tolist()), column


def test_segment_tag_and_user_filters(shop):
    """u1 and u2 bought; a saved segment of buyers of A, an interest tag, a user id list."""
    from engine.customers.segments import Condition as Rule
    from engine.customers.segments import SegmentDefinition, save_segment

    save_segment(shop, "buyers", SegmentDefinition((Rule("event", event="purchase", count=1, days=3650),)))
    shop.execute("insert into user_tags values ('u2', 'category:shoes', 1.0)")
    cases = {"segment = buyers": 2, "segment != buyers": 0, "interest_tag = category:shoes": 1,
             "interest_tag not in category:shoes": 1, "user in u1,u3": 1, "user = u3": 0}
    for text, orders in cases.items():
        with filtering.applied([parse_condition(text)], con=shop):
            assert metrics.kpis(shop, PERIOD)["orders"] == orders, text
    with filtering.applied([parse_condition("segment not in buyers")], con=shop):
        assert metrics.kpis(shop, PERIOD)["active_users"] == 1  # u3
    with pytest.raises(PondError, match="no saved segment named 'nope'"), \
            filtering.applied([parse_condition("segment = nope")], con=shop):
        pass
    with pytest.raises(PondError, match="segment takes =, !=, in or not in"):
        parse_condition("segment contains buy")
    many = tuple(f"x{i}" for i in range(500)) + ("u1",)  # a long list is bound as one list
    with scope.applied([parse_condition("user in " + ",".join(many))]):
        assert metrics.kpis(shop, PERIOD)["orders"] == 1


def test_every_filtered_analysis_reads_through_the_filter(small_demo):
    """Under a filter that keeps nobody, every analysis the filter bar names comes out empty: a read that
    bypassed engine.store.scope would show the whole warehouse's figures."""
    from engine.behaviour.communities import community_leaderboard
    from engine.behaviour.content import content_performance
    from engine.behaviour.funnels import FunnelQuery, funnel
    from engine.behaviour.lifecycle import lifecycle
    from engine.behaviour.paths import PathQuery, paths
    from engine.behaviour.retention import RetentionQuery, retention_matrix
    from engine.behaviour.trends import Series, TrendQuery, trends
    from engine.customers.rfm import rfm_scores

    month = {"start": date(2026, 2, 1), "end": date(2026, 2, 28)}
    nobody = [parse_condition("user = nobody")]
    with warehouse.connect(small_demo) as con:
        assert metrics.kpis(con, metrics.Period(**month))["active_users"] > 0
        with filtering.applied(nobody, con=con):
            assert metrics.kpis(con, metrics.Period(**month))["active_users"] == 0
            assert trends(con, TrendQuery((Series("any"),), **month)).frame["value"].sum() == 0
            assert funnel(con, FunnelQuery(**month)).steps["users"].sum() == 0
            assert funnel(con, FunnelQuery(count_by="session", **month)).steps["users"].sum() == 0
            assert retention_matrix(con, RetentionQuery(**month)).empty
            assert retention_matrix(con, RetentionQuery(return_where=(parse_condition("amount > 0"),),
                                                        **month)).empty  # read from the raw events
            assert paths(con, PathQuery("view", "after", 3, **month)).users.empty
            assert content_performance(con, **month)["impressions"].sum() == 0
            assert community_leaderboard(con, **month).empty or community_leaderboard(con, **month)[
                "active_members"].sum() == 0
            assert lifecycle(con, period="week", **month).filter(like="new").sum().sum() == 0
            assert rfm_scores(con, as_of=month["end"]).empty
