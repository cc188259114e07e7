"""Export shapes seen in the wild (issue 18), each a small hand-made file with its exact events,
rejects and reasons."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from engine.ingest import import_file, inspect_file, rejected_rows

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
COLUMNS = "event_time, user_id, event_type, channel, quantity, amount"


def events(con) -> list[tuple]:
    return con.execute(f"select {COLUMNS} from events order by event_time, user_id, event_type, amount").fetchall()


def rejects(con, result) -> list[list]:
    return rejected_rows(con, result.upload_id)[["row", "reason"]].values.tolist()


# 1. compact dates, whitespace-aligned, CRLF, zero-padded ids ---------------------------------------------

def test_compact_dates_in_a_whitespace_aligned_crlf_file_with_zero_padded_ids(con):
    path = EXPORTS / "transactions_compact_dates.txt"
    sample, plan = inspect_file(path)
    assert (sample.delimiter, sample.has_header) == ("whitespace", True)
    assert plan.time_patterns[0] == "%Y%m%d"
    assert plan.time_range_text == "Dates: the file's times run from 1997-01-01 00:00 to 1998-06-30 00:00 UTC"
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (5, 5, 0)
    assert events(con) == [
        (datetime(1997, 1, 1), "00001", "purchase", None, 1.0, 11.77),
        (datetime(1997, 1, 2), "00003", "purchase", None, 2.0, 20.76),
        (datetime(1997, 1, 12), "00002", "purchase", None, 1.0, 12.0),
        (datetime(1997, 1, 12), "00002", "purchase", None, 5.0, 77.0),
        (datetime(1998, 6, 30), "10000", "purchase", None, 1.0, 9.99),
    ]
    assert con.execute("select user_id from users order by 1").fetchall() == [
        ("00001",), ("00002",), ("00003",), ("10000",)]
    assert import_file(con, path).status == "already_imported"


# 2. historical dates are taken; placeholders and future times are rejected with their reason -------------

def test_historical_dates_are_taken_and_placeholders_rejected_each_with_its_reason(con, write):
    path = write("history.csv", "user_id,event_type,event_time\n"
                 "u1,view,1997-01-01 10:00:00\n"
                 "u2,view,1850-06-01 00:00:00\n"
                 "u3,view,1970-01-01 00:00:00\n"
                 "u4,view,1900-01-01 00:00:00\n"
                 "u5,view,0001-01-01 00:00:00\n"
                 "u6,view,1899-12-30 00:00:00\n"
                 "u7,view,2999-01-01 00:00:00\n"
                 "u8,view,1970-01-01 00:00:01\n")
    _, plan = inspect_file(path)
    assert plan.time_range_text == "Dates: the file's times run from 0001-01-01 00:00 to 2999-01-01 00:00 UTC"
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (8, 3, 5)
    assert rejects(con, result) == [
        [3, "placeholder date 1970-01-01 (a zero timestamp, not a real time)"],
        [4, "placeholder date 1900-01-01 (an empty date cell, not a real time)"],
        [5, "placeholder date 0001-01-01 (an empty date cell, not a real time)"],
        [6, "placeholder date 1899-12-30 (an empty date cell, not a real time)"],
        [7, "time in the future 2999-01-01 (after tomorrow)"],
    ]
    assert result.reject_reasons == {"placeholder date": 4, "time in the future": 1}
    assert [(t, u) for t, u, *_ in events(con)] == [
        (datetime(1850, 6, 1), "u2"), (datetime(1970, 1, 1, 0, 0, 1), "u8"), (datetime(1997, 1, 1, 10), "u1")]


def test_placeholders_are_recognised_as_written_in_the_files_zone_and_as_zero_unix_seconds(con, write):
    local = write("local.csv", "user_id,event_type,event_time\n"
                  "u1,view,1970-01-01 08:00:00\n"  # a zero timestamp shown in Shanghai time
                  "u2,view,1970-01-01 00:00:00\n"  # a zero written as local text
                  "u3,view,1900-01-01 00:00:00\n"
                  "u4,view,1996-12-31 23:00:00\n")
    result = import_file(con, local, timezone="Asia/Shanghai")
    assert [r for _, r in rejects(con, result)] == [
        "placeholder date 1970-01-01 (a zero timestamp, not a real time)",
        "placeholder date 1970-01-01 (a zero timestamp, not a real time)",
        "placeholder date 1900-01-01 (an empty date cell, not a real time)"]
    assert [t for t, *_ in events(con)] == [datetime(1996, 12, 31, 15)]
    unix = write("unix.csv", "user_id,event_type,ts\nu1,view,852076800\nu2,view,0\nu3,view,852076801\n")
    result = import_file(con, unix)
    assert rejects(con, result) == [[2, "placeholder date 1970-01-01 (a zero timestamp, not a real time)"]]


def test_the_preview_says_when_only_part_of_the_sample_times_can_be_read(write):
    path = write("mixed.csv", "user_id,event_type,event_time\nu1,view,2024-05-01\nu2,view,yesterday\n")
    _, plan = inspect_file(path)
    assert plan.time_range_text == "Dates: the file's times are all 2024-05-01 00:00 UTC (1 cannot be read)"


# 3. money without an event type: purchases with amount and quantity ---------------------------------------

def test_rows_with_money_and_no_event_type_are_purchases_with_amount_and_quantity(con, write):
    path = write("payments.csv", "会员ID,成交时间,件数,实付(元)\n"
                 "00017,2024/5/1 9:05,2,\"¥1,299.00\"\n"
                 "00018,2024/5/2 10:00,1,59\n")
    _, plan = inspect_file(path)
    assert (plan.format, plan.event_type_rule, plan.event_type_constant) == ("orders", "constant", "purchase")
    assert plan.mapping == {"user_id": ["会员ID"], "quantity": ["件数"], "event_time": ["成交时间"],
                            "amount": ["实付(元)"]}
    assert any("rows carry money (实付(元)): every row is imported as a purchase" in n for n in plan.notes)
    import_file(con, path)
    assert events(con) == [
        (datetime(2024, 5, 1, 9, 5), "00017", "purchase", None, 2.0, 1299.0),
        (datetime(2024, 5, 2, 10, 0), "00018", "purchase", None, 1.0, 59.0),
    ]


@pytest.mark.parametrize("header, field", [
    ("total_sales", "amount"), ("order_value", "amount"), ("payment_amount", "amount"), ("Revenue", "amount"),
    ("支付金额", "amount"), ("number_of_items", "quantity"), ("qty_ordered", "quantity"), ("数量", "quantity"),
])
def test_usual_money_and_quantity_names(write, header, field):
    path = write("shape.csv", f"customer_id,order_date,{header}\nc1,2024-05-01,3\nc2,2024-05-02,4\n")
    _, plan = inspect_file(path)
    assert plan.source(field) == [header]
    assert plan.event_type_constant == "purchase" if field == "amount" else plan.event_type_constant == "view"


def test_a_money_word_on_text_values_is_not_an_amount(write):
    path = write("methods.csv", "customer_id,order_date,payment_method\nc1,2024-05-01,alipay\nc2,2024-05-02,wechat\n")
    _, plan = inspect_file(path)
    assert "amount" not in plan.mapping and plan.event_type_constant == "view"


# 5. a truncated last line is one reject --------------------------------------------------------------------

def test_a_truncated_last_line_is_read_and_rejected_once(con, write):
    path = write("cut.txt", "customer_id  date      number_of_items  money_value\r\n"
                 "00001        19970101  1                11.77\r\n"
                 "00002        19970112  5                77.00\r\n"
                 "00003        1997")
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (3, 2, 1)
    assert result.reject_reasons == {"malformed line": 1}
    listed = rejected_rows(con, result.upload_id)
    assert listed[["row", "reason"]].values.tolist() == [
        [3, "malformed line: Expected Number of Columns: 4 Found: 2"]]
    assert listed["line"].tolist() == ["00003\t1997"]


def test_a_cut_crlf_csv_line_is_listed_without_its_line_break(con, write):
    path = write("cut.csv", "user_id,event_type,event_time,item_id\r\nu1,view,2024-01-01 10:00:00,i1\r\n"
                 "u2,view,2024-01-01 10:00:01,i2\r\nu3,vi")
    result = import_file(con, path)
    assert (result.rows_read, result.rows_rejected) == (3, 1)
    assert rejected_rows(con, result.upload_id)["line"].tolist() == ["u3,vi"]


# 6. click logs: device or IP as the user, *_time as the time, a conversion flag as a second event ----------

def test_click_log_with_a_conversion_flag_and_its_own_time(con):
    path = EXPORTS / "click_log.csv"
    _, plan = inspect_file(path)
    assert plan.mapping == {"channel": ["channel"], "converted": ["is_attributed"],
                            "conversion_time": ["attributed_time"], "user_id": ["ip"], "event_time": ["click_time"]}
    assert plan.event_type_constant == "click"
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected, result.rows_duplicate) == (4, 5, 0, 0)
    assert "1 rows with a set conversion flag also became purchase events" in result.notes
    assert events(con) == [
        (datetime(2017, 11, 6, 14, 32, 21), "83230", "click", "379", None, None),
        (datetime(2017, 11, 6, 14, 33, 34), "17357", "click", "379", None, None),
        (datetime(2017, 11, 6, 14, 34, 12), "35810", "click", "379", None, None),
        (datetime(2017, 11, 6, 14, 34, 52), "45745", "click", "478", None, None),
        (datetime(2017, 11, 6, 16, 0, 2), "35810", "purchase", "379", None, None),
    ]
    # the same rows again (another file name, other bytes) add nothing: conversions have stable ids too
    again = path.read_text() + "\n"
    copy = path.parent.parent.parent / "_click_log_copy.csv"
    try:
        copy.write_text(again)
        second = import_file(con, copy)
    finally:
        copy.unlink(missing_ok=True)
    assert (second.rows_imported, second.rows_duplicate) == (0, 5)


def test_conversion_flags_without_a_time_and_unreadable_flags(con, write):
    path = write("deals.csv", "visitor_id,created_at,是否成交\nv1,2024-05-01 10:00:00,是\nv2,2024-05-01 11:00:00,否\n"
                 "v3,2024-05-01 12:00:00,maybe\nv4,2024-05-01 13:00:00,\n")
    _, plan = inspect_file(path)
    assert plan.mapping == {"user_id": ["visitor_id"], "converted": ["是否成交"], "event_time": ["created_at"]}
    plan.conversion_event_type = "coupon_redeem"  # the operator picks the second event's type
    result = import_file(con, path, plan=plan)
    assert rejects(con, result) == [[3, "unparseable conversion flag 'maybe'"]]
    assert [(t, u, e) for t, u, e, *_ in events(con)] == [
        (datetime(2024, 5, 1, 10), "v1", "click"), (datetime(2024, 5, 1, 10), "v1", "coupon_redeem"),
        (datetime(2024, 5, 1, 11), "v2", "click"), (datetime(2024, 5, 1, 13), "v4", "click")]


def test_a_set_flag_without_its_conversion_time_is_rejected(con, write):
    path = write("clicks.csv", "device_id,click_time,conversion_time,converted\n"
                 "d1,2024-05-01 10:00:00,,1\nd2,2024-05-01 10:00:00,2024-05-01 10:30:00,true\n"
                 "d3,2024-05-01 10:00:00,soon,1\n")
    result = import_file(con, path)
    assert rejects(con, result) == [[1, "missing conversion time"], [3, "unparseable conversion time 'soon'"]]
    assert [(u, e) for _, u, e, *_ in events(con)] == [("d2", "click"), ("d2", "purchase")]


def test_a_better_user_column_wins_over_an_ip(write):
    path = write("both.csv", "ip,idfa,ts,event\n1.2.3.4,A-1,1700000000,view\n")
    _, plan = inspect_file(path)
    assert plan.source("user_id") == ["idfa"] and plan.source("event_time") == ["ts"]
    named = write("named.csv", "ip,user_id,ts,event\n1.2.3.4,u1,1700000000,view\n")
    assert inspect_file(named)[1].source("user_id") == ["user_id"]


# 4. integral-float ids are the integer's text; old warehouses are migrated once ----------------------------

def test_integral_float_ids_become_the_integers_text_in_every_id_column(con, write):
    path = write("floats.jsonl",
                 '{"user_id": 17084.0, "event_type": "purchase", "event_time": "2024-05-01 10:00:00", "item_id": 85123.0,'
                 ' "order_id": 536365.0, "referrer_id": 17.0, "content_id": 5.0, "campaign_id": 12.0, "amount": 3.0}\n'
                 '{"user_id": "00017", "event_type": "view", "event_time": "2024-05-01 11:00:00", "item_id": "17084.5",'
                 ' "order_id": "A-1.0", "referrer_id": "0.0", "content_id": "-3.00", "campaign_id": "1e3"}\n')
    import_file(con, path)
    assert con.execute("select user_id, item_id, order_id, referrer_id, content_id, campaign_id from events "
                       "order by event_time").fetchall() == [
        ("17084", "85123", "536365", "17", "5", "12"),
        ("00017", "17084.5", "A-1.0", "0", "-3", "1e3"),
    ]


def test_parquet_doubles_as_ids_meet_the_same_customer_from_a_csv(con, write, tmp_path):
    import duckdb

    parquet = tmp_path / "retail.parquet"
    with duckdb.connect() as scratch:
        scratch.execute(f"""copy (select * from (values (17084.0::double, 'purchase', '2024-05-01 10:00:00', 1e16::double),
                                              (17085.0::double, 'view', '2024-05-01 10:05:00', 2.5::double))
                                 as t(customer_id, event_type, event_time, item_id))
                            to '{parquet}' (format parquet)""")
    import_file(con, parquet)
    csv = write("retail.csv", "customer_id,event_type,event_time\n17084,view,2024-05-02 10:00:00\n")
    import_file(con, csv)
    assert con.execute("select user_id, item_id from events order by event_time").fetchall() == [
        ("17084", "10000000000000000"), ("17085", "2.5"), ("17084", None)]
    assert con.execute("select count(*) from users").fetchone()[0] == 2


def _age_to_schema_7_with_float_ids(path) -> None:
    """A warehouse as an older Pond left it: ids of a float-typed export stored as '17084.0'."""
    import duckdb

    from engine.store import warehouse

    with warehouse.connect(path) as con:
        csv = Path(path).parent / "old.csv"
        csv.write_text("user_id,event_type,event_time,item_id,amount\n"
                       "17084,purchase,2024-05-01 10:00:00,85123,3\n"
                       "17084,view,2024-05-02 09:00:00,85123,\n"
                       "00017,view,2024-05-02 09:30:00,0085.0,\n")
        import_file(con, csv)
        # the same purchase, once more through a float-typed export, and another customer only seen as a float
        con.execute("""insert into events select
                md5_number(concat_ws('|', u, t, cast(epoch_us(ts) as varchar), i, '', '', '', '', '', a)),
                ts, u, t, i, null, null, null, null, null, null, null, null, null, try_cast(nullif(a, '') as double), 2
            from (values ('17084.0', 'purchase', timestamp '2024-05-01 10:00:00', '85123.0', '3.0'),
                         ('17090.0', 'view', timestamp '2024-05-03 08:00:00', '85123.0', '')) as v(u, t, ts, i, a)""")
        con.execute("insert into users values ('17084.0', null, null, null, 'F', null, 'Hangzhou', 2), "
                    "('17090.0', null, null, null, null, null, null, 2)")
        con.execute("insert into items values ('85123.0', 'mugs', 3.0, null, null, null, null, 2)")
        con.execute("insert into experiments values ('new_checkout', '17090.0', 'B', null, 2)")
        con.execute("insert into contents values ('5', 'post', null, null, null, null, null, 1), "
                    "('5.0', null, 'Spring', null, null, null, '17084.0', 2), ('6.0', 'live', null, null, null, null, null, 2)")
        con.execute("insert into campaigns values ('12.0', 'coupon', null, null, null, null, 2)")
        con.execute("insert into uploads (upload_id, file_name, sha256, status) values (2, 'old.parquet', 'x', 'imported')")
        warehouse.refresh_rollups(con, [date(2024, 5, 1), date(2024, 5, 3)])
        con.execute("update meta set value = '7' where key = 'schema_version'")
    with duckdb.connect(str(path)) as raw:  # the rollups as they were: the float spelling is a second user
        assert raw.execute("select count(*) from user_day where day = '2024-05-01'").fetchone()[0] == 2


def test_the_migration_rewrites_float_ids_in_events_and_every_derived_table_once(warehouse_path, write):
    from engine.store import warehouse

    _age_to_schema_7_with_float_ids(warehouse_path)
    with warehouse.connect(warehouse_path) as con:
        assert warehouse.schema_version(con) == warehouse.SCHEMA_VERSION
        assert con.execute("select user_id, event_type, item_id, amount, upload_id from events "
                           "order by event_time, user_id").fetchall() == [
            ("17084", "purchase", "85123", 3.0, 1),  # the second copy of the purchase is gone
            ("17084", "view", "85123", None, 1),
            ("00017", "view", "0085.0", None, 1),  # text ids keep their spelling
            ("17090", "view", "85123", None, 2),
        ]
        assert con.execute("select user_id, gender, city, first_seen from users order by 1").fetchall() == [
            ("00017", None, None, datetime(2024, 5, 2, 9, 30)),
            ("17084", "F", "Hangzhou", datetime(2024, 5, 1, 10)),
            ("17090", None, None, datetime(2024, 5, 3, 8)),
        ]
        assert con.execute("select item_id, category from items order by 1").fetchall() == [
            ("0085.0", None), ("85123", "mugs")]
        assert con.execute("select user_id from experiments").fetchall() == [("17090",)]
        assert con.execute("select content_id, kind, title, author_id from contents order by 1").fetchall() == [
            ("5", "post", "Spring", "17084"), ("6", "live", None, None)]
        assert con.execute("select campaign_id from campaigns").fetchall() == [("12",)]
        assert con.execute("select day, user_id, purchases from user_day order by 1, 2").fetchall() == [
            (date(2024, 5, 1), "17084", 1), (date(2024, 5, 2), "00017", 0), (date(2024, 5, 2), "17084", 0),
            (date(2024, 5, 3), "17090", 0)]
        assert con.execute("select sum(amount) from daily_events where event_type = 'purchase'").fetchone()[0] == 3.0
        # the purchase's id is the one an import computes now: the same row again is a duplicate
        again = write("again.csv", "user_id,event_type,event_time,item_id,amount\n"
                      "17084.0,purchase,2024-05-01 10:00:00,85123.0,3\n17090,view,2024-05-03 08:00:00,85123,\n")
        result = import_file(con, again)
        assert (result.rows_imported, result.rows_duplicate) == (0, 2)
        version = warehouse.data_version(con)
    with warehouse.connect(warehouse_path) as con:  # once: opening again changes nothing
        assert warehouse.data_version(con) == version


# 7. the command line: inspect says when a file would be refused; --warehouse after the command ------------

def test_inspect_exits_1_and_names_the_flags_that_fix_a_refused_file(write, capsys, tmp_path):
    from engine.__main__ import main

    bad = write("bad.csv", "a,b\n1,2024-05-01\n")
    assert main(["inspect", str(bad), "--warehouse", str(tmp_path / "none.duckdb")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["pond: bad.csv would be refused: no user column found among: a, b; map one with "
                   "--map user_id=COLUMN (on the Upload page: the user_id picker) or rename its header, e.g. to user_id"]
    assert main(["inspect", str(bad), "--map", "user_id=a", "--map", "event_time=b", "--event-type", "purchase"]) == 0
    out = capsys.readouterr().out
    assert "Dates: the file's times are all 2024-05-01 00:00 UTC" in out
    assert "note: Every row is imported as purchase (chosen for this file)" in out
    assert "No event type column" not in out
    unreadable = write("times.csv", "user_id,event_type,event_time\nu1,view,soon\n")
    assert main(["inspect", str(unreadable)]) == 1
    assert "would be refused: none of its times can be read" in capsys.readouterr().err


def test_warehouse_is_accepted_after_the_command_name(write, capsys, tmp_path):
    from engine.__main__ import main

    db = tmp_path / "after.duckdb"
    good = write("good.csv", "user_id,event_type,event_time\nu1,view,2024-05-01 10:00:00\n")
    assert main(["ingest", str(good), "--warehouse", str(db)]) == 0
    assert main(["uploads", "--warehouse", str(db), "--format", "json"]) == 0
    assert '"file_name":"good.csv"' in capsys.readouterr().out
    assert db.exists()


# 8. one default time zone, shown: the warehouse's business zone on the Upload page and the command line -----

def test_naive_times_default_to_the_warehouses_business_zone_on_the_command_line(write, capsys, tmp_path):
    from engine.__main__ import main

    db = tmp_path / "zone.duckdb"
    first = write("first.csv", "user_id,event_type,event_time\nu1,view,2024-05-01 08:00:00\n")
    assert main(["--warehouse", str(db), "ingest", str(first), "--tz", "Asia/Shanghai"]) == 0
    capsys.readouterr()
    second = write("second.csv", "user_id,event_type,event_time\nu2,view,2024-05-01 08:00:00\n")
    assert main(["--warehouse", str(db), "inspect", str(second)]) == 0
    assert ("times without a zone read as Asia/Shanghai (the warehouse's business time zone; --tz to change)"
            in capsys.readouterr().out)
    assert main(["--warehouse", str(db), "ingest", str(second)]) == 0
    out = capsys.readouterr().out
    assert "times without a zone read as Asia/Shanghai" in out
    assert "events from 2024-05-01 00:00 to 2024-05-01 00:00 UTC" in out
    from engine.store import warehouse

    with warehouse.connect(db) as con:  # both files' 08:00 in Shanghai are the same instant
        assert con.execute("select distinct event_time from events").fetchall() == [(datetime(2024, 5, 1, 0, 0),)]


# remembered mappings: the second file of a shape needs no mapping ---------------------------------------

WEEK = "who,when,what,paid\n{user},2024-05-0{day} 10:00:00,x{day},1{day}\n"


def test_an_edited_mapping_is_remembered_for_the_same_header_and_can_be_forgotten(con, write):
    from engine.ingest import forget_mapping, list_mappings

    first = write("week1.csv", WEEK.format(user="m1", day=1))
    _, plan = inspect_file(first, con=con)
    assert plan.remembered_from is None and "user_id" not in plan.mapping
    plan.set_column("user_id", "who")
    plan.set_column("event_time", "when")
    result = import_file(con, first, plan=plan)
    assert "Mapping remembered for files with these columns: the next one is imported the same way" in result.notes
    remembered = list_mappings(con)
    assert remembered[["columns", "mapping", "upload_id"]].values.tolist() == [
        ["who, when, what, paid", "amount=paid, event_time=when, user_id=who, every row=purchase", 1]]
    # next week's export, its header spelt a little differently: no mapping to give
    second = write("week2.csv", WEEK.format(user="m2", day=8).replace("who,when", "Who,When"))
    _, plan = inspect_file(second, con=con)
    assert plan.remembered_from == 1
    assert plan.notes[0] == ("Mapping from upload 1 (remembered for files with these columns; change it here or "
                             "forget it)")
    assert plan.time_range_text == "Dates: the file's times are all 2024-05-08 10:00 UTC"
    result = import_file(con, second)  # no plan: detection plus what is remembered
    assert (result.rows_imported, result.rows_rejected) == (1, 0)
    assert [(t, u, e, a) for t, u, e, _, _, a in events(con)] == [
        (datetime(2024, 5, 1, 10), "m1", "purchase", 11.0), (datetime(2024, 5, 8, 10), "m2", "purchase", 18.0)]
    assert len(list_mappings(con)) == 1  # applying it unchanged saves nothing new
    forget_mapping(con, remembered["signature"][0][:6])
    assert list_mappings(con).empty
    assert inspect_file(second, con=con)[1].remembered_from is None


def test_a_file_of_another_shape_or_without_a_header_is_not_remembered(con, write):
    from engine.ingest import list_mappings

    plain = write("plain.csv", "user_id,event_type,event_time\nu1,view,2024-05-01 10:00:00\n")
    import_file(con, plain, plan=inspect_file(plain, con=con)[1])  # as detected: nothing to remember
    headerless = write("nohead.csv", "u1,view,2024-05-02 10:00:00\n")
    _, plan = inspect_file(headerless, con=con)
    plan.set_event_type("click")
    import_file(con, headerless, plan=plan)
    assert list_mappings(con).empty


def test_mappings_on_the_command_line(write, capsys, tmp_path):
    from engine.__main__ import main

    db = str(tmp_path / "cli.duckdb")
    first = write("week1.csv", WEEK.format(user="m1", day=1))
    assert main(["ingest", str(first), "--warehouse", db, "--map", "user_id=who", "--map", "event_time=when",
                 "--event-type", "purchase"]) == 0
    assert "note: Mapping remembered" in capsys.readouterr().out
    second = write("week2.csv", WEEK.format(user="m2", day=8))
    assert main(["inspect", str(second), "--warehouse", db]) == 0
    assert "note: Mapping from upload 1" in capsys.readouterr().out
    assert main(["ingest", str(second), "--warehouse", db]) == 0
    assert "imported 1, rejected 0" in capsys.readouterr().out
    assert main(["mappings", "list", "--warehouse", db, "--format", "json"]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)
    assert [(m["upload_id"], m["columns"]) for m in listed] == [(1, "who, when, what, paid")]
    assert main(["mappings", "forget", listed[0]["signature"], "--warehouse", db]) == 0
    assert main(["mappings", "forget", "nope", "--warehouse", db]) == 1
    assert "no remembered mapping with signature 'nope'" in capsys.readouterr().err
    assert main(["inspect", str(second), "--warehouse", db]) == 1  # no user column again, and says so


def test_the_upload_page_applies_a_remembered_mapping_and_forgets_it(tmp_path, monkeypatch, write):
    from streamlit.testing.v1 import AppTest

    from engine.store import warehouse

    db = tmp_path / "page.duckdb"
    monkeypatch.setenv("POND_WAREHOUSE", str(db))
    with warehouse.connect(db) as con:
        first = write("week1.csv", WEEK.format(user="m1", day=1))
        _, plan = inspect_file(first, con=con)
        plan.set_column("user_id", "who")
        plan.set_column("event_time", "when")
        import_file(con, first, plan=plan)
    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=60).run()
    at.switch_page("views/upload.py").run()
    at.get("file_uploader")[0].upload("week2.csv", WEEK.format(user="m2", day=8).encode(), "text/csv").run()
    assert not at.exception
    assert any("Mapping from upload 1" in c.value for c in at.caption)
    assert not at.button(key="file-0-week2.csv-import").disabled
    at.button(key="file-0-week2.csv-forget").click().run()
    assert not at.exception
    with warehouse.connect(db) as con:
        assert con.execute("select count(*) from mappings").fetchone() == (0,)
    assert not any("Mapping from upload 1" in c.value for c in at.caption)
    assert at.button(key="file-0-week2.csv-import").disabled  # no user column without the remembered mapping


# the corpus: dates and amounts as exports write them ----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2024/5/1 9:05", datetime(2024, 5, 1, 9, 5)),
    ("01-May-2024", datetime(2024, 5, 1)),
    ("01-May-2024 09:05", datetime(2024, 5, 1, 9, 5)),
    ("May 1, 2024", datetime(2024, 5, 1)),
    ("September 30, 2024", datetime(2024, 9, 30)),
    ("2024年5月1日 9时5分", datetime(2024, 5, 1, 9, 5)),
    ("2024年05月01日", datetime(2024, 5, 1)),
    ("20240501", datetime(2024, 5, 1)),
    ("1714554300", datetime(2024, 5, 1, 9, 5)),
    ("1714554300000", datetime(2024, 5, 1, 9, 5)),
    ("45413", datetime(2024, 5, 1)),
    ("45413.378472222", datetime(2024, 5, 1, 9, 5)),
])
def test_times_as_exports_write_them(con, write, text, expected):
    path = write("times.csv", f'user_id,event_type,event_time\nu1,view,"{text}"\nu2,view,"{text}"\n')
    result = import_file(con, path)
    assert (result.rows_imported, result.rows_rejected) == (2, 0)
    got = con.execute("select distinct event_time from events").fetchone()[0]
    assert abs((got - expected).total_seconds()) < 1


def test_excel_serial_dates_are_local_times_and_zero_is_a_placeholder(con, write):
    path = write("serial.csv", "user_id,event_type,event_time\nu1,view,45413.5\nu2,view,45414\nu3,view,0\n")
    result = import_file(con, path, timezone="Asia/Shanghai")
    assert rejects(con, result) == [[3, "placeholder date 1899-12-30 (an empty date cell, not a real time)"]]
    assert [t for t, *_ in events(con)] == [datetime(2024, 5, 1, 4), datetime(2024, 5, 1, 16)]


@pytest.mark.parametrize("text, amount", [
    ("¥1,299.00", 1299.0), ("1.299,00 €", 1299.0), ("12,50", 12.5), ("1,299", 1299.0), ("RMB 88", 88.0),
    ("$1,000,000.5", 1000000.5), ("-3.00", -3.0), ("59元", 59.0),
])
def test_amounts_with_currency_signs_and_thousands_separators(con, write, text, amount):
    path = write("amounts.csv", f'user_id,event_type,event_time,amount\nu1,refund,2024-05-01 10:00:00,"{text}"\n'
                 f'u1,purchase,2024-05-01 11:00:00,"{text}"\n')
    result = import_file(con, path)
    purchase = con.execute("select amount from events where event_type = 'purchase'").fetchone()
    if amount < 0:  # a negative purchase would lower GMV: rejected, with the amount read (issue 17)
        assert purchase is None and result.reject_reasons == {"negative amount": 1}
    else:
        assert purchase[0] == amount
    assert con.execute("select amount from events where event_type = 'refund'").fetchone()[0] == abs(amount)


# real exports: every id stored can be found again in the source file by its spelling --------------------

@pytest.mark.realdata
@pytest.mark.parametrize("relative, columns", [
    ("taobao_userbehavior/UserBehavior_head84k.csv", {"user_id": 0, "item_id": 1}),
    ("rees46/2019-Oct_first3h.csv", {"user_id": 7, "item_id": 2, "session_id": 8}),
])
def test_real_exports_round_trip_their_ids_by_spelling(con, real_data, relative, columns):
    import csv

    from engine.__main__ import main

    path = real_data / relative
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    source = {name: {r[i] for r in rows if len(r) > i} for name, i in columns.items()}
    database = con.execute("pragma database_list").fetchall()[0][2]
    con.close()  # the command line opens the warehouse itself, with --format auto
    assert main(["--warehouse", database, "ingest", str(path), "--format", "auto"]) == 0
    from engine.store import warehouse

    with warehouse.connect(database) as again:
        for name in columns:
            stored = {v for (v,) in again.execute(f"select distinct {name} from events").fetchall()}
            assert stored and stored <= source[name], sorted(stored - source[name])[:5]


# title rows and merged group headers above the header --------------------------------------------------

def test_a_title_line_above_the_header_of_a_text_export_is_skipped(con, write):
    path = write("report.csv", "订单报表 2024年5月,,,\n\n会员ID,下单时间,商品ID,实付金额\n"
                 "00017,2024-05-01 09:05:00,i1,12.5\n00018,2024-05-01 10:00:00,i2,7\n00019,2024-05-01 11:00:00,,\n")
    sample, plan = inspect_file(path)
    assert (sample.skip_rows, sample.columns) == (2, ["会员ID", "下单时间", "商品ID", "实付金额"])
    assert plan.notes[0] == "The header is on line 3: the 2 line(s) above it (a title or a group header) are skipped"
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (3, 3, 0)
    assert [(u, a) for _, u, _, _, _, a in events(con)] == [("00017", 12.5), ("00018", 7.0), ("00019", None)]


def test_an_excel_sheet_with_a_title_and_a_merged_group_header(con, tmp_path):
    import openpyxl

    path = tmp_path / "orders.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Orders, week 18"])
    sheet.append([])
    sheet.append(["Customer", None, "Order", None, None])  # merged group cells: the value sits in the first
    sheet.append(["customer_id", "region", "order_id", "order_date", "total"])
    sheet.append([17084.0, "east", "A1", "2024-05-01 09:05:00", 12.5])
    sheet.append([17085, "west", "A2", "2024-05-02 10:00:00", 8])
    sheet.append([None, "west", "A3", "2024-05-02 11:00:00", 8])
    book.save(path)
    sample, plan = inspect_file(path)
    assert (sample.skip_rows, sample.columns) == (3, ["customer_id", "region", "order_id", "order_date", "total"])
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (3, 2, 1)
    assert rejects(con, result) == [[3, "missing user id"]]
    assert [(u, e, a) for _, u, e, _, _, a in events(con)] == [("17084", "purchase", 12.5), ("17085", "purchase", 8.0)]


# ambiguous dates: the preview says which reading it chose and why, and it can be switched ----------------

def test_ambiguous_slash_dates_say_their_reading_and_can_be_switched(con, write, capsys):
    from engine.__main__ import main

    path = write("slash.csv", "user_id,event_type,event_time\nu1,view,01/02/2024\nu2,view,03/04/2024\n")
    _, plan = inspect_file(path)
    assert plan.date_order == "month"
    assert ("Dates read as month/day/year (2 of 2 sample values read either way: month/day is assumed); "
            "switch with --date-order day (Upload page: the date order picker)") in plan.notes
    plan.set_date_order("day")
    assert plan.time_patterns[0] == "%d/%m/%Y" and plan.date_order == "day"
    import_file(con, path, plan=plan)
    assert [t for t, *_ in events(con)] == [datetime(2024, 2, 1), datetime(2024, 4, 3)]
    clear = write("clear.csv", "user_id,event_type,event_time\nu1,view,13/02/2024\nu2,view,03/04/2024\n")
    _, plan = inspect_file(clear)
    assert plan.date_order == "day"
    assert any(n.startswith("Dates read as day/month/year (2 of 2 sample values read so, 1 as month/day/year)")
               for n in plan.notes)
    assert main(["inspect", str(path), "--date-order", "day"]) == 0
    out = capsys.readouterr().out
    assert "Dates read as day/month/year (chosen)" in out
    assert "Dates: the file's times run from 2024-02-01 00:00 to 2024-04-03 00:00 UTC" in out


# undo removes what only the undone upload brought ------------------------------------------------------

def test_undo_removes_the_users_items_and_derived_rows_only_that_upload_brought(con, write):
    from engine.ingest import undo_upload

    first = import_file(con, write("a.csv", "user_id,event_type,event_time,item_id,gender,city\n"
                                            "a1,view,2024-05-01 10:00:00,i1,F,Hangzhou\n"
                                            "a2,view,2024-05-01 11:00:00,i2,M,Suzhou\n"))
    import_file(con, write("b.csv", "user_id,event_type,event_time,item_id\nb1,view,2024-05-02 10:00:00,i2\n"
                                    "a2,purchase,2024-05-02 11:00:00,i2\n"))
    con.execute("insert into contents values ('post1', 'post', null, null, null, null, null, ?)", [first.upload_id])
    con.execute("insert into user_tags values ('a1', 'beauty', 1.0), ('b1', 'toys', 1.0)")
    undo_upload(con, first.upload_id, derive=False)
    assert con.execute("select user_id from users order by 1").fetchall() == [("a2",), ("b1",)]
    assert con.execute("select item_id from items order by 1").fetchall() == [("i2",)]
    assert con.execute("select count(*) from contents").fetchone() == (0,)
    assert con.execute("select user_id from user_tags").fetchall() == [("b1",)]


# the first real import replaces the demo (the default on the command line and the page), or adds to it -----

@pytest.fixture
def demo_warehouse(tmp_path):
    from engine.ingest.demo import build_demo
    from engine.store import warehouse

    path = tmp_path / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=60, days=14, seed=1, end=date(2026, 3, 1))
    return path


def test_the_first_import_replaces_the_demo_on_the_command_line(demo_warehouse, write, capsys):
    from engine.__main__ import main
    from engine.store import warehouse

    own = write("own.csv", "user_id,event_type,event_time\nc1,view,2017-11-25 10:00:00\nc2,view,2017-11-25 11:00:00\n")
    assert main(["--warehouse", str(demo_warehouse), "ingest", str(own), "--tz", "Asia/Shanghai"]) == 0
    assert "note: Replaced the demo data (upload 1): the warehouse now holds only imported data" in capsys.readouterr().out
    with warehouse.connect(demo_warehouse) as con:
        for table in ("users", "items", "contents", "communities", "campaigns", "experiments", "user_day"):
            assert con.execute(f"select count(*) from {table} where upload_id = 1" if table != "user_day" else
                               "select count(*) from user_day where user_id not in ('c1', 'c2')").fetchone() == (0,)
        assert con.execute("select user_id from users order by 1").fetchall() == [("c1",), ("c2",)]
        assert con.execute("select upload_id, status from uploads order by 1").fetchall() == [
            (1, "undone"), (2, "imported")]
        assert warehouse.business_timezone(con) == "Asia/Shanghai"
    # a second import is not the first any more: it adds
    more = write("more.csv", "user_id,event_type,event_time\nc3,view,2017-11-26 10:00:00\n")
    assert main(["--warehouse", str(demo_warehouse), "ingest", str(more)]) == 0
    assert "Replaced the demo" not in capsys.readouterr().out


def test_add_to_demo_keeps_it_and_a_refused_file_leaves_the_demo_as_it_was(demo_warehouse, write, capsys):
    from engine.__main__ import main
    from engine.store import warehouse
    from tests.conftest import table_snapshot

    with warehouse.connect(demo_warehouse) as con:
        before, events_before = table_snapshot(con), con.execute("select count(*) from events").fetchone()[0]
    bad = write("bad.csv", "user_id,event_type,event_time\nc1,view,soon\n")
    assert main(["--warehouse", str(demo_warehouse), "ingest", str(bad)]) == 1
    with warehouse.connect(demo_warehouse) as con:
        after = table_snapshot(con)
        after.pop("audit", None), before.pop("audit", None)  # the refusal is in the audit trail
        assert after == before
    own = write("own.csv", "user_id,event_type,event_time\nc1,view,2026-02-25 10:00:00\n")
    assert main(["--warehouse", str(demo_warehouse), "ingest", str(own), "--add-to-demo"]) == 0
    with warehouse.connect(demo_warehouse) as con:
        assert con.execute("select count(*) from events").fetchone()[0] == events_before + 1


def _wait_for_derivation(path) -> None:
    """The server's thread that derives tags after an upload must not outlive the test (nor the process)."""
    import time

    import ui.derive

    deadline = time.monotonic() + 60
    while ui.derive.deriving(str(path)) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_upload_page_offers_to_replace_the_demo_or_add_to_it(demo_warehouse, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from engine.store import warehouse

    monkeypatch.setenv("POND_WAREHOUSE", str(demo_warehouse))
    at = AppTest.from_file(str(Path(__file__).parent.parent / "app.py"), default_timeout=60).run()
    at.switch_page("views/upload.py").run()
    at.get("file_uploader")[0].upload("own.csv", b"user_id,event_type,event_time\nc1,view,2026-02-25 10:00:00\n",
                                      "text/csv").run()
    assert not at.exception
    choice = at.radio(key="demo-choice")
    assert choice.value == "replace"
    choice.set_value("add").run()
    at.button(key="file-0-own.csv-import").click().run()
    assert not at.exception
    _wait_for_derivation(demo_warehouse)
    with warehouse.connect(demo_warehouse) as con:  # added beside the demo, as chosen
        assert con.execute("select count(distinct upload_id) from events").fetchone() == (2,)


def test_a_chosen_date_order_is_remembered_too(con, write):
    first = write("eu1.csv", "user_id,event_type,event_time\nu1,view,01/02/2024\nu2,view,03/04/2024\n")
    _, plan = inspect_file(first, con=con)
    plan.set_date_order("day")
    import_file(con, first, plan=plan)
    second = write("eu2.csv", "user_id,event_type,event_time\nu3,view,05/06/2024\n")
    _, plan = inspect_file(second, con=con)
    assert (plan.remembered_from, plan.date_order) == (1, "day")
    import_file(con, second)
    assert con.execute("select event_time from events where user_id = 'u3'").fetchone()[0] == datetime(2024, 6, 5)
