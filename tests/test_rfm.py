"""RFM scores and segments on five hand-made customers, as of 2024-01-31 with a 31-day lookback.

  a: 1 order on 01-31 (100)                     recency 0,  frequency 1, monetary 100
  b: orders on 01-20 and 01-25 (50 + 50)        recency 6,  frequency 2, monetary 100
  c: orders on 01-08, 01-09, 01-10 (3 x 100)    recency 21, frequency 3, monetary 300
  d: orders on 2023-12-01 (outside) and 01-01   recency 30, frequency 1, monetary 20
  e: order on 01-15 (200), refund on 01-16 (50) recency 16, frequency 1, monetary 150
  f: only views                                 not a customer
Scores are 1 + floor(5 * percent_rank): recency d,c,e,b,a -> 1..5; frequency a,d,e tie at 1, b 4, c 5;
monetary d 1, a and b tie at 2, e 4, c 5.
"""

from __future__ import annotations

from datetime import date

import pytest

from engine.customers.rfm import rfm_scores, rules_frame, rules_from_frame, segment_sizes, segment_transitions
from engine.errors import PondError
from engine.ingest import import_file

EVENTS = """user_id,event_type,event_time,order_id,amount
a,purchase,2024-01-31 10:00:00,oa,100
b,purchase,2024-01-20 10:00:00,ob1,50
b,purchase,2024-01-25 10:00:00,ob2,50
c,purchase,2024-01-08 10:00:00,oc1,100
c,purchase,2024-01-09 10:00:00,oc2,100
c,purchase,2024-01-10 10:00:00,oc3,100
d,purchase,2023-12-01 10:00:00,od1,20
d,purchase,2024-01-01 10:00:00,od2,20
e,purchase,2024-01-15 10:00:00,oe,200
e,refund,2024-01-16 10:00:00,oe,50
f,view,2024-01-30 10:00:00,,
"""
AS_OF = date(2024, 1, 31)


@pytest.fixture
def shop(con, write):
    import_file(con, write("orders.csv", EVENTS))
    return con


def test_scores_and_default_segments(shop):
    scores = rfm_scores(shop, as_of=AS_OF, lookback_days=31).set_index("user_id")
    assert scores.loc[["a", "b", "c", "d", "e"]].values.tolist() == [
        [0, 1, 100.0, 5, 1, 2, "New Customers"],
        [6, 2, 100.0, 4, 4, 2, "Other"],
        [21, 3, 300.0, 2, 5, 5, "At Risk"],
        [30, 1, 20.0, 1, 1, 1, "Lost"],
        [16, 1, 150.0, 3, 1, 4, "Promising"],
    ]
    assert "f" not in scores.index


def test_lookback_decides_which_orders_count(shop):
    d = rfm_scores(shop, as_of=AS_OF, lookback_days=70).set_index("user_id").loc["d"]
    assert (d.frequency, d.monetary) == (2, 40.0)


def test_edited_rules_are_used_in_order(shop):
    import pandas as pd

    edited = pd.DataFrame([["Recent", 4, 5, 1, 5, 1, 5], ["Everyone else", 1, 5, 1, 5, 1, 5]],
                          columns=rules_frame().columns)
    rules = rules_from_frame(edited)
    scores = rfm_scores(shop, as_of=AS_OF, lookback_days=31, rules=rules).set_index("user_id")
    assert scores["segment"].to_dict() == {"a": "Recent", "b": "Recent", "c": "Everyone else",
                                           "d": "Everyone else", "e": "Everyone else"}


@pytest.mark.parametrize("row, message", [
    ({"segment": "", "r_low": 1, "r_high": 5, "f_low": 1, "f_high": 5, "m_low": 1, "m_high": 5}, "no segment name"),
    ({"segment": "X", "r_low": 4, "r_high": 2, "f_low": 1, "f_high": 5, "m_low": 1, "m_high": 5}, "R must go from"),
    ({"segment": "X", "r_low": 1, "r_high": 5, "f_low": 0, "f_high": 5, "m_low": 1, "m_high": 5}, "F must go from"),
    ({"segment": "X", "r_low": 1, "r_high": 5, "f_low": 1, "f_high": 5, "m_low": "high", "m_high": 5},
     "M bounds must be whole numbers"),
])
def test_bad_rules_are_refused(row, message):
    import pandas as pd

    with pytest.raises(PondError, match=message):
        rules_from_frame(pd.DataFrame([row]))


def test_segment_sizes(shop):
    sizes = segment_sizes(rfm_scores(shop, as_of=AS_OF, lookback_days=31)).set_index("segment")
    assert sizes["customers"].sum() == 5 and sizes.loc["At Risk", "monetary"] == 300.0
    assert sizes["share"].sum() == pytest.approx(1.0)


def test_transitions_between_two_dates(shop):
    moved = segment_transitions(shop, as_of=AS_OF, period_days=15, lookback_days=31)
    assert moved["customers"].sum() == 5
    newcomers = moved[moved.from_segment == "(not a customer yet)"]
    assert sorted(newcomers["to_segment"]) == ["New Customers", "Other"]  # a and b bought after 01-16


def test_no_customers_gives_empty_results(con, write):
    import_file(con, write("views.csv", "user_id,event_type,event_time\nf,view,2024-01-30 10:00:00\n"))
    scores = rfm_scores(con)
    assert scores.empty and segment_sizes(scores).empty
    with pytest.raises(PondError, match="lookback must be 1 to 3650 days"):
        rfm_scores(con, lookback_days=0)
