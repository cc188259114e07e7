"""CSV exports: safe to open in a spreadsheet, readable by Excel."""

from __future__ import annotations

import pandas as pd

from engine.store.export import spreadsheet_safe, to_csv_bytes


def test_formula_like_text_is_neutralised_but_numbers_are_not():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "+1", "-cmd", "@sum", "normal", "\tx"],
                          "amount": [-5.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    safe = spreadsheet_safe(frame)
    assert safe["name"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "'-cmd", "'@sum", "normal", "'\tx"]
    assert safe["amount"].tolist() == [-5.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert frame["name"].iloc[0].startswith("=")  # the original is left alone


def test_csv_has_a_byte_order_mark_for_excel_and_keeps_chinese():
    data = to_csv_bytes(pd.DataFrame({"城市": ["上海"]}))
    assert data.startswith(b"\xef\xbb\xbf") and "上海".encode() in data


def _capped(rows: int) -> None:
    import pandas as pd

    from ui import widgets

    widgets.capped_table(pd.DataFrame({"user_id": [f"u{i}" for i in range(rows)]}), f"{rows:,} users")


def test_long_user_lists_show_the_first_thousand_and_say_so():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_capped, args=(1_500,)).run()
    assert len(at.dataframe[0].value) == 1_000
    assert at.caption[0].value == "1,500 users; the first 1,000 shown, the CSV has them all"
    at = AppTest.from_function(_capped, args=(12,)).run()
    assert len(at.dataframe[0].value) == 12
    assert at.caption[0].value == "12 users"
