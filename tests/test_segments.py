"""Segment builder on four hand-made users; the last day of data is 2024-01-31.

  a (douyin, F): purchase skin 01-30, purchase skin 01-31
  b (wechat, F): view skin 01-20, view skin 01-25
  c (douyin, M): purchase food 2023-12-01, view food 01-31
  d (wechat, M): view skin 01-02
"""

from __future__ import annotations

import pytest

from engine.customers.segments import (
    Condition,
    SegmentDefinition,
    compare_with_everyone,
    delete_segment,
    load_segment,
    save_segment,
    save_user_list,
    saved_segments,
    segment_count,
    segment_users,
)
from engine.errors import PondError
from engine.ingest import import_file

EVENTS = """user_id,event_type,event_time,category,channel,gender,amount
a,purchase,2024-01-30 10:00:00,skin,douyin,F,50
a,purchase,2024-01-31 10:00:00,skin,douyin,F,70
b,view,2024-01-20 10:00:00,skin,wechat,F,
b,view,2024-01-25 10:00:00,skin,wechat,F,
c,purchase,2023-12-01 10:00:00,food,douyin,M,30
c,view,2024-01-31 09:00:00,food,douyin,M,
d,view,2024-01-02 10:00:00,skin,wechat,M,
"""


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def members(con, *conditions, match="all"):
    return sorted(segment_users(con, SegmentDefinition(tuple(conditions), match))["user_id"])


def did(event, op=">=", count=1, days=30, category=None):
    return Condition("event", event=event, op=op, count=count, days=days, category=category)


def test_event_counts_in_a_window(shop):
    assert members(shop, did("purchase", count=2)) == ["a"]
    assert members(shop, did("purchase")) == ["a"]
    assert members(shop, did("purchase", days=90)) == ["a", "c"]
    assert members(shop, did("purchase", op="=", count=0)) == ["b", "c", "d"]  # never, in 30 days
    assert members(shop, did("view", op="<", count=2)) == ["a", "c", "d"]


def test_viewed_a_category_but_never_bought_it(shop):
    assert members(shop, did("view", category="skin"), did("purchase", op="=", count=0, category="skin")) == [
        "b", "d"]
    assert members(shop, did("view", category="skin", days=20),
                   did("purchase", op="=", count=0, category="skin")) == ["b"]


def test_properties_any_and_all(shop):
    douyin = Condition("property", field="acquisition_channel", values=("douyin",))
    women = Condition("property", field="gender", values=("F",))
    assert members(shop, douyin) == ["a", "c"]
    assert members(shop, douyin, women) == ["a"]
    assert members(shop, douyin, women, match="any") == ["a", "b", "c"]
    assert members(shop) == ["a", "b", "c", "d"]  # no conditions: everyone


def test_rfm_segment_condition(shop):
    from engine.customers.rfm import rfm_scores

    segment_of_a = rfm_scores(shop).set_index("user_id").loc["a", "segment"]
    assert "a" in members(shop, Condition("rfm", values=(segment_of_a,)))
    assert members(shop, Condition("rfm", values=("No such segment",))) == []


def test_count_and_comparison_with_everyone(shop):
    buyers = SegmentDefinition((did("purchase"),))
    assert segment_count(shop, buyers) == 1
    table = compare_with_everyone(shop, buyers).set_index("metric")
    assert (table.loc["buyers", "segment"], table.loc["buyers", "everyone"], table.loc["buyers", "lift"]) == (
        1.0, 0.25, 4.0)
    assert table.loc["active", "everyone"] == 1.0  # all four acted in the last 30 days
    assert table.loc["order_value", "segment"] == 60.0


def test_save_load_overwrite_and_delete(shop):
    from engine.store import warehouse

    version = warehouse.data_version(shop)
    definition = SegmentDefinition((did("view", category="skin"),))
    save_segment(shop, "  Skin browsers ", definition)
    assert load_segment(shop, "Skin browsers") == definition
    assert warehouse.data_version(shop) == version + 1  # caches of the segment list refresh
    save_segment(shop, "Skin browsers", SegmentDefinition((did("purchase"),)))
    assert saved_segments(shop)["name"].tolist() == ["Skin browsers"]
    assert load_segment(shop, "Skin browsers").conditions[0].event == "purchase"
    delete_segment(shop, "Skin browsers")
    with pytest.raises(PondError, match="no saved segment named 'Skin browsers'"):
        load_segment(shop, "Skin browsers")


def test_description_and_json_round_trip():
    definition = SegmentDefinition((did("view", category="skin"), did("purchase", op="=", count=0)), "any")
    assert definition.describe() == ("did view in category skin >= 1 times in the last 30 days or never did "
                                     "purchase in the last 30 days")
    assert SegmentDefinition.from_json(definition.to_json()) == definition


