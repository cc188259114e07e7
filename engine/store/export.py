"""CSV that is safe to open in a spreadsheet, for the dashboard's downloads and the command line alike.

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula
by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``, ``@SUM(...)``):
such cells get a leading apostrophe, which spreadsheets show as text and do not display. Only text
cells are touched: a negative number stays a number (OWASP, "CSV injection").
"""

from __future__ import annotations

from typing import TextIO

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose formula-like text cells are neutralised (numbers are left alone)."""
    safe = frame.copy()
    for column in safe.columns:
        dtype = safe[column].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            safe[column] = safe[column].astype(object)
        elif not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
            continue  # numbers, dates, booleans: never formulas
        safe[column] = safe[column].map(neutralise)
    # a column label is a cell too
    safe.columns = [neutralise(c) for c in safe.columns]
    return safe


def write_csv(frame: pd.DataFrame, handle: TextIO) -> None:
    """Write ``frame`` as formula-safe CSV to an open text handle (the CLI's stdout, say)."""
    spreadsheet_safe(frame).to_csv(handle, index=False)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """Formula-safe CSV as UTF-8 with a byte-order mark, so that Excel shows Chinese text correctly."""
    return spreadsheet_safe(frame).to_csv(index=False).encode("utf-8-sig")
