"""Hostile input: fuzzed files, zip bombs, broken Parquet, oversized files, injection and traversal."""

from __future__ import annotations

import io
import zipfile
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ImportFormatError, PondError
from engine.ingest import import_file, inspect_file
from engine.store import warehouse

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)


def _counts(con) -> tuple:
    return con.execute("select (select count(*) from events), (select count(*) from uploads), "
                       "(select count(*) from users)").fetchall()[0]


def _try_import(con, path) -> None:
    """Import or refuse with a PondError; a refusal changes nothing."""
    before = _counts(con)
    try:
        import_file(con, path)
    except PondError:
        assert _counts(con) == before


def test_random_bytes_never_crash_the_importer(tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        @FUZZ
        @given(payload=st.binary(max_size=4000))
        def run(payload):
            path = tmp_path / "fuzz.csv"
            path.write_bytes(payload)
            _try_import(con, path)

        run()


CELLS = st.text(alphabet=st.sampled_from(list("ab1 ,;\t\"'=+-@\n\r/.:年月日用户ID时间\\%_\x00é")), max_size=30)


def test_csv_like_text_never_crashes_the_importer(tmp_path):
    headers = ["user_id,event_type,event_time", "用户ID,行为类型,时间,金额", "a;b;c", "user_id,item_id,event_type,event_time"]
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        good = st.builds(lambda u, d, t: f"u{u},{t},2026-01-{d:02d} 10:00:00", st.integers(0, 9),
                         st.integers(1, 28), st.sampled_from(["view", "purchase", "pv", "购买"]))
        junk = st.lists(CELLS, min_size=1, max_size=5).map(",".join)

        @FUZZ
        @given(header=st.sampled_from(headers), rows=st.lists(st.one_of(good, good, good, junk), max_size=8),
               encoding=st.sampled_from(["utf-8", "utf-8", "gb18030", "utf-16"]))
        def run(header, rows, encoding):
            text = header + "\n" + "\n".join(rows)
            path = tmp_path / "fuzz.csv"
            path.write_bytes(text.encode(encoding, errors="replace"))
            _try_import(con, path)

        run()


def test_an_xlsx_zip_bomb_is_refused_before_it_is_unpacked(tmp_path, con):
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 2**20))
    assert bomb.stat().st_size < 2**20
    with pytest.raises(ImportFormatError, match="would unpack to 64 MB"):
        inspect_file(bomb)
    with pytest.raises(ImportFormatError, match="would unpack"):
        import_file(con, bomb)
    assert _counts(con) == (0, 0, 0)


def test_a_broken_parquet_file_is_explained(tmp_path, con):
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x15\x04" * 500 + b"PAR1")
    with pytest.raises(ImportFormatError, match="cannot read this Parquet file"):
        import_file(con, broken)
    assert _counts(con) == (0, 0, 0)


def test_oversized_files_are_refused_with_the_limit(tmp_path, con, monkeypatch):
    big = tmp_path / "big.csv"
    big.write_text("user_id,event_type,event_time\n" + "u1,view,2026-01-01 10:00:00\n" * 50_000)
    monkeypatch.setenv("POND_MAX_IMPORT_MB", "1")
    with pytest.raises(ImportFormatError, match=r"the file is 1 MB and imports are limited to 1 MB|limited to 1 MB"):
        inspect_file(big)
    with pytest.raises(ImportFormatError, match="POND_MAX_IMPORT_MB"):
        import_file(con, big)
    assert _counts(con) == (0, 0, 0)


def test_sql_in_headers_and_values_is_only_data(tmp_path, con):
    hostile = "x'); drop table events; --"
    csv = tmp_path / "evil.csv"
    csv.write_text(f'user_id,event_type,event_time,"{hostile}"\n"{hostile}",view,2026-01-01 10:00:00,1\n'
                   f'u2,"purchase""; delete from uploads; --",2026-01-01 11:00:00,2\n')
    result = import_file(con, csv)
    assert result.rows_imported == 2
    users = {r[0] for r in con.execute("select user_id from events").fetchall()}
    assert hostile in users
    types = {r[0] for r in con.execute("select event_type from events").fetchall()}
    assert 'purchase"; delete from uploads; --' in types
    assert con.execute("select count(*) from uploads").fetchone()[0] == 1


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "..\\..\\evil.csv", "/abs/path/x.csv",
                                  "a.csv/../../b", "名单.CSV"])