@pytest.mark.parametrize("condition, message", [
    (Condition("event", event=None), "choose an event type"),
    (Condition("event", event="view", op="!="), "comparison must be one of"),
    (Condition("event", event="view", days=0), "look back 1 to 3650 days"),
    (Condition("property", field="password", values=("x",)), "property must be one of"),
    (Condition("property", field="city", values=()), "at least one value of city"),
    (Condition("rfm"), "at least one RFM segment"),
    (Condition("magic"), "kind must be one of"),
])
def test_bad_conditions_are_refused(shop, condition, message):
    with pytest.raises(PondError, match=f"condition 1: .*{message}"):
        segment_count(shop, SegmentDefinition((condition,)))


def test_hostile_values_are_only_data(shop):
    hostile = "x'); drop table events; --"
    assert members(shop, did("view", category=hostile)) == []
    assert members(shop, Condition("property", field="city", values=(hostile,))) == []
    assert shop.execute("select count(*) from events").fetchone()[0] == 7
    with pytest.raises(PondError, match="give the segment a name"):
        save_segment(shop, "   ", SegmentDefinition())


def test_saved_segment_as_a_breakdown_in_retention_and_funnels(shop):
    from datetime import date

    from engine.behaviour.funnels import FunnelQuery, funnel
    from engine.behaviour.retention import RetentionQuery, retention_matrix

    save_segment(shop, "Women", SegmentDefinition((Condition("property", field="gender", values=("F",)),)))
    matrix = retention_matrix(shop, RetentionQuery(period="day", breakdown="segment", segment="Women",
                                                   start_event="any", return_event="any"))
    sizes = matrix[matrix.period == 0].groupby("segment")["cohort_size"].sum().to_dict()
    assert sizes == {"Women": 2, "Everyone else": 2}  # a and b are women; c and d are not
    result = funnel(shop, FunnelQuery(steps=("view", "purchase"), breakdown="segment", segment="Women",
                                      start=date(2024, 1, 1), end=date(2024, 1, 31)))
    assert result.steps.set_index(["segment", "step"])["users"].to_dict() == {
        ("Everyone else", 1): 2, ("Everyone else", 2): 0, ("Women", 1): 1, ("Women", 2): 0}
    with pytest.raises(PondError, match="choose the saved segment"):
        RetentionQuery(breakdown="segment")


def test_interest_tag_condition(shop):
    from engine.customers.tags import interest_tags

    tags = interest_tags(shop)
    skin_fans = sorted(tags.loc[tags.tag == "category:skin", "user_id"].unique())
    assert skin_fans == ["a", "b", "d"]
    assert members(shop, Condition("tag", values=("category:skin",))) == skin_fans
    assert members(shop, Condition("tag", values=("category:skin",)),
                   Condition("property", field="gender", values=("M",))) == ["d"]
    assert Condition("tag", values=("category:skin",)).describe() == "interested in category:skin"
    with pytest.raises(PondError, match="choose at least one tag"):
        segment_count(shop, SegmentDefinition((Condition("tag"),)))


def test_a_static_user_list_is_a_segment_that_new_data_does_not_change(shop, write):
    from engine.customers.segments import materialise_segment

    definition = save_user_list(shop, " Paths: 2. cart ", ["b", "d", "b", "nobody"])
    assert definition.describe() == "in the user list 'Paths: 2. cart'"
    assert load_segment(shop, "Paths: 2. cart") == definition
    # users of the list that exist (an unknown id is kept in the list but is nobody's row)
    assert members(shop, *definition.conditions) == ["b", "d"]
    # combined with a behaviour condition like any other segment: or the buyers of 90 days, a and c
    assert members(shop, *definition.conditions, did("purchase", days=90), match="any") == ["a", "b", "c", "d"]
    import_file(shop, write("more.csv", "user_id,event_type,event_time\ne,view,2024-02-01 10:00:00\n"))
    assert members(shop, *definition.conditions) == ["b", "d"]  # new data does not change a static list
    materialise_segment(shop, "Paths: 2. cart")  # breakdowns by the saved segment see its users
    assert sorted(u for (u,) in shop.execute("select user_id from segment_members").fetchall()) == ["b", "d", "nobody"]
    save_user_list(shop, "Paths: 2. cart", ["a"])  # saving again replaces the list
    assert members(shop, *load_segment(shop, "Paths: 2. cart").conditions) == ["a"]
    delete_segment(shop, "Paths: 2. cart")
    assert shop.execute("select count(*) from segment_user_lists").fetchone()[0] == 0
    with pytest.raises(PondError, match="there are no users to save"):
        save_user_list(shop, "Empty", [])
    with pytest.raises(PondError, match="a user list is named by one saved list"):
        SegmentDefinition((Condition("list", values=()),)).check()
