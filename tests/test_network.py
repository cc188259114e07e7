"""Share graph on a tiny forest: a brought b and c, b brought d, e brought f.

GMV: b 10, c 20, d 5, f 7. Reach of a: b, c, d (3 users, 35); of b: d (1, 5); of e: f (1, 7).
"""

from __future__ import annotations

import pytest

from engine.errors import PondError
from engine.ingest import import_file
from engine.social.network import k_factor, share_graph

EVENTS = """user_id,event_type,event_time,referrer_id,amount,channel
a,signup,2024-01-01 10:00:00,,,wechat_group
e,signup,2024-01-01 11:00:00,,,douyin
b,signup,2024-01-02 10:00:00,a,,referral
c,signup,2024-01-02 11:00:00,a,,referral
d,signup,2024-01-03 10:00:00,b,,referral
f,signup,2024-01-03 11:00:00,e,,referral
b,purchase,2024-01-04 10:00:00,,10,
c,purchase,2024-01-04 10:00:00,,20,
d,purchase,2024-01-04 10:00:00,,5,
f,purchase,2024-01-04 10:00:00,,7,
"""


@pytest.fixture
def shared(con, write):
    import_file(con, write("referrals.csv", EVENTS))
    return con


def test_reach_degree_and_rank(shared):
    graph = share_graph(shared)
    table = graph.sharers.set_index("user_id")
    assert table[["referred", "reach_users", "reach_gmv"]].to_dict("index") == {
        "a": {"referred": 2, "reach_users": 3, "reach_gmv": 35.0},
        "b": {"referred": 1, "reach_users": 1, "reach_gmv": 5.0},
        "e": {"referred": 1, "reach_users": 1, "reach_gmv": 7.0}}
    assert graph.sharers["user_id"].tolist()[0] == "a"
    assert table.loc["a", "pagerank"] > table.loc["b", "pagerank"]
    # Louvain may split a's small tree, but never puts a disconnected cascade with it
    assert table.loc["e", "community"] not in {table.loc["a", "community"], table.loc["b", "community"]}
    assert table.loc["a", "channel"] == "wechat_group"


def test_cascades(shared):
    cascades = share_graph(shared).cascades
    assert cascades.values.tolist() == [["a", 4, 2], ["e", 2, 1]]


def test_k_factor_per_week(shared):
    table = k_factor(shared, period="week")
    week = table[table["channel"] == "wechat_group"].iloc[0]
    # a (wechat_group) was the only active wechat_group user that week and brought in b and c
    assert (week["active_users"], week["referred_users"], week["k_factor"]) == (1, 2, 2.0)
    with pytest.raises(PondError, match="period must be day, week or month"):
        k_factor(shared, period="year")


def test_referral_loops_are_refused(con, write):
    import_file(con, write("loop.csv", "user_id,event_type,event_time,referrer_id\nx,signup,2024-01-01 10:00,y\n"
                                       "y,signup,2024-01-01 11:00,x\n"))
    with pytest.raises(PondError, match="has a loop"):
        share_graph(con)


def test_no_referrals_gives_empty_tables(con, write):
    import_file(con, write("plain.csv", "user_id,event_type,event_time\nx,view,2024-01-01 10:00\n"))
    graph = share_graph(con)
    assert graph.sharers.empty and graph.cascades.empty


def test_group_interactions_join_the_community_graph(shared, write):
    # c, d, x and f engage with group post p1 in that order: a reply chain c-d, d-x, x-f (n links,
    # not n^2); x never took part in a referral, so only c-d counts towards communities
    import_file(shared, write("group.csv", "user_id,event_type,event_time,content_id,community_id\n"
                                           "c,comment,2024-01-05 10:00:00,p1,g1\nd,like,2024-01-05 11:00:00,p1,g1\n"
                                           "x,comment,2024-01-05 12:00:00,p1,g1\nf,comment,2024-01-05 13:00:00,p1,g1\n"
                                           "c,comment,2024-01-05 14:00:00,p1,g1\n"))
    assert share_graph(shared).interactions == 1


def test_campaign_activity_per_day(con, write):
    from datetime import date

    from engine.social.experiments import campaign_daily

    import_file(con, write("coupons.csv", "user_id,event_type,event_time,campaign_id\n"
                                          "u1,coupon_issue,2024-01-01 10:00,k\nu2,coupon_issue,2024-01-01 10:00,k\n"
                                          "u1,coupon_redeem,2024-01-02 10:00,k\n"))
    daily = campaign_daily(con)
    daily["day"] = daily["day"].dt.date
    assert daily.values.tolist() == [[date(2024, 1, 1), "k", 2, 0], [date(2024, 1, 2), "k", 0, 1]]
