"""Row validation with reasons, whole-file refusals that change nothing, and the reject file."""

from __future__ import annotations

import pytest

from engine.errors import ImportFormatError
from engine.ingest import import_file, rejected_rows
from tests.conftest import table_snapshot

GOOD_HEADER = "user_id,event_type,event_time,quantity,amount\n"


def test_each_reject_reason_with_the_offending_value(con, write):
    path = write("mixed.csv", GOOD_HEADER +
                 "u1,view,2024-01-01 10:00:00,,\n"
                 ",view,2024-01-01 10:00:00,,\n"
                 "u2,view,,,\n"
                 "u3,view,yesterday,,\n"
                 "u4,view,1970-01-01 00:00:00,,\n"
                 "u5,purchase,2024-01-01 10:00:00,-2,10\n"
                 "u6,refund,2024-01-01 10:00:00,-2,10\n"
                 "u7,purchase,2024-01-01 10:00:00,two,10\n"
                 "u8,purchase,2024-01-01 10:00:00,1,ten\n"
                 "NULL,view,2024-01-01 10:00:00,,\n"
                 "u9,,2024-01-01 10:00:00,,\n"
                 "u10,purchase,2024-01-01 10:00:00,1,inf\n"
                 "u11,view,2024-01-01 10:00:00,nan,\n")
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (13, 3, 10)
    rejects = rejected_rows(con, result.upload_id)
    assert rejects[["row", "reason"]].values.tolist() == [
        [2, "missing user id"],
        [3, "missing time"],
        [4, "unparseable time 'yesterday'"],
        [5, "placeholder date 1970-01-01 (a zero timestamp, not a real time)"],
        [6, "negative quantity -2 on a line that is not a refund"],
        [8, "unparseable quantity 'two'"],
        [9, "unparseable amount 'ten'"],
        [10, "missing user id"],
        [11, "missing event type"],
        [12, "unparseable amount 'inf'"],
    ]
    assert rejects.columns.tolist() == ["row", "reason", "user_id", "event_type", "event_time", "quantity",
                                        "amount"]
    assert rejects.loc[2, "event_time"] == "yesterday"
    assert result.reject_reasons == {
        "missing user id": 2, "placeholder date": 1, "missing event type": 1, "missing time": 1,
        "negative quantity": 1, "unparseable amount": 2, "unparseable quantity": 1, "unparseable time": 1}
    # "nan" is a null marker, not a number
    assert con.execute("select user_id, quantity, amount from events order by 1").fetchall() == [
        ("u1", None, None), ("u11", None, None), ("u6", -2.0, 10.0)]


def test_null_tokens_are_missing_values_and_lookalike_ids_are_kept(con, write):
    # every null token, in any case and padded, is a missing value; ids that only start like one
    # ("n1", "-5", "None7", "nan_a") or are longer than a token stay as they are, trimmed
    path = write("tokens.csv", "user_id,event_type,event_time,item_id,quantity\n"
                 "u1,view,2024-01-01 10:00:00, NULL ,\n"
                 "u2,view,2024-01-01 10:00:01,n/a, -\n"
                 "u3,view,2024-01-01 10:00:02,None, nan\n"
                 "u4,view,2024-01-01 10:00:03,\\n,\n"
                 "u5,view,2024-01-01 10:00:04, n1 , 2 \n"
                 "u6,view,2024-01-01 10:00:05,-5,1\n"
                 "u7,view,2024-01-01 10:00:06,None7,\n"
                 "u8,view,2024-01-01 10:00:07,nan_a,\n"
                 " - ,view,2024-01-01 10:00:08,x,\n")
    result = import_file(con, path)
    assert (result.rows_imported, result.rows_rejected) == (8, 1)
    assert rejected_rows(con, result.upload_id)[["row", "reason"]].values.tolist() == [[9, "missing user id"]]
    assert con.execute("select user_id, item_id, quantity from events order by user_id").fetchall() == [
        ("u1", None, None), ("u2", None, None), ("u3", None, None), ("u4", None, None),
        ("u5", "n1", 2.0), ("u6", "-5", 1.0), ("u7", "None7", None), ("u8", "nan_a", None)]


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", "", "the file is empty"),
    ("blank.csv", "\n\n  \n", "the file is empty"),
    ("header_only.csv", "user_id,event_type,event_time\n", "has a header but no rows"),
    ("no_time.csv", "user_id,event_type\nu1,view\n", "no time column found"),
    ("no_user.csv", "event_type,event_time\nview,2024-01-01\n", "no user column found"),
    ("one_column.txt", "hello\nworld\n", "not a table"),
    ("all_bad.csv", "user_id,event_type,event_time\nu1,view,soon\nu2,view,later\n",
     r"none of the 2 rows can be imported \(2 × unparseable time\)"),
    ("binary.bin", b"\x00\x01\x02\x03" * 100, "binary file"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel .xls"),
    ("broken.xlsx", b"PK\x03\x04garbage", "not a readable .xlsx"),
    ("broken.parquet", b"PAR1garbage", "cannot read this Parquet file"),
    ("utf16.csv", "user_id,event_time\nu1,2024-01-01\n".encode("utf-16"), "UTF-16"),
])
def test_refused_file_leaves_the_warehouse_exactly_as_it_was(con, write, name, content, message):
    import_file(con, write("first.csv", "user_id,event_type,event_time\nu0,view,2024-01-01 00:00:00\n"))
    before = table_snapshot(con)
    with pytest.raises(ImportFormatError, match=message):
        import_file(con, write(name, content))
    assert table_snapshot(con) == before


