"""Funnels on a hand-made warehouse; every expected number is worked out in the comments.

  u1 (douyin): view A 10:00, view B 10:05, cart A 10:10, purchase A 12:00        (all 01-01)
  u2 (wechat): view A 01-01 10:00, cart A 01-01 11:00, purchase A 01-09 10:00    (buy after 8 days)
  u3 (wechat): cart A 01-01 09:00, view A 01-02 09:00                             (cart before view)
  u4 (douyin): view A 10:00, impression 10:01, cart A 10:02, share 10:03, purchase A 10:04 (01-01)
  u5 (douyin): view A 01-05                                                       (enters after the range)
  u6 (wechat): purchase A 01-01                                                   (never views)
Entries are counted on 2024-01-01..01-03.
"""

from __future__ import annotations

from datetime import date

import pytest

from engine.behaviour.funnels import FunnelQuery, funnel
from engine.errors import PondError
from engine.ingest import import_file

EVENTS = """user_id,event_type,event_time,item_id,channel
u1,view,2024-01-01 10:00:00,A,douyin
u1,view,2024-01-01 10:05:00,B,douyin
u1,cart,2024-01-01 10:10:00,A,douyin
u1,purchase,2024-01-01 12:00:00,A,douyin
u2,view,2024-01-01 10:00:00,A,wechat
u2,cart,2024-01-01 11:00:00,A,wechat
u2,purchase,2024-01-09 10:00:00,A,wechat
u3,cart,2024-01-01 09:00:00,A,wechat
u3,view,2024-01-02 09:00:00,A,wechat
u4,view,2024-01-01 10:00:00,A,douyin
u4,impression,2024-01-01 10:01:00,,douyin
u4,cart,2024-01-01 10:02:00,A,douyin
u4,share,2024-01-01 10:03:00,,douyin
u4,purchase,2024-01-01 10:04:00,A,douyin
u5,view,2024-01-05 10:00:00,A,douyin
u6,purchase,2024-01-01 10:00:00,A,wechat
"""
RANGE = {"start": date(2024, 1, 1), "end": date(2024, 1, 3)}


@pytest.fixture
def shop(con, write):
    import_file(con, write("events.csv", EVENTS))
    return con


def counts(result, segment="All users"):
    steps = result.steps[result.steps["segment"] == segment]
    return steps["users"].tolist()


def test_sequential_funnel(shop):
    result = funnel(shop, FunnelQuery(**RANGE))
    steps = result.steps
    assert counts(result) == [4, 3, 2]
    assert steps["step_conversion"].tolist() == [1.0, 0.75, 2 / 3]
    assert steps["overall_conversion"].tolist() == [1.0, 0.75, 0.5]
    assert steps["dropped"].tolist() == [0, 1, 1]
    # view -> cart: u1 5 min (entered on view B, the latest view before the cart), u2 60, u4 2
    assert steps["median_hours"].tolist()[1:] == pytest.approx([5 / 60, (110 / 60 + 2 / 60) / 2])
    assert sorted(result.time_to_convert().round(4).tolist()) == [round(4 / 60, 4), round(115 / 60, 4)]
    assert result.users.set_index("user_id")["reached"].to_dict() == {"u1": 3, "u4": 3, "u2": 2, "u3": 1}


def test_window_decides_late_conversions(shop):
    assert counts(funnel(shop, FunnelQuery(window_days=10, **RANGE))) == [4, 3, 3]
    assert counts(funnel(shop, FunnelQuery(window_days=1 / 24, **RANGE))) == [4, 3, 1]  # within an hour


def test_same_item_funnel_enters_on_the_same_sku(shop):
    result = funnel(shop, FunnelQuery(same_item=True, **RANGE))
    assert counts(result) == [4, 3, 2]
    u1 = result.users.set_index("user_id").loc["u1"]
    assert (u1["step_2_at"] - u1["entered_at"]).total_seconds() == 600  # view A 10:00 -> cart A 10:10


def test_strict_order_needs_the_next_action(shop):
    # u1 from view B: cart then purchase are its next actions; u4: the share breaks cart -> purchase
    assert counts(funnel(shop, FunnelQuery(order="strict", **RANGE))) == [4, 3, 1]
    # same item too: u1's view A is followed by view B, and view B's cart is of item A
    assert counts(funnel(shop, FunnelQuery(order="strict", same_item=True, **RANGE))) == [4, 2, 0]


