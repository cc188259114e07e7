"""Every malformed backup is refused with a PondError and leaves the warehouse as it was (issue 17)."""

from __future__ import annotations

import io
import tarfile
import zipfile

import duckdb
import pytest

from engine.admin import backup
from engine.errors import PondError
from engine.ingest import import_file
from engine.store import warehouse

CSV = "user_id,event_type,event_time,amount\nu1,view,2024-01-01 10:00,\nu2,purchase,2024-01-02 11:00,12.5\n"


def _snapshot(con):
    tables = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                        "where table_schema = 'main' order by 1").fetchall()]
    return {t: sorted(map(repr, con.execute(f'select * from "{t}"').fetchall())) for t in tables}


def _good_backup(tmp_path, write):
    with warehouse.connect(tmp_path / "source.duckdb") as con:
        import_file(con, write("a.csv", CSV))
        return backup.backup(con, tmp_path / "good.duckdb").path


def _foreign(path):
    with duckdb.connect(str(path)) as other:
        other.execute("create table customers (id int)")


def _future(path, good):
    path.write_bytes(good.read_bytes())
    with duckdb.connect(str(path)) as other:
        other.execute("update meta set value = '999' where key = 'schema_version'")


def _without_events(path, good):
    path.write_bytes(good.read_bytes())
    with duckdb.connect(str(path)) as other:
        other.execute("drop table events")


def _without_segments(path, good):
    path.write_bytes(good.read_bytes())
    with duckdb.connect(str(path)) as other:
        other.execute("drop table segments")


def _zip(path, good):
    with zipfile.ZipFile(path, "w") as z:  # a zip of a backup whose key and half the data are missing
        z.writestr("good.duckdb", good.read_bytes()[: good.stat().st_size // 2])


def _tar(path, good):
    with tarfile.open(path, "w") as t:
        data = good.read_bytes()[:4096]
        info = tarfile.TarInfo("good.duckdb")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))


MALFORMED = {
    "truncated": (lambda p, g: p.write_bytes(g.read_bytes()[: g.stat().st_size // 3]), "is not a Pond warehouse backup"),
    "wrong magic": (lambda p, g: p.write_bytes(g.read_bytes()[:8] + b"NOPE" + g.read_bytes()[12:]),
                    "is not a Pond warehouse backup"),
    "empty": (lambda p, g: p.write_bytes(b""), "is not a Pond warehouse backup"),
    "zip with missing parts": (_zip, "is not a Pond warehouse backup"),
    "tar with missing parts": (_tar, "is not a Pond warehouse backup"),
    "a DuckDB file that is not a warehouse": (lambda p, g: _foreign(p), "it has no Pond schema, events or uploads"),
    "a future schema version": (_future, r"written by a newer Pond \(schema 999\); upgrade Pond first"),
    "a warehouse without events": (_without_events, "it has no Pond schema, events or uploads"),
    "a warehouse missing a table": (_without_segments, "lacks tables this warehouse has: segments"),
    "a directory": (lambda p, g: p.mkdir(), r"no backup file at .* \(a folder, not a file\)"),
    "a text file": (lambda p, g: p.write_text("user_id,event_type\nu1,view\n" * 50), "is not a Pond warehouse backup"),
    "random bytes": (lambda p, g: p.write_bytes(bytes(range(256)) * 64), "is not a Pond warehouse backup"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_backup_is_refused_and_changes_nothing(tmp_path, write, case):
    good = _good_backup(tmp_path, write)
    make, message = MALFORMED[case]
    bad = tmp_path / "bad.duckdb"
    make(bad, good)
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db) as con:
        import_file(con, write("mine.csv", "user_id,event_type,event_time\nme,view,2024-02-01 10:00\n"))
        before, version = _snapshot(con), warehouse.data_version(con)
        with pytest.raises(PondError, match=message) as refused:
            backup.restore(con, bad)
        assert "python -m engine backup" in str(refused.value)  # says what to give instead
        assert _snapshot(con) == before and warehouse.data_version(con) == version
    assert not list(tmp_path.glob(".pond-restore-*"))
    with warehouse.connect(db) as con:  # still opens, with the same data
        assert _snapshot(con) == before


def test_the_cli_refuses_a_malformed_backup_without_a_traceback(tmp_path, write, capsys):
    from engine.__main__ import main

    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4000)
    db = tmp_path / "w.duckdb"
    assert main(["--warehouse", str(db), "ingest", str(write("mine.csv", CSV))]) == 0
    capsys.readouterr()
    assert main(["--warehouse", str(db), "restore", str(bad), "--yes"]) != 0
    err = capsys.readouterr().err
    assert "is not a Pond warehouse backup" in err and "Traceback" not in err
