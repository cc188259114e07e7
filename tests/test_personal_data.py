"""Personal ids decided per value on every row, the pseudonym key, and what backups do with it (issue 17)."""

from __future__ import annotations

import pytest

from engine.admin import backup
from engine.errors import PondError
from engine.ingest import import_file, inspect_file
from engine.ingest.personal import fingerprint, key_path
from engine.store import warehouse

PLAIN = [f"u{k:04d}" for k in range(250)]
PHONES = [f"1391234{k:04d}" for k in range(100)]
EMAILS = [f"shopper{k}@example.cn" for k in range(50)]


def _rows(ids, day=1, event="view"):
    return "".join(f"{u},{event},2024-01-{day:02d} {10 + k % 10}:{k % 60:02d}:00\n" for k, u in enumerate(ids))


def test_personal_ids_after_the_sniffed_sample_are_pseudonymised_one_by_one(con, write, capsys):
    path = write("late.csv", "user_id,event_type,event_time\n" + _rows(PLAIN + PHONES + EMAILS))
    _, plan = inspect_file(path)
    assert plan.pseudonymise == []  # the sample holds plain ids only: the column is not personal as a whole
    result = import_file(con, path)
    assert (result.rows_imported, result.values_pseudonymised) == (400, 150)
    assert ("150 personal ids (phone numbers, e-mails, WeChat or ID card numbers) in 150 rows were pseudonymised "
            "with the warehouse's key; keep the key with the backups") in result.notes
    stored = {r[0] for r in con.execute("select user_id from events").fetchall()}
    assert set(PLAIN) <= stored  # plain ids are unchanged
    hidden = stored - set(PLAIN)
    assert len(hidden) == 150 and all(u.startswith("p_") and len(u) == 22 for u in hidden)
    everything = "\n".join(str(v) for table in ("events", "users", "user_day", "uploads")
                           for v in con.execute(f"select * from {table}").fetchall())
    assert not any(p in everything for p in PHONES + EMAILS)
    # the same phone maps to the same pseudonym in a later file, whose sample is all phone numbers
    again = import_file(con, write("again.csv", "user_id,event_type,event_time\n" + _rows(PHONES, day=2, event="cart")))
    assert again.values_pseudonymised == 100
    assert con.execute("select count(distinct user_id) from events").fetchone() == (400,)
    assert con.execute("select count(*) from (select user_id from events group by user_id "
                       "having count(distinct event_type) = 2)").fetchone() == (100,)


def test_cli_exports_of_late_personal_ids_hold_no_phone_number(tmp_path, write, capsys):
    from engine.__main__ import main

    db = tmp_path / "w.duckdb"
    lines = "user,event,time,amount\n" + "".join(
        f"{u},buy,2024-01-{1 + k % 28:02d} 10:00:00,{10 + k}\n" for k, u in enumerate(PLAIN + PHONES + EMAILS))
    assert main(["--warehouse", str(db), "ingest", str(write("orders.csv", lines))]) == 0
    assert "150 personal ids" in capsys.readouterr().out
    for args in (["query", "rfm", "--format", "csv"], ["uploads", "--format", "csv"]):
        assert main(["--warehouse", str(db), *args]) == 0
        out = capsys.readouterr().out
        assert not any(p in out for p in PHONES + EMAILS)
    assert main(["--warehouse", str(db), "query", "rfm", "--format", "csv"]) == 0
    assert "u0007" in capsys.readouterr().out


