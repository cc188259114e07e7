"""Schema migrations and rollup maintenance."""

from __future__ import annotations

import time
from datetime import date

import pytest

from engine.errors import WarehouseError
from engine.ingest import import_file
from engine.store import warehouse


def test_version_1_warehouse_is_migrated_and_backfilled(warehouse_path, write, monkeypatch):
    with monkeypatch.context() as old:
        old.setattr(warehouse, "MIGRATIONS", warehouse.MIGRATIONS[:1])
        old.setattr(warehouse, "SCHEMA_VERSION", 1)
        old.setattr(warehouse, "ROLLUPS", ("user_day", "daily_events"))
        old.setattr(warehouse, "SCHEMA_VERSION", 1)
        from engine.admin import audit

        old.setattr(audit, "record", lambda *a, **k: None)  # the Pond of schema 1 had no audit trail
        with warehouse.connect(warehouse_path) as con:
            import_file(con, write("a.csv", "user_id,event_type,event_time\nu1,view,2024-01-01 10:00\n"
                                             "u1,view,2024-01-01 11:00\nu2,cart,2024-01-02 10:00\n"))
            assert warehouse.schema_version(con) == 1
            assert con.execute("select count(*) from information_schema.tables "
                               "where table_name = 'user_day_type'").fetchone() == (0,)
    with warehouse.connect(warehouse_path) as con:
        assert warehouse.schema_version(con) == warehouse.SCHEMA_VERSION == 10
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


def _mode(path) -> int:
    import os
    import stat

    return stat.S_IMODE(os.stat(path).st_mode)


def test_warehouse_spill_folder_and_backups_are_private_whatever_the_umask(tmp_path):
    import os

    from engine.admin.backup import backup
    from engine.ingest.personal import pseudonym_key

    before = os.umask(0o022)  # a notebook's or a service's usual umask: files 0644
    try:
        db = tmp_path / "new" / "shop.duckdb"
        with warehouse.connect(db) as con:
            pseudonym_key(con)
            done = backup(con, tmp_path / "backups" / "b.duckdb")
        assert _mode(db) == 0o600 and _mode(db.parent) == 0o700
        assert _mode(warehouse.spill_folder(db)) == 0o700
        assert _mode(db.with_suffix(".key")) == 0o600
        assert _mode(done.path) == 0o600 and _mode(done.path.parent) == 0o700
        assert _mode(done.path.with_suffix(".key")) == 0o600
    finally:
        os.umask(before)


def test_the_command_line_creates_every_file_private(tmp_path, write):
    """The CLI sets a private umask, so DuckDB's own files (write-ahead log, spill files) are 0600 too."""
    import os
    import subprocess
    import sys

    source = write("people.csv", "user_id,event_type,event_time\n13800138000,view,2024-01-08 10:00:00\n"
                                 "13900139000,purchase,2024-01-08 11:00:00\n")
    db = tmp_path / "cli" / "w.duckdb"
    for command in (["ingest", str(source)], ["backup", str(tmp_path / "b" / "copy.duckdb")]):
        done = subprocess.run([sys.executable, "-m", "engine", "--warehouse", str(db), *command],
                              cwd=warehouse.PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                              preexec_fn=lambda: os.umask(0o022))
        assert done.returncode == 0, done.stderr
    created = [p for p in tmp_path.rglob("*") if p != source]
    assert {p.name for p in created} >= {"w.duckdb", "w.key", "copy.duckdb", "copy.key", "w.duckdb.tmp"}
    assert {p.name: _mode(p) for p in created} == {
        p.name: 0o700 if p.is_dir() else 0o600 for p in created}


def test_a_dozen_sessions_open_the_warehouse_at_once(tmp_path, monkeypatch):
    """Openings are serialised within a process, and DuckDB's "Unique file handle conflict" is retried."""
    import threading

    import duckdb

    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    real_connect, inside, overlaps, conflicts = duckdb.connect, [0], [0], [2]
    guard = threading.Lock()

    def racy_connect(*args, **kwargs):
        with guard:
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            conflict = conflicts[0] > 0
            conflicts[0] -= 1
        try:
            time.sleep(0.01)
            if conflict:  # what DuckDB says when two threads open the same file at once
                raise duckdb.IOException(f'Unique file handle conflict: Cannot attach "w" - the database file '
                                         f'"{db}" is already attached by database "w"')
            return real_connect(*args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(duckdb, "connect", racy_connect)
    start, failures, versions = threading.Barrier(12), [], []

    def session() -> None:
        start.wait()
        try:
            with warehouse.connect(db) as con:
                versions.append(warehouse.data_version(con))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=session) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == [] and versions == [0] * 12
    assert overlaps[0] == 1 and conflicts[0] < 0


def test_leftovers_of_a_killed_restore_or_import_are_removed_on_the_next_start(tmp_path):
    from engine.__main__ import main

    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    restore_copy = tmp_path / ".pond-restore-k1ll3d"
    restore_copy.mkdir()
    (restore_copy / "backup.duckdb").write_bytes(b"x" * 1000)
    spilled = warehouse.spill_folder(db) / "duckdb_temp_storage_S32K-0.tmp"
    spilled.write_bytes(b"x" * 1000)
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("mine")
    assert main(["--warehouse", str(db), "summary"]) == 0
    assert not restore_copy.exists() and not spilled.exists()
    assert unrelated.exists() and db.exists() and warehouse.spill_folder(db).is_dir()
    with warehouse.connect(db) as con:  # nothing left: nothing to do
        assert warehouse.remove_leftovers(con) == []


def test_an_import_killed_midway_leaves_nothing_after_the_next_start(tmp_path):
    """kill -9 during a big import (spilling to disk under a small memory cap): the next start finds the
    warehouse exactly as before, and removes the spill files and a half-written key."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from engine.__main__ import main

    db = tmp_path / "w.duckdb"
    source = tmp_path / "big.csv"
    with source.open("w") as fh:
        fh.write("user_id,event_type,event_time,item_id,amount\n")
        for k in range(400_000):
            fh.write(f"u{k % 5000},view,2024-01-{1 + k % 28:02d} {k % 24:02d}:{k % 60:02d}:{k % 59:02d},"
                     f"i{k % 9973},{k % 100}.5\n")
    assert main(["--warehouse", str(db), "ingest", str(_tiny(tmp_path))]) == 0
    with warehouse.connect(db) as con:
        before = con.execute("select count(*), max(upload_id) from events").fetchone()
    part = tmp_path / ".w.key.dead.part"
    part.write_text("half")
    env = {**os.environ, "POND_DUCKDB_MEMORY": "20MB"}
    child = subprocess.Popen([sys.executable, "-m", "engine", "--warehouse", str(db), "ingest", str(source)],
                             cwd=warehouse.PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert main(["--warehouse", str(db), "summary"]) == 0
    assert not part.exists() and not [p for p in warehouse.spill_folder(db).glob("*") if p.is_file()]
    with warehouse.connect(db) as con:
        assert con.execute("select count(*), max(upload_id) from events").fetchone() == before
        assert con.execute("select count(*) from uploads").fetchone() == (1,)


def _tiny(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("user_id,event_type,event_time\nu1,view,2024-01-01 10:00\n")
    return path
