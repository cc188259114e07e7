"""What every command group shares: argument types, printing tables, progress, the audit trail's actor."""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime

import numpy as np
import pandas as pd

from engine.store.export import write_csv


def date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from exc


def mapping_arg(text: str) -> tuple[str, str]:
    field, sep, column = text.partition("=")
    if not sep or not field:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=COLUMN (e.g. user_id=会员ID)")
    return field.strip(), column.strip()


#: Rows the last command printed, for the audit trail's export entry.
printed = {"rows": 0}


def emit(frame: pd.DataFrame, fmt: str) -> None:
    printed["rows"] += len(frame)
    frame = frame.copy()
    for column in frame.columns:  # calendar dates print as dates, not midnight timestamps
        if frame[column].map(lambda v: isinstance(v, date) and not isinstance(v, datetime)).astype(bool).all():
            frame[column] = frame[column].map(date.isoformat)
        elif pd.api.types.is_datetime64_any_dtype(frame[column]) and (frame[column].dt.normalize()
                                                                      == frame[column]).all():
            frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    if fmt == "json":
        print(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    elif fmt == "csv":
        for column in frame.columns:  # a list cell reads "A; B" in a spreadsheet, not as Python's repr
            if frame[column].map(lambda v: isinstance(v, list | tuple | np.ndarray)).astype(bool).any():
                frame[column] = frame[column].map(
                    lambda v: "; ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else v)
        write_csv(frame, sys.stdout)  # formula-safe, as the dashboard's downloads
    else:
        print(frame.to_string(index=False) if len(frame) else "(none)")


def progress_printer(label: str):
    def report(fraction: float, message: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{label}: {fraction:4.0%} {message[:60]:<60}", end="", file=sys.stderr, flush=True)
    return report


def cli_actor() -> str:
    """How the audit trail names a command-line user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