def test_strict_funnel_from_a_passive_step(shop):
    # an impression is skipped between steps, but a funnel that names it starts there: u4's impression
    # 10:01 is followed by cart 10:02 and then the share, which breaks cart -> purchase
    steps = ("impression", "cart", "purchase")
    assert counts(funnel(shop, FunnelQuery(steps=steps, order="strict", **RANGE))) == [1, 1, 0]
    assert counts(funnel(shop, FunnelQuery(steps=steps, **RANGE))) == [1, 1, 1]
    # and as a later step: view A 10:00 -> impression 10:01 is u4's very next event
    assert counts(funnel(shop, FunnelQuery(steps=("view", "impression"), order="strict", **RANGE))) == [4, 1]


def test_breakdown_and_channel_filter(shop):
    result = funnel(shop, FunnelQuery(breakdown="channel", **RANGE))
    assert counts(result, "douyin") == [2, 2, 2]
    assert counts(result, "wechat") == [2, 1, 0]
    assert counts(funnel(shop, FunnelQuery(channel="wechat", **RANGE))) == [2, 1, 0]


def test_drop_off_users(shop):
    result = funnel(shop, FunnelQuery(**RANGE))
    assert result.dropped_after(2)["user_id"].tolist() == ["u2"]
    assert result.dropped_after(1)["user_id"].tolist() == ["u3"]


def test_two_steps_and_repeated_types(shop):
    assert counts(funnel(shop, FunnelQuery(steps=("view", "purchase"), **RANGE))) == [4, 2]
    assert counts(funnel(shop, FunnelQuery(steps=("view", "view"), **RANGE))) == [4, 1]  # u1 viewed twice


def test_empty_range_gives_zeros(shop):
    result = funnel(shop, FunnelQuery(start=date(2023, 1, 1), end=date(2023, 1, 2)))
    assert counts(result) == [0, 0, 0] and result.users.empty


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": ("view",)}, "2 to 8 steps"),
    ({"steps": tuple("abcdefghi")}, "2 to 8 steps"),
    ({"window_days": 0}, "between 0 and 365 days"),
    ({"order": "random"}, "sequential, strict or unordered"),
    ({"steps": ("view", "")}, "needs an event type"),
])
def test_bad_queries_are_refused(kwargs, message):
    with pytest.raises(PondError, match=message):
        FunnelQuery(**kwargs)


def test_entry_days_follow_the_business_time_zone(shop, write):
    from engine.store import warehouse

    import_file(shop, write("late.csv", "user_id,event_type,event_time\nz1,view,2024-01-01 20:00:00\n"))
    day2 = {"start": date(2024, 1, 2), "end": date(2024, 1, 2)}
    assert funnel(shop, FunnelQuery(**day2)).users["user_id"].tolist() == ["u3"]
    warehouse.set_business_timezone(shop, "Asia/Shanghai")  # 20:00 UTC is 04:00 on 01-02 there
    assert sorted(funnel(shop, FunnelQuery(**day2)).users["user_id"]) == ["u3", "z1"]
    assert sorted(funnel(shop, FunnelQuery(order="strict", **day2)).users["user_id"]) == ["u3", "z1"]


TIES = """user_id,event_type,event_time,item_id
t1,view,2024-01-01 10:00:00,A
t1,cart,2024-01-01 10:00:00,A
t1,purchase,2024-01-01 10:00:00,A
t2,cart,2024-01-01 10:00:00,A
t2,view,2024-01-01 10:00:00,A
t3,view,2024-01-01 10:00:00,A
t3,share,2024-01-01 10:00:00,
t3,cart,2024-01-01 10:00:00,A
t4,view,2024-01-01 10:00:00,
t4,cart,2024-01-01 10:05:00,
t5,view,2024-01-01 10:00:00,A
t6,view,2024-01-01 10:00:00,A
"""


def test_ties_count_as_in_order_in_both_modes(con, write):
    # t1: view, cart and purchase in one second; t2: cart imported before view in the same second;
    # t3: a share at the same second does not come between (ties take the funnel's steps first);
    # t4: no item on either step; t5, t6: one view each, never two steps at once
    import_file(con, write("ties.csv", TIES))
    day = {"start": date(2024, 1, 1), "end": date(2024, 1, 1)}
    for order in ("sequential", "strict"):
        assert counts(funnel(con, FunnelQuery(order=order, **day))) == [6, 4, 1], order
        assert counts(funnel(con, FunnelQuery(steps=("view", "view"), order=order, **day))) == [6, 0], order
        # a step without an item never matches on item, in either mode
        same = funnel(con, FunnelQuery(steps=("view", "cart"), order=order, same_item=True, **day))
        assert counts(same) == [6, 3], order
        assert "t4" not in set(same.users.loc[same.users["reached"] == 2, "user_id"])


