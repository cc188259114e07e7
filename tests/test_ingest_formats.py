"""Each supported export format, on tiny hand-made files with exact expected events."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from engine.ingest import import_file, inspect_file

COLUMNS = "event_time, user_id, event_type, item_id, category, order_id, quantity, amount"


def events(con) -> list[tuple]:
    return con.execute(f"select {COLUMNS} from events order by event_time, user_id, event_type, item_id").fetchall()


def test_taobao_userbehavior_with_truncated_last_line(con, write):
    path = write("UserBehavior.csv",
                 "1,2268318,2520377,pv,1511544070\n"
                 "1,2333346,2520771,buy,1511561733\n"
                 "2,2576651,149192,cart,1511572885\n"
                 "2,2576651,149192,fav,1511572886\n"
                 "3,1968385,1875258,pv")
    result = import_file(con, path)
    assert result.format == "taobao_userbehavior"
    assert (result.rows_read, result.rows_imported, result.rows_rejected, result.rows_duplicate) == (5, 4, 1, 0)
    assert result.reject_reasons == {"malformed line": 1}
    assert events(con) == [
        (datetime(2017, 11, 24, 17, 21, 10), "1", "view", "2268318", "2520377", None, None, None),
        (datetime(2017, 11, 24, 22, 15, 33), "1", "purchase", "2333346", "2520771", None, None, None),
        (datetime(2017, 11, 25, 1, 21, 25), "2", "cart", "2576651", "149192", None, None, None),
        (datetime(2017, 11, 25, 1, 21, 26), "2", "fav", "2576651", "149192", None, None, None),
    ]


def test_rees46_times_in_utc_amount_only_on_purchases(con, write):
    path = write("rees.csv",
                 "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n"
                 "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,s1\n"
                 "2019-10-01 00:05:00 UTC,purchase,3900821,2053013552326770905,appliances.water_heater,aqua,33.20,"
                 "554748717,s2\n"
                 "2019-10-01 00:06:00 UTC,remove_from_cart,3900821,2053013552326770905,,aqua,33.20,554748717,s2\n"
                 "2019-10-01 02:50:00 UTC,view,10900305,2053013555069845885,appliances.kitchen.mixer,elenberg,25.71,52040330")
    result = import_file(con, path, timezone="Asia/Shanghai")  # zoned text is not shifted
    assert result.format == "rees46"
    assert (result.rows_imported, result.rows_rejected) == (3, 1)
    assert any("remove_from_cart" in n for n in result.notes)
    assert events(con) == [
        (datetime(2019, 10, 1, 0, 0), "541312140", "view", "44600062", "2103807459595387724", None, None, None),
        (datetime(2019, 10, 1, 0, 5), "554748717", "purchase", "3900821", "appliances.water_heater", None, None,
         33.2),
        (datetime(2019, 10, 1, 0, 6), "554748717", "remove_from_cart", "3900821", "2053013552326770905", None,
         None, None),
    ]
    assert con.execute("select session_id from events order by event_time").fetchall() == [("s1",), ("s2",), ("s2",)]
    assert con.execute("select item_id, brand, price from items order by 1").fetchall() == [
        ("3900821", "aqua", 33.2), ("44600062", "shiseido", 35.79)]


def test_retailrocket_milliseconds_and_vocabulary(con, write):
    path = write("events.csv",
                 "timestamp,visitorid,event,itemid,transactionid\n"
                 "1433221332117,257597,view,355908,\n"
                 "1433224214164,992329,addtocart,248676,\n"
                 "1433221999827,111016,transaction,318965,4000\n")
    result = import_file(con, path)
    assert result.format == "retailrocket"
    assert events(con) == [
        (datetime(2015, 6, 2, 5, 2, 12, 117000), "257597", "view", "355908", None, None, None, None),
        (datetime(2015, 6, 2, 5, 13, 19, 827000), "111016", "purchase", "318965", None, "4000", None, None),
        (datetime(2015, 6, 2, 5, 50, 14, 164000), "992329", "cart", "248676", None, None, None, None),
    ]


def test_invoice_lines_cancellations_and_missing_customers(con, write):
    path = write("online_retail.csv",
                 "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
                 "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850,United Kingdom\n"
                 "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850,United Kingdom\n"
                 "C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527,United Kingdom\n"
                 "536414,22139,,56,12/1/2010 11:52,0,,United Kingdom\n"
                 "536544,21773,DECORATIVE ROSE,-3,12/1/2010 14:32,2.51,13047,United Kingdom\n"
                 "536370,22728,ALARM CLOCK,24,12/13/2010 8:45,3.75,12583,France\n")
    result = import_file(con, path)
    assert result.format == "invoice_lines"
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (6, 4, 2)
    assert result.reject_reasons == {"missing user id": 1, "negative quantity": 1}
    assert events(con) == [
        (datetime(2010, 12, 1, 8, 26), "17850", "purchase", "71053", None, "536365", 6.0, 20.34),
        (datetime(2010, 12, 1, 8, 26), "17850", "purchase", "85123A", None, "536365", 6.0, 15.3),
        (datetime(2010, 12, 1, 9, 41), "14527", "refund", "D", None, "C536379", 1.0, 27.5),
        (datetime(2010, 12, 13, 8, 45), "12583", "purchase", "22728", None, "536370", 24.0, 90.0),
    ]
    assert con.execute("select name from items where item_id = '85123A'").fetchone() == ("WHITE HANGING HEART",)


def test_order_export_rows_are_purchases(con, write):
    path = write("orders.csv", "order_id,customer_id,order_date,amount\nA1,c1,2024-03-01,99.5\nA2,c2,2024-03-02,\"¥1,200.00\"\n")
    result = import_file(con, path)
    assert result.format == "orders"
    assert events(con) == [
        (datetime(2024, 3, 1), "c1", "purchase", None, None, "A1", None, 99.5),
        (datetime(2024, 3, 2), "c2", "purchase", None, None, "A2", None, 1200.0),
    ]


def test_chinese_headers_and_vocabulary_in_gb18030_with_time_zone(con, write):
    text = ("用户ID,商品ID,行为类型,时间,金额\n"
            "u1,i1,浏览,2024-05-01 08:30:00,\n"
            "u1,i1,加购,2024-05-01 08:31:00,\n"
            "u1,i1,购买,2024-05-01 08:40:00,59.9\n"
            "u2,i2,收藏,2024年05月02日 07:00,\n")
    path = write("行为.csv", text, encoding="gb18030")
    sample, plan = inspect_file(path, timezone="Asia/Shanghai")
    assert sample.encoding == "gb18030"
    assert plan.mapping["user_id"] == ["用户ID"] and plan.mapping["amount"] == ["金额"]
    import_file(con, path, plan=plan)
    assert events(con) == [
        (datetime(2024, 5, 1, 0, 30), "u1", "view", "i1", None, None, None, None),
        (datetime(2024, 5, 1, 0, 31), "u1", "cart", "i1", None, None, None, None),
        (datetime(2024, 5, 1, 0, 40), "u1", "purchase", "i1", None, None, None, 59.9),
        (datetime(2024, 5, 1, 23, 0), "u2", "fav", "i2", None, None, None, None),
    ]
    # the first import's zone becomes the warehouse's calendar: 2024-05-02 07:00 local is the 2nd
    assert con.execute("select day, user_id from user_day order by 1, 2").fetchall() == [
        (datetime(2024, 5, 1).date(), "u1"), (datetime(2024, 5, 2).date(), "u2")]


@pytest.mark.parametrize("content, name", [
    ("\ufeffuser_id,event_type,event_time\nu1,view,2024-01-01 10:00:00\n", "bom.csv"),
    ("user_id\tevent_type\tevent_time\nu1\tview\t2024-01-01T10:00:00Z\n", "tabs.tsv"),
    ("user_id  event_type   event_time\nu1   view  1704103200\n", "blanks.txt"),
    ("user_id;event_type;event_time\nu1;view;01.01.2024 10:00\n", "semicolons.csv"),
])
def test_text_layouts(con, write, content, name):
    import_file(con, write(name, content))
    assert con.execute("select user_id, event_type, event_time from events").fetchall() == [
        ("u1", "view", datetime(2024, 1, 1, 10, 0))]


def test_excel_workbook_with_date_cells(con, tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["会员ID", "行为", "时间", "数量"])
    sheet.append(["m1", "点击", datetime(2024, 2, 1, 9, 0), 1])
    sheet.append([None, None, None, None])
    sheet.append(["m2", "分享", datetime(2024, 2, 1, 9, 5), 2])
    path = tmp_path / "export.xlsx"
    book.save(path)
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported) == (2, 2)
    assert con.execute("select user_id, event_type, event_time, quantity from events order by 1").fetchall() == [
        ("m1", "click", datetime(2024, 2, 1, 9, 0), 1.0), ("m2", "share", datetime(2024, 2, 1, 9, 5), 2.0)]


def test_parquet_with_typed_columns(con, tmp_path):
    path = tmp_path / "events.parquet"
    pd.DataFrame({
        "user_id": [10, 11],
        "event": ["view", "purchase"],
        "ts": pd.to_datetime(["2024-03-01 12:00", "2024-03-01 13:00"]).tz_localize("UTC"),
        "amount": [None, 12.5],
    }).to_parquet(path)
    import_file(con, path)
    assert con.execute("select user_id, event_type, event_time, amount from events order by 3").fetchall() == [
        ("10", "view", datetime(2024, 3, 1, 12), None), ("11", "purchase", datetime(2024, 3, 1, 13), 12.5)]


def test_json_lines_with_a_malformed_line(con, write):
    path = write("events.jsonl",
                 '{"uid": "a", "action": "like", "time": "2024-04-01T10:00:00+08:00", "extra": {"x": 1}}\n'
                 '{"uid": "b", "action": "comment", "time": "2024-04-01T11:00:00+08:00"}\n'
                 '{"uid": "c", "action": "like", "ti\n')
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected) == (3, 2, 1)
    assert result.reject_reasons == {"malformed JSON line": 1}
    assert con.execute("select user_id, event_type, event_time from events order by 1").fetchall() == [
        ("a", "like", datetime(2024, 4, 1, 2)), ("b", "comment", datetime(2024, 4, 1, 3))]


def test_headerless_generic_file_is_mapped_by_values(con, write):
    path = write("raw.csv", "u1,sku9,buy,2024-01-02 03:04:05\nu2,sku8,pv,2024-01-02 03:05:00\n")
    _, plan = inspect_file(path)
    assert plan.format == "generic"
    assert plan.mapping == {"event_type": ["column_3"], "event_time": ["column_4"],
                            "user_id": ["column_1"], "item_id": ["column_2"]}
    import_file(con, path, plan=plan)
    assert con.execute("select user_id, item_id, event_type from events order by 1").fetchall() == [
        ("u1", "sku9", "purchase"), ("u2", "sku8", "view")]


def test_day_first_dates_are_recognised(con, write):
    path = write("eu.csv", "user,event,date\na,view,25/12/2023 10:00\nb,view,03/01/2024 10:00\n")
    _, plan = inspect_file(path)
    assert plan.time_patterns[0] == "%d/%m/%Y %H:%M"
    import_file(con, path, plan=plan)
    assert con.execute("select event_time from events order by 1").fetchall() == [
        (datetime(2023, 12, 25, 10),), (datetime(2024, 1, 3, 10),)]
