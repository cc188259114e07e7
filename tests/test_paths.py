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

from engine.errors import PondError
from engine.ingest import import_file
from engine.paths import PathQuery, paths

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