def test_exclusion_steps_drop_the_user(shop):
    # u4 shared (10:03) between cart (10:02) and purchase (10:04)
    assert counts(funnel(shop, FunnelQuery(exclusions=(("share", 2, 3),), **RANGE))) == [3, 2, 1]
    assert counts(funnel(shop, FunnelQuery(exclusions=(("share", 1, 2),), **RANGE))) == [4, 3, 2]
    with pytest.raises(PondError, match="1 <= after < before <= 3"):
        FunnelQuery(exclusions=(("share", 2, 2),))


def test_any_event_steps(shop):
    # view -> any: u1's second view (a later event), u2's and u4's carts; u3 does nothing after
    assert counts(funnel(shop, FunnelQuery(steps=("view", "any"), **RANGE))) == [4, 3]
    # any -> purchase: u6's only event cannot be both; u2 bought 8 days after its first action
    assert counts(funnel(shop, FunnelQuery(steps=("any", "purchase"), **RANGE))) == [5, 2]
    assert counts(funnel(shop, FunnelQuery(steps=("any", "purchase"), order="strict", **RANGE))) == [5, 2]


def test_mean_and_median_time_between_steps(shop):
    steps = funnel(shop, FunnelQuery(**RANGE)).steps.set_index("step")
    # purchase after cart: u1 1 h 50 min, u4 2 min
    assert steps.loc[3, "mean_hours"] == pytest.approx((110 / 60 + 2 / 60) / 2)
    assert steps.loc[3, "median_hours"] == pytest.approx((110 / 60 + 2 / 60) / 2)
    assert steps.loc[1, "mean_hours"] is None or steps.loc[1, "mean_hours"] != steps.loc[1, "mean_hours"]


def test_conversion_over_time(shop):
    from engine.behaviour.funnels import funnel_trend

    trend = funnel_trend(shop, funnel(shop, FunnelQuery(**RANGE)), period="day")
    # Jan 1: u1, u2, u4 entered, u1 and u4 completed; Jan 2: u3 entered. The data end on Jan 9, so both
    # days' entrants have had their 7 days
    assert trend[["period", "entered", "converted", "complete"]].values.tolist() == [
        [date(2024, 1, 1), 3, 2, True], [date(2024, 1, 2), 1, 0, True]]
    longer = funnel_trend(shop, funnel(shop, FunnelQuery(window_days=8, **RANGE)), period="day")
    assert longer["complete"].tolist() == [True, False]  # Jan 2's window closes after the last day
    assert longer["converted"].tolist() == [3, 0]  # u2's purchase after 8 days now counts
    with pytest.raises(PondError, match="period must be day, week or month"):
        funnel_trend(shop, funnel(shop, FunnelQuery(**RANGE)), period="year")


def test_first_time_steps(shop, write):
    # u4 bought before (December), u3 viewed before: their first purchase / first view lie outside the funnel
    import_file(shop, write("earlier.csv", "user_id,event_type,event_time,item_id\n"
                                           "u4,purchase,2023-12-01 10:00:00,Z\nu3,view,2023-12-01 10:00:00,Z\n"))
    assert counts(funnel(shop, FunnelQuery(**RANGE))) == [4, 3, 2]
    assert counts(funnel(shop, FunnelQuery(first_time=(3,), **RANGE))) == [4, 3, 1]  # new customers: u1
    assert counts(funnel(shop, FunnelQuery(first_time=(1,), **RANGE))) == [3, 3, 2]  # u3 is no new viewer
    with pytest.raises(PondError, match="first-time steps work in sequential order"):
        FunnelQuery(first_time=(3,), order="strict")
    with pytest.raises(PondError, match="step numbers 1 to 3"):
        FunnelQuery(first_time=(4,))


