"""Imports of the real public exports in $POND_REAL_DATA, checked against independent counts.

Expected figures come from the folder's README and from awk/sort over the raw files
(e.g. REES46: 17,434 complete lines, 5 exact repeats -> 17,429 events).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from engine import metrics, warehouse
from engine.ingest import import_file, rejected_rows

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