@pytest.mark.parametrize(("value", "hidden"), [
    ("13912345678", True), ("+86 139 1234 5678", True), ("+86-13912345678", True), ("139-1234-5678", True),
    ("+44 20 7946 0958", True), ("ann.lee@example.com", True), ("wxid_abc123", True),
    ("o" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n", True),
    ("11010519491231002X", True), ("110105194912310029", False),  # a check digit that does not fit
    ("12345678901", False), ("1234567890123", False), ("u13912345678", False), ("ann@", False),
    ("517244", False), ("00001", False),
])
def test_which_single_values_are_personal(con, write, value, hidden):
    path = write("one.csv", f"user_id,event_type,event_time\nu1,view,2024-01-01 10:00\n\"{value}\",view,2024-01-01 11:00\n")
    result = import_file(con, path)
    stored = con.execute("select user_id from events order by event_time").fetchall()[1][0]
    assert (stored != value) is hidden and result.values_pseudonymised == int(hidden)


def test_referrer_ids_are_pseudonymised_per_value_too(con, write):
    path = write("ref.csv", "user_id,event_type,event_time,referrer_id\n"
                            "u1,share,2024-01-01 10:00,13912345678\nu2,share,2024-01-01 11:00,u1\n")
    result = import_file(con, path)
    assert result.values_pseudonymised == 1
    refs = [r[0] for r in con.execute("select referrer_id from events order by event_time").fetchall()]
    assert refs[0].startswith("p_") and refs[1] == "u1"


def test_keep_personal_keeps_even_late_values_in_clear(con, write):
    path = write("late.csv", "user_id,event_type,event_time\n" + _rows(PLAIN + PHONES[:3]))
    _, plan = inspect_file(path)
    plan.keep_personal = True
    result = import_file(con, path, plan=plan)
    assert result.values_pseudonymised == 0
    assert con.execute("select count(*) from events where user_id like '139%'").fetchone() == (3,)


def test_an_empty_key_file_is_refused_before_anything_is_hashed(con, write):
    key_path(con).write_text("")
    with pytest.raises(PondError, match=r"is empty: pseudonyms made with it could be reversed .* Restore the key "
                                        r"from a backup"):
        import_file(con, write("a.csv", "user_id,event_type,event_time\n13912345678,view,2024-01-01 10:00\n"))
    assert con.execute("select count(*) from events").fetchone() == (0,)


def test_a_missing_or_other_key_is_refused_once_the_warehouse_holds_pseudonyms(con, write):
    import_file(con, write("a.csv", "user_id,event_type,event_time\n13912345678,view,2024-01-01 10:00\n"))
    key = key_path(con)
    original = key.read_text()
    assert con.execute("select value from meta where key = 'pseudonym_key'").fetchone() == (fingerprint(original),)
    key.unlink()
    b = write("b.csv", "user_id,event_type,event_time\nu1,view,2024-01-02 10:00\n")
    with pytest.raises(PondError, match=r"is missing, and this warehouse holds pseudonyms .* Restore the key from a "
                                        r"backup"):
        import_file(con, b)
    key.write_text("f" * 64)
    with pytest.raises(PondError, match="is not the key this warehouse's pseudonyms were made with"):
        import_file(con, b)
    key.write_text(original)
    assert import_file(con, b).rows_imported == 1


def test_restore_brings_back_the_key_and_the_same_phones_get_the_same_pseudonyms(tmp_path, write):
    phones = [f"1380000{k:04d}" for k in range(300)]
    first = write("first.csv", "手机号,行为,时间\n" + _rows(phones))
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db) as con:
        import_file(con, first)
        before = {r[0] for r in con.execute("select user_id from events").fetchall()}
        done = backup.backup(con, tmp_path / "backups" / "b.duckdb")
        assert done.key_copied
    # the warehouse and its key are lost; a new warehouse is restored from the backup
    db.unlink()
    db.with_suffix(".key").unlink()
    with warehouse.connect(db) as con:
        restored = backup.restore(con, done.path)
        assert restored.key_restored and "pseudonym key restored" in restored.message
        again = import_file(con, write("second.csv", "手机号,行为,时间\n" + _rows(phones, day=3)))
        after = {r[0] for r in con.execute("select user_id from events where upload_id = ?",
                                           [again.upload_id]).fetchall()}
    assert len(before) == 300 and len(after & before) == 300


def test_restore_refuses_a_backup_of_pseudonyms_without_its_key(tmp_path, write):
    db = tmp_path / "w.duckdb"
    with warehouse.connect(db) as con:
        import_file(con, write("a.csv", "手机号,行为,时间\n13912345678,浏览,2024-01-01 10:00\n"))
        done = backup.backup(con, tmp_path / "b.duckdb")
    done.path.with_suffix(".key").unlink()
    db.with_suffix(".key").unlink()
    with warehouse.connect(tmp_path / "other.duckdb") as con:
        import_file(con, write("b.csv", "user_id,event_type,event_time\nu1,view,2024-01-02 10:00\n"))
        with pytest.raises(PondError, match=r"holds pseudonyms but its key .*b\.key is missing.*Put the backup's key "
                                            r"file there"):
            backup.restore(con, done.path)
        assert con.execute("select user_id from events").fetchall() == [("u1",)]


def test_rejected_rows_keep_no_personal_value_in_clear(con, write):
    """A row rejected for its time, and a malformed line, hold a phone number, an e-mail and an ID card:
    the stored original cells carry the pseudonyms the imported ids get, and plain ids stay as they are."""
    good = "13912340001,view,2024-01-01 10:00:00,o1\n"
    bad_time = "13912340001,view,not a time,shopper@example.cn\n"
    malformed = "11010519491231002X,view,2024-01-01 10:00:00,x,extra field\n"
    plain = "u0001,view,not a time,17084\n"
    path = write("rejects.csv", "user_id,event_type,event_time,order_id\n" + good + bad_time + malformed + plain)
    result = import_file(con, path)
    assert (result.rows_imported, result.rows_rejected) == (1, 3)
    stored = "\n".join(r[0] or "" for r in con.execute("select raw from upload_rejects order by row_number").fetchall())
    for value in ("13912340001", "shopper@example.cn", "11010519491231002X"):
        assert value not in stored, value
    pseudonym = con.execute("select user_id from events").fetchone()[0]
    assert pseudonym.startswith("p_") and pseudonym in stored  # the same pseudonym as the imported phone
    assert "u0001" in stored and "17084" in stored and "not a time" in stored


def test_keep_personal_keeps_rejected_rows_as_they_were(con, write):
    path = write("rejects.csv", "user_id,event_type,event_time\nu1,view,2024-01-01 10:00:00\n"
                                "13912340001,view,not a time\n")
    _, plan = inspect_file(path)
    plan.keep_personal = True
    import_file(con, path, plan=plan)
    assert "13912340001" in con.execute("select raw from upload_rejects").fetchone()[0]
