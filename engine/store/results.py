"""Results kept per warehouse version beside the warehouse: tables as Parquet, the rest as JSON.

Some analyses take seconds at 10M events (the churn models) and answer the same for every reader
of one warehouse version. They are computed once per version and stored in the folder
``<warehouse>.results/``; a later reader, another dashboard process or one started after a
restart, loads them in milliseconds. Files of older versions are removed when a newer result of
the same name is stored. Nothing is pickled: a stored file can only ever hold data.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd


def warehouse_file(con) -> Path | None:
    """The file a connection's database lives in (None for an in-memory one: nothing is stored)."""
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    return Path(row[0]) if row and row[0] else None


def results_folder(warehouse_path: str | Path) -> Path:
    path = Path(warehouse_path)
    return path.with_name(path.name + ".results")


def _paths(warehouse_path: str | Path, name: str, version: int) -> tuple[Path, str]:
    """The JSON file of a result, and the prefix of its Parquet files."""
    stem = f"{name}-v{int(version)}"
    return results_folder(warehouse_path) / f"{stem}.json", stem


def load_result(warehouse_path: str | Path, name: str, version: int, stamp: str
                ) -> tuple[dict, dict[str, pd.DataFrame]] | None:
    """The values and tables stored for ``name`` at ``version``, or None when there are none.

    ``stamp`` describes the data the result was computed from (see :func:`data_stamp`): a warehouse
    rebuilt or restored in the same place starts its versions again, and its results must not be
    taken for the old ones.
    """
    described, stem = _paths(warehouse_path, name, version)
    try:
        payload = json.loads(described.read_text(encoding="utf-8"))
        if payload.get("stamp") != stamp:
            return None
        frames = {table: pd.read_parquet(described.with_name(f"{stem}.{table}.parquet"))
                  for table in payload["tables"]}
    except (OSError, ValueError, KeyError):  # absent, half-removed or unreadable: compute again
        return None
    return payload["values"], frames


def data_stamp(con) -> str:
    """What the events look like, cheaply: their number and time span (read from table statistics)."""
    count, first, last = con.execute("select count(*), min(event_time), max(event_time) from events").fetchone()
    return f"{count}|{first}|{last}"


def save_result(warehouse_path: str | Path, name: str, version: int, values: dict,
                frames: dict[str, pd.DataFrame], stamp: str) -> None:
    """Store a result; the JSON file is written last, so a reader never sees half of one."""
    described, stem = _paths(warehouse_path, name, version)
    folder = described.parent
    folder.mkdir(parents=True, exist_ok=True)
    for table, frame in frames.items():
        _replace(folder / f"{stem}.{table}.parquet", lambda path, f=frame: f.to_parquet(path, index=False))
    text = json.dumps({"stamp": stamp, "values": values, "tables": list(frames)}, ensure_ascii=False)
    _replace(described, lambda path: Path(path).write_text(text, encoding="utf-8"))
    for old in folder.glob(f"{name}-v*"):
        if not old.name.startswith(f"{stem}.") and old.name.split(".")[0].rsplit("-v", 1)[0] == name:
            old.unlink(missing_ok=True)


def _replace(target: Path, write) -> None:
    """Write through a temporary file in the same folder and rename it over ``target``."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".writing-")
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
