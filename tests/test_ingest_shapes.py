"""Export shapes seen in the wild (issue 18), each a small hand-made file with its exact events,
rejects and reasons."""

from __future__ import annotations

from datetime import datetime
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
    assert plan.time_range_text == "Dates: the file's times run all 2024-05-01 00:00 UTC (1 cannot be read)"


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