def test_unknown_time_zone_is_refused(con, write):
    from engine.errors import PondError

    with pytest.raises(PondError, match="unknown time zone 'Mars/Olympus'"):
        import_file(con, write("a.csv", "user_id,event_type,event_time\nu,view,2024-01-01\n"),
                    timezone="Mars/Olympus")


def test_an_error_half_way_rolls_everything_back(con, write, monkeypatch):
    import engine.ingest as ingest

    import_file(con, write("first.csv", "user_id,event_type,event_time\nu0,view,2024-01-01 00:00:00\n"))
    before = table_snapshot(con)

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest, "refresh_rollups", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(con, write("second.csv", "user_id,event_type,event_time\nu1,view,2024-01-02 00:00:00\n"))
    assert table_snapshot(con) == before


def test_mapping_must_name_real_columns(con, write):
    from engine.ingest import inspect_file

    path = write("a.csv", "uid,event,ts\nu,view,2024-01-01\n")
    _, plan = inspect_file(path)
    with pytest.raises(ImportFormatError, match="no column 'nope'"):
        plan.set_column("user_id", "nope")
    plan.mapping["channel"] = ["missing"]
    with pytest.raises(ImportFormatError, match=r"channel is mapped to \['missing'\]"):
        import_file(con, path, plan=plan)


def test_a_killed_import_leaves_the_warehouse_as_it_was(tmp_path, write):
    """SIGKILL the importer while it writes events: DuckDB's log discards the open transaction."""
    import signal
    import subprocess
    import sys
    import textwrap

    from engine.store import warehouse

    db = tmp_path / "killed.duckdb"
    with warehouse.connect(db) as con:
        import_file(con, write("first.csv", "user_id,event_type,event_time\nu0,view,2024-01-01 00:00:00\n"))
        before = table_snapshot(con)
    big = tmp_path / "big.csv"
    big.write_text("user_id,event_type,event_time\n" + "".join(
        f"u{i % 5000},view,2024-02-{1 + i % 28:02d} {i % 24:02d}:00:00\n" for i in range(300_000)))
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from engine.store import warehouse
        from engine.ingest import import_file
        def progress(fraction, message):
            print(message, flush=True)
            if message == "Adding new events":
                time.sleep(60)  # hold the transaction open until the test kills us
        with warehouse.connect({str(db)!r}) as con:
            import_file(con, {str(big)!r}, progress=progress)
    """)], stdout=subprocess.PIPE, text=True, cwd=str(__import__("pathlib").Path(__file__).parent.parent))
    try:
        for line in child.stdout:
            if line.strip() == "Adding new events":
                break
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with warehouse.connect(db) as con:
        assert table_snapshot(con) == before


def test_rows_are_numbered_in_file_order_even_when_row_ids_have_gaps(con):
    from engine.ingest.transform import _row_number

    con.execute("begin")
    con.execute("create temp table t_rows as select * from (values ('a'), ('b'), ('c'), ('d')) v(x)")
    assert con.execute(f"select x, {_row_number(con, 't_rows')} from t_rows order by 2").fetchall() == [
        ("a", 1), ("b", 2), ("c", 3), ("d", 4)]
    con.execute("delete from t_rows where x = 'b'")
    assert con.execute(f"select x, {_row_number(con, 't_rows')} from t_rows order by 2").fetchall() == [
        ("a", 1), ("c", 2), ("d", 3)]
    con.execute("rollback")


def test_duplicate_lines_keep_the_first_copy_and_a_later_export_skips_stored_ones(con, write):
    # in-file repeats are checked only when an id repeats; stored copies only in the file's time range
    first = write("first.csv", "user_id,event_type,event_time,item_id,channel\n"
                  "u1,view,2026-01-05 10:00:00,i1,wechat\n"
                  "u1,view,2026-01-05 10:00:00,i1,douyin\n"
                  "u2,purchase,2026-01-06 09:00:00,i2,wechat\n")
    result = import_file(con, first)
    assert (result.rows_imported, result.rows_duplicate) == (2, 1)
    assert con.execute("select channel from events where user_id = 'u1'").fetchall() == [("wechat",)]
    second = write("second.csv", "user_id,event_type,event_time,item_id\n"
                   "u2,purchase,2026-01-06 09:00:00,i2\n"
                   "u3,view,2026-02-01 08:00:00,i3\n")
    result = import_file(con, second)
    assert (result.rows_imported, result.rows_duplicate) == (1, 1)
    assert con.execute("select count(*) from events").fetchone()[0] == 3


def test_a_malformed_line_is_rejected_once_when_the_time_format_is_detected_again(con, write):
    # an edited mapping clears the time patterns; detecting them again samples the file first
    from engine.ingest import inspect_file

    path = write("edited.csv", "user_id,event_type,event_time\nu1,view,2026-01-05 10:00:00\nu2,view\n"
                 "u3,view,2026-01-05 11:00:00\n")
    _, plan = inspect_file(path)
    plan.time_patterns = []
    result = import_file(con, path, plan=plan)
    assert (result.rows_imported, result.rows_rejected) == (2, 1)
    assert rejected_rows(con, result.upload_id)["row"].tolist() == [2]
