"""Paths on hand-made streams with exact expected paths and moves (UTC, one day).

  u1: view, view, cart, purchase, view            (a run of views is one step)
  u2: click, view, fav
  u3: cart, purchase                              (never views)
  u4: view, impression, cart                      (an impression is not an action)
  u5: cart then view at one timestamp, imported in that order
"""

from __future__ import annotations

from datetime import date

import pytest

from engine.behaviour.paths import PathQuery, paths
from engine.errors import PondError
from engine.ingest import import_file

EVENTS = """user_id,event_type,event_time
u1,view,2024-01-01 10:00:00
u1,view,2024-01-01 10:01:00
u1,cart,2024-01-01 10:02:00
u1,purchase,2024-01-01 10:03:00
u1,view,2024-01-01 10:04:00
u2,click,2024-01-01 09:00:00
u2,view,2024-01-01 09:01:00
u2,fav,2024-01-01 09:02:00
u3,cart,2024-01-01 11:00:00
u3,purchase,2024-01-01 11:05:00
u4,view,2024-01-01 12:00:00
u4,impression,2024-01-01 12:01:00
u4,cart,2024-01-01 12:02:00
u5,cart,2024-01-01 13:00:00
u5,view,2024-01-01 13:00:00
"""
DAY = {"start": date(2024, 1, 1), "end": date(2024, 1, 1)}


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def test_paths_after_a_start_event(shop):
    result = paths(shop, PathQuery("view", "after", 4, **DAY))
    assert dict(zip(result.paths["path"], result.paths["users"], strict=True)) == {
        "view → cart → purchase → view": 1, "view → fav → (end)": 1, "view → cart → (end)": 1, "view → (end)": 1}
    assert result.paths["share"].sum() == pytest.approx(1.0)
    first = result.links[result.links["step"] == 1].set_index("target")["users"].to_dict()
    assert first == {"2. cart": 2, "2. fav": 1, "2. (end)": 1}
    assert set(result.users["user_id"]) == {"u1", "u2", "u4", "u5"}


def test_paths_before_an_end_event(shop):
    result = paths(shop, PathQuery("purchase", "before", 3, **DAY))
    assert dict(zip(result.paths["path"], result.paths["users"], strict=True)) == {
        "view → cart → purchase": 1, "(start) → cart → purchase": 1}


def test_no_anchor_and_refusals(shop):
    assert paths(shop, PathQuery("share", "after", 3, **DAY)).paths.empty
    assert paths(shop, PathQuery("view", "after", 3, start=date(2023, 1, 1), end=date(2023, 1, 2))).links.empty
    with pytest.raises(PondError, match="2 to 8 steps"):
        PathQuery("view", steps=9)
    with pytest.raises(PondError, match="happens to users"):
        PathQuery("impression")
    with pytest.raises(PondError, match="direction must be after"):
        PathQuery("view", direction="around")


def test_drop_off_per_step(shop):
    result = paths(shop, PathQuery("view", "after", 4, **DAY))
    # u1, u2, u4, u5 start; u5 stops after its view, u2 and u4 after their second step
    assert result.steps[["step", "users", "dropped"]].values.tolist() == [[1, 4, 0], [2, 3, 1], [3, 1, 2], [4, 1, 0]]


def test_repeats_kept_categories_and_a_cap_on_nodes(con, write):
    import_file(con, write("cats.csv", "user_id,event_type,event_time,category\n"
                                       "a,view,2024-01-01 10:00:00,shoes\na,view,2024-01-01 10:01:00,shoes\n"
                                       "a,view,2024-01-01 10:02:00,bags\nb,view,2024-01-01 10:00:00,shoes\n"
                                       "b,cart,2024-01-01 10:01:00,shoes\nc,view,2024-01-01 10:00:00,bags\n"
                                       "c,share,2024-01-01 10:01:00,\nd,view,2024-01-01 10:00:00,bags\n"
                                       "d,like,2024-01-01 10:01:00,\ne,view,2024-01-01 10:00:00,bags\n"
                                       "e,like,2024-01-01 10:01:00,\n"))
    kept = paths(con, PathQuery("view", "after", 3, collapse=False, **DAY))
    assert "view → view → view" in set(kept.paths["path"])  # a's three views, repeats kept
    grouped = paths(con, PathQuery("view", "after", 3, grouping="category", **DAY))
    assert set(grouped.users.set_index("user_id").loc[["a"], "path"]) == {"view · shoes → view · bags → (end)"}
    capped = paths(con, PathQuery("view", "after", 2, max_nodes=2, **DAY))
    # second steps: like 2 (d, e), cart 1 (b), share 1 (c); a's views collapse into one step, then (end).
    # Two nodes: like, and cart before share by name; share becomes "other"
    seconds = capped.links[capped.links["step"] == 1].set_index("target")["users"].to_dict()
    assert seconds == {"2. like": 2, "2. cart": 1, "2. other": 1, "2. (end)": 1}
    with pytest.raises(PondError, match="type or category"):
        PathQuery("view", grouping="brand")


def test_users_through_a_node(shop):
    result = paths(shop, PathQuery("view", "after", 4, **DAY))
    assert result.nodes()[:2] == ["1. view", "2. cart"]
    assert result.users_through("2. cart")["user_id"].tolist() == ["u1", "u4"]
    assert result.users_through("3. (end)")["user_id"].tolist() == ["u2", "u4"]


def test_the_range_is_business_days_of_the_time_zone(con, write):
    from engine.store import warehouse

    # in Asia/Shanghai (UTC+8): 15:59 UTC is 23:59 on 01-01, 16:00 UTC is 00:00 on 01-02, and
    # 15:59 UTC on 01-02 is 23:59 on 01-02: the path on 01-02 is cart then purchase
    import_file(con, write("tz.csv", "user_id,event_type,event_time\nz,view,2024-01-01 15:59:00\n"
                                     "z,cart,2024-01-01 16:00:00\nz,purchase,2024-01-02 15:59:00\n"
                                     "z,share,2024-01-02 16:00:00\n"))
    warehouse.set_business_timezone(con, "Asia/Shanghai")
    result = paths(con, PathQuery("cart", "after", 3, date(2024, 1, 2), date(2024, 1, 2)))
    assert result.users["path"].tolist() == ["cart → purchase → (end)"]
    assert paths(con, PathQuery("view", "after", 3, date(2024, 1, 2), date(2024, 1, 2))).users.empty
