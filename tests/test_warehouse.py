"""Schema migrations and rollup maintenance."""

from __future__ import annotations

from datetime import date

import pytest

from engine import warehouse
from engine.errors import WarehouseError
from engine.ingest import import_file


def test_version_1_warehouse_is_migrated_and_backfilled(warehouse_path, write, monkeypatch):
    with monkeypatch.context() as old:
        old.setattr(warehouse, "MIGRATIONS", warehouse.MIGRATIONS[:1])
        old.setattr(warehouse, "SCHEMA_VERSION", 1)
        old.setattr(warehouse, "ROLLUPS", ("user_day", "daily_events"))
        old.setattr(warehouse, "SCHEMA_VERSION", 1)
        with warehouse.connect(warehouse_path) as con:
            import_file(con, write("a.csv", "user_id,event_type,event_time\nu1,view,2024-01-01 10:00\n"
                                             "u1,view,2024-01-01 11:00\nu2,cart,2024-01-02 10:00\n"))
            assert warehouse.schema_version(con) == 1
            assert con.execute("select count(*) from information_schema.tables "
                               "where table_name = 'user_day_type'").fetchone() == (0,)
    with warehouse.connect(warehouse_path) as con:
        assert warehouse.schema_version(con) == warehouse.SCHEMA_VERSION == 9
        assert con.execute("select day, user_id, event_type, events from user_day_type order by 1, 2").fetchall() == [
            (date(2024, 1, 1), "u1", "view", 2), (date(2024, 1, 2), "u2", "cart", 1)]


def test_rollups_stay_equal_to_a_rebuild_after_imports_and_undo(con, write):
    from engine.ingest import undo_upload

    import_file(con, write("a.csv", "user_id,event_type,event_time,channel\nu1,view,2024-01-01 10:00,x\n"
                                    "u2,purchase,2024-01-02 10:00,y\n"))
    second = import_file(con, write("b.csv", "user_id,event_type,event_time,channel\nu1,cart,2024-01-02 10:00,x\n"
                                             "u3,view,2024-01-03 23:30,\n"))
    undo_upload(con, second.upload_id)
    import_file(con, write("c.csv", "user_id,event_type,event_time\nu4,share,2024-01-02 12:00\n"))
    incremental = {r: con.execute(f"select * from {r} order by all").fetchall() for r in warehouse.ROLLUPS}
    warehouse.rebuild_rollups(con)
    assert {r: con.execute(f"select * from {r} order by all").fetchall() for r in warehouse.ROLLUPS} == incremental


def test_duckdb_memory_is_limited_and_the_limit_can_be_set(tmp_path, monkeypatch):
    monkeypatch.delenv("POND_DUCKDB_MEMORY", raising=False)
    with warehouse.connect(tmp_path / "a.duckdb") as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "953.6 MiB"  # 1GB
    monkeypatch.setenv("POND_DUCKDB_MEMORY", "512MB")
    with warehouse.connect(tmp_path / "a.duckdb") as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "488.2 MiB"
    monkeypatch.setenv("POND_DUCKDB_MEMORY", "lots; drop table events")
    with pytest.raises(WarehouseError, match="not a memory size"), warehouse.connect(tmp_path / "a.duckdb"):
        pass


def test_user_day_counts_orders_by_distinct_id_per_channel(con, write):
    # o1 has two lines (one order); the id-less purchase is an order of its own; channel-less rows
    # and o1 again in another channel are counted in their own rows
    import_file(con, write("o.csv", "user_id,event_type,event_time,channel,order_id,amount\n"
                                    "u1,purchase,2024-01-01 10:00,,o1,10\nu1,purchase,2024-01-01 10:01,,o1,5\n"
                                    "u1,purchase,2024-01-01 11:00,,,7\nu1,purchase,2024-01-01 12:00,wx,o1,3\n"
                                    "u1,view,2024-01-01 13:00,dy,,\n"))
    rows = con.execute("select channel, purchases, orders, gmv from user_day order by channel nulls first").fetchall()
    assert rows == [(None, 3, 2, 22.0), ("dy", 0, 0, 0.0), ("wx", 1, 1, 3.0)]


def test_rollups_from_hand_counted_events(con, write):
    # u1 views twice and is shown an impression on one day in one channel; u2 buys and gets a refund;
    # the rollups are sums over one count per day, user, channel and event type, checked here by hand
    import_file(con, write("r.csv", "user_id,event_type,event_time,channel,order_id,amount\n"
                                    "u1,view,2024-01-01 10:00,wx,,\nu1,view,2024-01-01 10:05,wx,,\n"
                                    "u1,impression,2024-01-01 10:06,wx,,\n"
                                    "u2,purchase,2024-01-01 11:00,wx,o9,30\nu2,refund,2024-01-01 12:00,wx,o9,-12\n"
                                    "u2,view,2024-01-02 09:00,,,\n"))
    assert con.execute("select day::varchar, channel, event_type, events, users, amount from daily_events "
                       "order by all").fetchall() == [
        ("2024-01-01", "wx", "impression", 1, 1, 0.0), ("2024-01-01", "wx", "purchase", 1, 1, 30.0),
        ("2024-01-01", "wx", "refund", 1, 1, 12.0), ("2024-01-01", "wx", "view", 2, 1, 0.0),
        ("2024-01-02", None, "view", 1, 1, 0.0)]
    assert con.execute("select day::varchar, user_id, channel, events, actions, impressions, views, purchases, "
                       "refunds, orders, gmv, refund_amount from user_day order by all").fetchall() == [
        ("2024-01-01", "u1", "wx", 3, 2, 1, 2, 0, 0, 0, 0.0, 0.0),
        ("2024-01-01", "u2", "wx", 2, 2, 0, 0, 1, 1, 1, 30.0, 12.0),
        ("2024-01-02", "u2", None, 1, 1, 0, 1, 0, 0, 0, 0.0, 0.0)]
    assert con.execute("select day::varchar, user_id, channel, event_type, events from user_day_type "
                       "order by all").fetchall() == [
        ("2024-01-01", "u1", "wx", "impression", 1), ("2024-01-01", "u1", "wx", "view", 2),
        ("2024-01-01", "u2", "wx", "purchase", 1), ("2024-01-01", "u2", "wx", "refund", 1),
        ("2024-01-02", "u2", None, "view", 1)]
