"""The audit trail loses nothing: imports and undos audited in their own transaction, rejects viewed,
busy refusals and refused writers (issue 17)."""

from __future__ import annotations

import getpass
import subprocess
import sys
import textwrap

import pytest

from engine.admin import audit
from engine.admin.access import User
from engine.errors import WarehouseLockedError
from engine.ingest import import_file, undo_upload
from engine.store import warehouse

CSV = "user_id,event_type,event_time\nu1,view,2024-01-01 10:00\nu2,cart,2024-01-02 10:00\nu3,view,not a time\n"
ME = f"cli:{getpass.getuser()}"


def _trail(con):
    return [tuple(r) for r in con.execute("select actor, action, detail, rows, ok from audit order by logged_at, "
                                          "rowid").fetchall()]


def test_cli_import_undo_and_rejects_leave_exact_entries(tmp_path, write, capsys):
    from engine.__main__ import main

    db, path = tmp_path / "w.duckdb", write("a.csv", CSV)
    w = ["--warehouse", str(db)]
    assert main([*w, "ingest", str(path)]) == 0
    assert main([*w, "ingest", str(path)]) == 0
    assert main([*w, "rejects", "1"]) == 0
    assert main([*w, "undo", "1"]) == 0
    capsys.readouterr()
    with warehouse.connect(db) as con:
        assert _trail(con) == [
            (ME, "import", "a.csv: upload 1", 2, True),
            (ME, "import", "a.csv: already imported as upload 1; nothing added", 0, True),
            (ME, "rejects", "rejected rows of upload 1 (csv)", 1, True),
            (ME, "undo", "upload 1 (a.csv)", 2, True),
        ]


def test_an_import_killed_right_after_its_commit_has_its_entry(tmp_path, write):
    db, path = tmp_path / "w.duckdb", write("a.csv", CSV)
    code = textwrap.dedent(f"""
        import os
        from engine.store import warehouse
        from engine.ingest import import_file
        with warehouse.connect({str(db)!r}) as con:
            import_file(con, {str(path)!r}, imported_by="ada", derive=False)
            os._exit(9)  # killed before the caller could write anything more
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=warehouse.PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode == 9, done.stderr
    with warehouse.connect(db) as con:
        assert con.execute("select count(*) from events").fetchone() == (2,)
        assert _trail(con) == [("ada", "import", "a.csv: upload 1", 2, True)]


def test_a_rolled_back_import_or_undo_leaves_no_entry_of_success(con, write, monkeypatch):
    import engine.ingest as ingest

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest, "_record_upload", broken)
    with pytest.raises(RuntimeError):
        import_file(con, write("a.csv", CSV), imported_by="ada")
    assert _trail(con) == []
    monkeypatch.undo()
    import_file(con, write("a.csv", CSV), imported_by="ada")
    monkeypatch.setattr(ingest, "refresh_rollups", broken)
    with pytest.raises(RuntimeError):
        undo_upload(con, 1, undone_by="ada")
    assert _trail(con) == [("ada", "import", "a.csv: upload 1", 2, True)]


def test_entries_deferred_while_busy_are_written_once_with_their_time(con, warehouse_path):
    audit.defer(warehouse_path, "ada", "busy", "import of a.csv refused: busy", ok=False)
    audit.defer(warehouse_path, "bob", "sign_in", "")
    with open(audit.deferred_path(warehouse_path), "a") as fh:
        fh.write('{"logged_at": "2026-')  # a line cut short by a kill
    assert oct(audit.deferred_path(warehouse_path).stat().st_mode & 0o777) == "0o600"
    audit.record(con, "cyd", "export", "kpis.csv", rows=3)
    assert _trail(con) == [("ada", "busy", "import of a.csv refused: busy", None, False),
                           ("bob", "sign_in", "", None, True), ("cyd", "export", "kpis.csv", 3, True)]
    assert not audit.deferred_path(warehouse_path).exists()
    assert audit.flush_deferred(con) == 0


def test_a_cli_write_refused_because_the_warehouse_is_busy_is_audited(tmp_path, write, capsys, monkeypatch):
    from engine.__main__ import main

    db = tmp_path / "w.duckdb"
    with warehouse.connect(db):
        pass
    monkeypatch.setattr(warehouse.connect.__wrapped__, "__kwdefaults__",
                        {**warehouse.connect.__wrapped__.__kwdefaults__, "timeout": 0.5})
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(db)!r})
        print("locked", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["--warehouse", str(db), "ingest", str(write("a.csv", CSV))]) == 1
        assert "is busy" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert main(["--warehouse", str(db), "ingest", str(write("a.csv", CSV))]) == 0
    with warehouse.connect(db) as con:
        trail = _trail(con)
    assert [(a, act, ok) for a, act, _, _, ok in trail] == [(ME, "busy", False), (ME, "import", True)]
    assert trail[0][2].startswith(f"ingest refused: the warehouse {db} is busy: process {holder.pid}")


def test_a_viewer_refused_a_write_on_the_dashboard_is_audited(con, monkeypatch):
    import streamlit as st

    from ui import auth

    recorded = []
    monkeypatch.setattr(auth, "current_user", lambda: User("vic", "viewer"))
    monkeypatch.setattr(auth, "record", lambda *a, **k: recorded.append((a, k)))
    class Stopped(Exception):
        pass

    def stop():
        raise Stopped

    monkeypatch.setattr(st, "error", lambda *a, **k: None)
    monkeypatch.setattr(st, "stop", stop)
    with pytest.raises(Stopped):
        auth.require("import")
    assert recorded == [(("denied", "vic (viewer) may not import: it needs the admin role; ask an admin"),
                         {"ok": False})]


def test_the_dashboard_keeps_an_entry_it_cannot_write_while_busy(warehouse_path, monkeypatch):
    from contextlib import contextmanager

    from ui import auth, data

    @contextmanager
    def busy(**kwargs):
        raise WarehouseLockedError("the warehouse is busy")
        yield

    monkeypatch.setenv("POND_WAREHOUSE", str(warehouse_path))
    monkeypatch.setattr(auth, "current_user", lambda: User("ada", "admin"))
    monkeypatch.setattr(data, "connect", busy)
    auth.record("sign_in")
    monkeypatch.undo()
    with warehouse.connect(warehouse_path) as con:
        audit.record(con, "bob", "sign_in")
        assert [r[:2] for r in _trail(con)] == [("ada", "sign_in"), ("bob", "sign_in")]