def test_breakdown_by_any_property_with_other(shop, write):
    # entry items: u1's best attempt enters on view B (the latest view before its cart); u2, u3, u4 on A
    by_item = funnel(shop, FunnelQuery(breakdown="item", breakdown_limit=1, **RANGE))
    assert counts(by_item, "A") == [3, 2, 1] and counts(by_item, "Other") == [1, 1, 1]
    import_file(shop, write("who.csv", "user_id,event_type,event_time,gender\n"
                                       "u1,signup,2023-12-01 10:00:00,F\nu2,signup,2023-12-01 10:00:00,M\n"))
    by_gender = funnel(shop, FunnelQuery(breakdown="gender", **RANGE))
    assert counts(by_gender, "F") == [1, 1, 1] and counts(by_gender, "M") == [1, 1, 0]
    assert counts(by_gender, "(none)") == [2, 1, 1]  # u3 and u4 have no gender
    first_seen = funnel(shop, FunnelQuery(breakdown="first_seen", **RANGE))
    assert set(first_seen.users["segment"]) == {"2023-12-01", "2024-01-01"}
    with pytest.raises(PondError, match="breakdown must be none, segment or a property"):
        FunnelQuery(breakdown="colour")


def test_unordered_funnels(shop):
    # u3 carted (01-01 09:00) before viewing (01-02): in order it stops at view, unordered it has 2 of 3;
    # u6 only purchased: 1 of 3; u2's purchase is 8 days after its view, outside the window
    result = funnel(shop, FunnelQuery(order="unordered", **RANGE))
    assert counts(result) == [5, 4, 2]
    assert result.steps["event_type"].tolist() == ["any 1 of the 3 steps", "any 2 of the 3 steps",
                                                  "any 3 of the 3 steps"]
    assert result.users.set_index("user_id").loc["u3", "reached"] == 2
    assert counts(funnel(shop, FunnelQuery(order="unordered", steps=("purchase", "view"), **RANGE))) == [5, 2]
    with pytest.raises(PondError, match="unordered funnel counts distinct steps"):
        FunnelQuery(order="unordered", same_item=True)
    with pytest.raises(PondError, match="unordered funnel counts distinct steps"):
        FunnelQuery(order="unordered", steps=("view", "view"))


