"""CSV exports: safe to open in a spreadsheet, readable by Excel."""

from __future__ import annotations

import pandas as pd

from ui.widgets import spreadsheet_safe, to_csv_bytes


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