def test_uploaded_file_names_never_become_paths(name, monkeypatch, tmp_path):
    import ui.imports

    monkeypatch.setattr(ui.imports, "UPLOAD_DIR", tmp_path / "uploads")
    saved = ui.imports.save_upload(SimpleNamespace(name=name, getvalue=lambda: b"user_id,event_type\n"))
    assert saved.parent == tmp_path / "uploads" and saved.exists()
    assert ".." not in saved.name and "/" not in saved.name


def test_an_upload_is_read_and_hashed_once_per_session(monkeypatch, tmp_path):
    import uuid

    import ui.imports

    monkeypatch.setattr(ui.imports, "UPLOAD_DIR", tmp_path / "uploads")
    reads = []
    upload = SimpleNamespace(name="big.csv", file_id=str(uuid.uuid4()),
                             getvalue=lambda: reads.append(1) or b"user_id,event_type\n")
    first = ui.imports.save_upload(upload)
    assert ui.imports.save_upload(upload) == first and len(reads) == 1  # a rerun reuses the copy
    first.unlink()  # pruned from disk meanwhile: written again, not a dangling path
    assert ui.imports.save_upload(upload) == first and first.exists() and len(reads) == 2


def test_pseudonymised_ids_stay_pseudonymised_in_every_export(tmp_path, capsys, write):
    from engine.__main__ import main

    db = tmp_path / "w.duckdb"
    phones = [f"1380013{k:04d}" for k in range(40)]
    lines = ["手机号,行为类型,时间,金额"] + [f"{p},购买,2026-01-{1 + k % 28:02d} 10:00:00,{10 + k}"
                                           for k, p in enumerate(phones)]
    assert main(["--warehouse", str(db), "ingest", str(write("orders.csv", "\n".join(lines) + "\n"))]) == 0
    capsys.readouterr()
    outputs = []
    for args in (["query", "rfm", "--format", "csv"], ["query", "kpis"], ["uploads", "--format", "csv"],
                 ["query", "daily-activity", "--format", "json"]):
        assert main(["--warehouse", str(db), *args]) == 0
        outputs.append(capsys.readouterr().out)
    with warehouse.connect(db) as con:
        stored = io.StringIO()
        con.execute("select * exclude (event_id) from events").df().to_csv(stored)
        outputs.append(stored.getvalue())
    assert len(outputs[0].splitlines()) == 41  # the RFM export lists all 40 customers, by pseudonym
    assert not any(phone in out for phone in phones for out in outputs)


HOSTILE = ["'; drop table events; --", "x\" or 1=1 --", "%' or '1'='1", "u\x00", "名单'); delete from users; --"]


@pytest.mark.parametrize("text", HOSTILE)
def test_sql_in_every_text_field_is_only_data(text, tmp_path, write):
    from engine.admin.audit import entries, record
    from engine.customers.segments import Condition, SegmentDefinition, load_segment, save_segment, segment_count
    from engine.customers.user360 import find_users, user_profile

    with warehouse.connect(tmp_path / "w.duckdb") as con:
        import_file(con, write("ok.csv", "user_id,event_type,event_time,category\n"
                                         "u1,view,2026-01-01 10:00:00,beauty\nu2,purchase,2026-01-02 10:00:00,pet\n"))
        before = _counts(con)
        assert find_users(con, text).empty
        with pytest.raises(PondError):
            user_profile(con, text)
        with pytest.raises(PondError):
            load_segment(con, text)
        definition = SegmentDefinition(conditions=(Condition(kind="event", event=text, category=text),))
        assert segment_count(con, definition) == 0
        save_segment(con, text.replace("\x00", "") or "x", definition)
        record(con, text, "export", text, rows=1)
        assert entries(con, actor=text)["detail"].tolist() == [text]
        assert _counts(con) == before
