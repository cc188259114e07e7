"""Interest tags (TF-IDF) and portraits on hand-made users; the last event is 2024-03-01 10:00.

  a: views an item of category c1 and buys one of c2 (both at the last moment), gender F
  b: views c1 at the last moment and c3 exactly 30 days earlier (half-life 30: weight 0.5), gender M
TF: a {c1: 1, c2: 5}, b {c1: 1, c3: 0.5}. IDF = ln((1 + 2) / (1 + df)) + 1: c1 1, c2 and c3 1.405465.
"""

from __future__ import annotations

import math

import pytest

from engine.customers.portraits import portrait
from engine.customers.segments import Condition, SegmentDefinition, save_segment
from engine.customers.tags import interest_tags
from engine.errors import PondError
from engine.ingest import import_file

EVENTS = """user_id,event_type,event_time,item_id,category,gender,amount,campaign_id
a,view,2024-03-01 10:00:00,i1,c1,F,,
a,purchase,2024-03-01 10:00:00,i2,c2,F,80,cmp1
b,view,2024-03-01 10:00:00,i1,c1,M,,
b,view,2024-01-31 10:00:00,i3,c3,M,,
"""
RARE = math.log(3 / 2) + 1


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def test_tf_idf_with_intent_and_recency(shop):
    tags = interest_tags(shop)
    assert [(r.user_id, r.tag, r.score) for r in tags.itertuples()] == [
        ("a", "category:c2", round(5 * RARE, 4)), ("a", "category:c1", 1.0),
        ("b", "category:c1", 1.0), ("b", "category:c3", round(0.5 * RARE, 4))]
    assert interest_tags(shop, top=1)["tag"].tolist() == ["category:c2", "category:c1"]
    assert interest_tags(shop, lookback_days=7)["tag"].tolist() == ["category:c2", "category:c1", "category:c1"]
    with pytest.raises(PondError, match="lookback 1-3650 days"):
        interest_tags(shop, lookback_days=0)


def test_portrait_of_a_saved_segment(shop):
    save_segment(shop, "Buyers", SegmentDefinition((Condition("event", event="purchase"),)))
    result = portrait(shop, segment="Buyers")
    assert result["users"] == 1
    tags = result["tags"].set_index("tag")
    assert (tags.loc["category:c2", "lift"], tags.loc["category:c1", "lift"]) == (2.0, 1.0)
    gender = result["profile"][result["profile"].field == "gender"].set_index("value")
    assert (gender.loc["F", "share"], gender.loc["F", "share_all"], gender.loc["F", "lift"]) == (1.0, 0.5, 2.0)
    assert result["habits"] == {"buyers": 1, "orders_per_buyer": 1.0, "order_value": 80.0, "coupon_share": 1.0,
                                "repurchase_days_median": None}
    assert result["hours"].set_index("hour").loc[10, "purchases"] == 1  # UTC business days here
    assert result["weekdays"].set_index("weekday").loc[5, "purchases"] == 1  # 2024-03-01 was a Friday


def test_portrait_of_everyone(shop):
    result = portrait(shop)
    assert result["users"] == 2
    assert (result["tags"]["lift"] == 1.0).all()


def test_user_360(shop):
    from engine.customers.user360 import find_users, user_profile, user_timeline

    assert find_users(shop, "A")["user_id"].tolist() == ["a"]
    assert set(find_users(shop, "")["user_id"]) == {"a", "b"}
    view = user_profile(shop, "a")
    assert view["profile"]["gender"] == "F"
    assert (view["totals"]["orders"], view["totals"]["gmv"]) == (1, 80.0)
    assert view["rfm"]["frequency"] == 1
    assert view["tags"]["tag"].tolist() == ["category:c2", "category:c1"]
    timeline = user_timeline(shop, "b")
    assert timeline["event_type"].tolist() == ["view", "view"] and timeline["category"].tolist() == ["c1", "c3"]
    assert user_profile(shop, "b")["rfm"] is None  # never bought
    with pytest.raises(PondError, match="there is no user 'zz'"):
        user_profile(shop, "zz")


def test_user_360_counts_days_not_day_and_channel_rows(con, write):
    from engine.customers.user360 import user_profile

    import_file(con, write("days.csv", "user_id,event_type,event_time,channel\n"
                                       "a,view,2024-03-01 10:00:00,douyin\n"
                                       "a,view,2024-03-01 11:00:00,wechat\n"
                                       "a,view,2024-03-01 12:00:00,\n"
                                       "a,impression,2024-03-03 10:00:00,douyin\n"
                                       "a,share,2024-03-04 10:00:00,wechat\n"))
    totals = user_profile(con, "a")["totals"]
    # three channels on the 1st are one day; being shown a post on the 3rd is not activity
    assert (totals["active_days"], totals["events"]) == (2, 5)
    assert str(totals["last_active_day"])[:10] == "2024-03-04"


def test_user_360_of_a_user_without_events(shop):
    from engine.customers.user360 import user_profile, user_timeline

    shop.execute("insert into users (user_id, gender) values ('quiet', 'F')")
    view = user_profile(shop, "quiet")
    assert view["totals"] == {"active_days": 0, "events": 0, "orders": 0, "gmv": 0.0, "refunds": 0.0,
                              "last_active_day": None}
    assert view["rfm"] is None and view["tags"].empty and user_timeline(shop, "quiet").empty


def test_tags_are_derived_once_per_data_version(shop, write):
    from engine.store import warehouse

    interest_tags(shop)
    assert shop.execute("select value from meta where key = 'tags_version'").fetchone()[0] == str(
        warehouse.data_version(shop))
    shop.execute("update user_tags set score = 99 where user_id = 'a'")  # a stored answer is reused ...
    assert set(interest_tags(shop).query("user_id == 'a'")["score"]) == {99}
    import_file(shop, write("more.csv", "user_id,event_type,event_time,category\nz,view,2024-03-01 11:00:00,c9\n"))
    fresh = interest_tags(shop)  # ... until an import moves the version on
    assert 99 not in set(fresh["score"]) and "z" in set(fresh["user_id"])


def test_imports_leave_the_tags_current(shop, write):
    from engine.store import warehouse

    import_file(shop, write("more.csv", "user_id,event_type,event_time,category\nz,view,2024-03-01 11:00:00,c9\n"))
    assert shop.execute("select value from meta where key = 'tags_version'").fetchone()[0] == str(
        warehouse.data_version(shop))
    assert shop.execute("select count(*) from user_tags where user_id = 'z'").fetchone() == (1,)


def test_an_import_can_leave_the_tags_to_be_derived_later(shop, write):
    from engine.customers.tags import tags_are_current

    import_file(shop, write("more.csv", "user_id,event_type,event_time,category\nz,view,2024-03-01 11:00:00,c9\n"),
                derive=False)
    assert not tags_are_current(shop)
    assert shop.execute("select count(*) from user_tags where user_id = 'z'").fetchone() == (0,)
    assert "z" in set(interest_tags(shop)["user_id"])  # the first reader derives them
    assert tags_are_current(shop)


def test_two_threads_deriving_tags_at_once_both_succeed(warehouse_path, write):
    import threading

    from engine.customers.tags import ensure_interest_tags, tags_are_current
    from engine.store import warehouse

    with warehouse.connect(warehouse_path) as con:
        import_file(con, write("events.csv", EVENTS), derive=False)
    errors = []

    def derive() -> None:
        try:
            with warehouse.connect(warehouse_path) as con:
                ensure_interest_tags(con)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=derive) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with warehouse.connect(warehouse_path) as con:
        assert tags_are_current(con) and con.execute("select count(*) from user_tags").fetchone()[0] > 0
