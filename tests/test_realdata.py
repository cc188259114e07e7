"""Imports of the real public exports in $POND_REAL_DATA, checked against independent counts.

Expected figures come from the folder's README and from awk/sort over the raw files
(e.g. REES46: 17,434 complete lines, 5 exact repeats -> 17,429 events).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.behaviour import metrics
from engine.ingest import import_file, rejected_rows
from engine.store import warehouse

pytestmark = pytest.mark.realdata


def test_taobao_userbehavior_sample(con, real_data):
    path = real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv"
    result = import_file(con, path, timezone="Asia/Shanghai")
    assert result.format == "taobao_userbehavior"
    assert (result.rows_read, result.rows_imported, result.rows_rejected, result.rows_duplicate) == (
        84_476, 84_475, 1, 0)
    assert rejected_rows(con, result.upload_id)[["row", "line"]].values.tolist() == [
        [84_476, "100370,1968385,1875258,pv"]]
    assert dict(con.execute("select event_type, count(*) from events group by 1").fetchall()) == {
        "view": 75_872, "cart": 4_497, "fav": 2_356, "purchase": 1_750}
    assert con.execute("select count(distinct user_id), count(distinct item_id), count(distinct category) "
                       "from events").fetchone() == (815, 55_368, 2_914)
    assert warehouse.business_timezone(con) == "Asia/Shanghai"
    # 35 stray stamps lie before the 9-day window; they are real times, kept, not rejected
    assert con.execute("select count(*) from events where event_time < '2017-11-24 16:00:00'").fetchone() == (35,)
    summary = metrics.warehouse_summary(con)
    assert (summary["events"], summary["users"], summary["last_day"].isoformat()) == (84_475, 815, "2017-12-03")
    assert con.execute("select sum(events) from user_day").fetchone() == (84_475,)


def test_rees46_sample(con, real_data):
    path = real_data / "rees46" / "2019-Oct_first3h.csv"
    result = import_file(con, path)
    assert result.format == "rees46"
    assert (result.rows_read, result.rows_imported, result.rows_rejected, result.rows_duplicate) == (
        17_435, 17_429, 1, 5)
    assert dict(con.execute("select event_type, count(*) from events group by 1").fetchall()) == {
        "view": 17_051, "cart": 164, "purchase": 214}
    assert con.execute("select count(distinct user_id), round(sum(amount), 2) from events").fetchone() == (
        4_504, 59_442.63)
    assert con.execute("select min(event_time), max(event_time) from events").fetchone() == (
        datetime(2019, 10, 1, 0, 0), datetime(2019, 10, 1, 2, 50))
    again = import_file(con, path)
    assert again.status == "already_imported"


def test_both_exports_into_one_warehouse_then_undo(con, real_data):
    taobao = import_file(con, real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv")
    rees = import_file(con, real_data / "rees46" / "2019-Oct_first3h.csv")
    assert con.execute("select count(*) from events").fetchone() == (84_475 + 17_429,)
    from engine.ingest import undo_upload

    undo_upload(con, taobao.upload_id)
    assert con.execute("select count(*), min(upload_id), max(upload_id) from events").fetchone() == (
        17_429, rees.upload_id, rees.upload_id)
    assert con.execute("select sum(events) from daily_events").fetchone() == (17_429,)


def _taobao_frame(real_data):
    """The Taobao sample read independently of Pond: pandas, complete lines, Shanghai days."""
    import pandas as pd

    frame = pd.read_csv(real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", header=None,
                        names=["user", "item", "category", "behavior", "ts"], on_bad_lines="skip")
    frame = frame.dropna(subset=["ts"])
    frame["time"] = pd.to_datetime(frame["ts"].astype("int64"), unit="s")
    frame["day"] = (frame["time"] + pd.Timedelta(hours=8)).dt.date  # Asia/Shanghai has no DST
    frame["user"] = frame["user"].astype(str)
    return frame


def test_taobao_retention_matches_an_independent_pandas_count(con, real_data):
    from engine.behaviour.retention import RetentionQuery, retention_matrix

    import_file(con, real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", timezone="Asia/Shanghai")
    ours = retention_matrix(con, RetentionQuery(period="day"))
    frame = _taobao_frame(real_data)
    buys = frame[frame["behavior"] == "buy"][["user", "day"]].drop_duplicates()
    first = buys.groupby("user")["day"].min().rename("cohort")
    joined = buys.join(first, on="user")
    joined["n"] = (pd_days(joined["day"]) - pd_days(joined["cohort"]))
    expected = joined[joined["n"] >= 1].groupby(["cohort", "n"])["user"].nunique()
    sizes = first.value_counts()
    got = ours[ours["period"] >= 1].set_index(["cohort", "period"])["users"]
    assert (ours[ours["period"] == 0].set_index("cohort")["users"].sort_index() == sizes.sort_index()).all()
    assert got[got > 0].to_dict() == expected.to_dict()
    assert len(ours["cohort"].unique()) == len(sizes)


def pd_days(series):
    import pandas as pd

    return pd.to_datetime(series).map(lambda d: d.toordinal())


def test_taobao_funnel_matches_an_independent_merge_asof(con, real_data):
    import pandas as pd

    from engine.behaviour.funnels import FunnelQuery, funnel

    import_file(con, real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", timezone="Asia/Shanghai")
    start, end = pd.Timestamp("2017-11-25").date(), pd.Timestamp("2017-12-01").date()
    ours = funnel(con, FunnelQuery(steps=("view", "purchase"), window_days=2, start=start, end=end))
    frame = _taobao_frame(real_data)
    views = frame[(frame["behavior"] == "pv") & frame["day"].between(start, end)][["user", "time"]]
    buys = frame[frame["behavior"] == "buy"][["user", "time"]].rename(columns={"time": "bought"})
    # for every purchase, the latest view strictly before it: converted if within 2 days
    paired = pd.merge_asof(buys.sort_values("bought"), views.sort_values("time"), left_on="bought",
                           right_on="time", by="user", allow_exact_matches=False)
    converted = paired[(paired["bought"] - paired["time"]) <= pd.Timedelta(days=2)]["user"].nunique()
    assert ours.steps["users"].tolist() == [views["user"].nunique(), converted]