def test_strict_never_converts_more_users_than_sequential(tmp_path_factory):
    """On generated streams (ties, repeats, passive events, missing items), strict <= sequential at every step."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from engine.store import warehouse

    kinds = st.sampled_from(["view", "cart", "purchase", "impression", "share"])
    event = st.tuples(st.sampled_from(["a", "b", "c"]), kinds, st.integers(0, 40), st.sampled_from(["A", "B", ""]))

    @settings(max_examples=40, deadline=None, database=None)
    @given(st.lists(event, min_size=1, max_size=25), st.booleans())
    def check(rows, same_item):
        path = tmp_path_factory.mktemp("strict") / "w.duckdb"
        csv = path.with_suffix(".csv")
        csv.write_text("user_id,event_type,event_time,item_id\n" + "".join(
            f"{u},{k},2024-01-01 10:{m // 60:02d}:{m % 60:02d},{i}\n" for u, k, m, i in rows))
        with warehouse.connect(path) as con:
            import_file(con, csv)
            day = {"start": date(2024, 1, 1), "end": date(2024, 1, 1), "same_item": same_item}
            strict = counts(funnel(con, FunnelQuery(order="strict", **day)))
            sequential = counts(funnel(con, FunnelQuery(**day)))
        assert all(s <= q for s, q in zip(strict, sequential, strict=True)), (strict, sequential)

    check()


# Step filters against a filter on the whole funnel (all on 2024-01-01):
#   f1: view category 3 10:00, purchase category 1 amount 50 10:10
#   f2: view category 1 11:00, purchase category 3 amount 200 11:10
#   f3: view category 3 12:00, purchase category 3 amount 300 12:10
#   f4: view category 3 13:00                                     (never buys)
FILTERED = """user_id,event_type,event_time,category,amount
f1,view,2024-01-01 10:00:00,3,
f1,purchase,2024-01-01 10:10:00,1,50
f2,view,2024-01-01 11:00:00,1,
f2,purchase,2024-01-01 11:10:00,3,200
f3,view,2024-01-01 12:00:00,3,
f3,purchase,2024-01-01 12:10:00,3,300
f4,view,2024-01-01 13:00:00,3,
"""


@pytest.fixture
def filtered(con, write):
    import_file(con, write("filtered.csv", FILTERED))
    return con


@pytest.mark.parametrize("order", ["sequential", "strict"])
def test_a_filter_on_a_step_is_not_a_filter_on_the_whole_funnel(filtered, order):
    from engine.store.filters import parse_condition

    category_3 = (parse_condition("category = 3"),)
    big = (parse_condition("amount between 100,500"),)

    def users(**options):
        return counts(funnel(filtered, FunnelQuery(steps=("view", "purchase"), order=order, **options)))

    assert users() == [4, 3]  # everyone views; f1, f2, f3 buy
    # step 1 on category 3: f1, f3, f4 enter; f1 and f3 buy (f1's purchase is of category 1: it still counts)
    assert users(step_where=(category_3, ())) == [3, 2]
    # the whole funnel on category 3: the same entrants, but only f3 buys in category 3
    assert users(where=category_3) == [3, 1]
    # step 2 between 100 and 500: all four enter, f2 and f3 buy big
    assert users(step_where=((), big)) == [4, 2]
    # both: f1, f3, f4 enter on category 3; only f3 then buys big
    assert users(step_where=(category_3, big)) == [3, 1]


def test_step_filters_in_unordered_and_first_time_funnels(filtered):
    from engine.store.filters import parse_condition

    category_3 = (parse_condition("category = 3"),)
    # unordered, step 1 (view) on category 3: f1, f3, f4 view category 3 and f2 buys, so all four do one step;
    # f1 and f3 do both (f2's view is of category 1)
    unordered = FunnelQuery(steps=("view", "purchase"), order="unordered", step_where=(category_3, ()))
    assert counts(funnel(filtered, unordered)) == [4, 2]
    # the whole funnel on category 3: f1, f3, f4 view and f2 buys in category 3; only f3 does both
    assert counts(funnel(filtered, FunnelQuery(steps=("view", "purchase"), order="unordered",
                                               where=category_3))) == [4, 1]
    # a first-time purchase over 100: f2's and f3's; f1's only purchase is 50
    first_big = FunnelQuery(steps=("view", "purchase"), first_time=(2,),
                            step_where=((), (parse_condition("amount > 100"),)))
    assert counts(funnel(filtered, first_big)) == [4, 2]


def test_step_filters_must_cover_every_step():
    with pytest.raises(PondError, match="give filters for every step \\(3, empty for none\\), not 1"):
        FunnelQuery(steps=("view", "cart", "purchase"), step_where=((),))


# Sessions (all on 2024-01-01). Without session ids a session ends after 30 minutes without an event:
#   s1: view 10:00, cart 10:10, purchase 10:20 | view 12:00 | cart 13:00    (three sessions)
#   s2: view 10:00, cart 10:25 | purchase 11:00                             (two sessions: 35 minutes)
# With session ids, the export's own sessions count, however close the events:
#   x1: view 10:00 (A), cart 10:05 (B), purchase 10:06 (B)
SESSIONS = """user_id,event_type,event_time,session_id
s1,view,2024-01-01 10:00:00,
s1,cart,2024-01-01 10:10:00,
s1,purchase,2024-01-01 10:20:00,
s1,view,2024-01-01 12:00:00,
s1,cart,2024-01-01 13:00:00,
s2,view,2024-01-01 10:00:00,
s2,cart,2024-01-01 10:25:00,
s2,purchase,2024-01-01 11:00:00,
x1,view,2024-01-01 10:00:00,A
x1,cart,2024-01-01 10:05:00,B
x1,purchase,2024-01-01 10:06:00,B
"""


@pytest.mark.parametrize("order", ["sequential", "strict"])
def test_counting_by_session(con, write, order):
    import_file(con, write("sessions.csv", SESSIONS))
    by_user = funnel(con, FunnelQuery(order=order))
    assert counts(by_user) == [3, 3, 3]  # each user views, carts and buys within the 7-day window
    by_session = funnel(con, FunnelQuery(order=order, count_by="session"))
    # sessions with a view: s1's first (all three steps), s1's 12:00 one (view only), s2's first (view,
    # cart; its purchase is in the next session) and x1's session A (view only; cart and buy are in B)
    assert counts(by_session) == [4, 2, 1]
    assert sorted(by_session.users["user_id"]) == ["s1", "s1", "s2", "x1"]
    assert set(by_session.users["session"]) == {"gap 1", "gap 2", "id A"}


def test_session_funnels_take_no_user_only_options():
    with pytest.raises(PondError, match="first-time steps and exclusions are about users"):
        FunnelQuery(count_by="session", first_time=(3,))
    with pytest.raises(PondError, match="count by user or session, not 'visit'"):
        FunnelQuery(count_by="visit")
