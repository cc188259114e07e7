"""Where an import's time goes: each engine step of ``import_file``, timed in-process.

Usage: python bench/bench_import_steps.py [--rows 5000000]
       python bench/bench_import_steps.py --weekly bench/out/demo-125000-120.duckdb [--rows 500000]

Writes the same Taobao-shaped CSVs as bench_import.py (two exports over overlapping days), imports
the first into an empty warehouse and then the second into the same one, and prints the seconds of
each step of each import (the functions ``engine.ingest`` calls, wrapped with a timer; the rest of
the total is the transaction's commit and the small bookkeeping queries).

With ``--weekly WAREHOUSE`` it times the weekly case instead, on scratch copies of that warehouse: a
file of ``--rows`` rows dated in the warehouse's last week, imported and then undone, each once as
the command line runs it (the interest tags derived before it returns) and once as the Upload page
does (``derive=False``; a thread of the server derives them afterwards).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: the steps as BENCHMARKS.md names them, and the engine.ingest functions (or named queries) in each
STEPS = {
    "read, type and check every row": ("build_canonical",),
    "duplicate checks and inserting the new events": ("_insert_events",),
    "items and users": ("ingest_upsert_items", "ingest_update_items", "ingest_insert_items",
                        "refresh_user_activity", "ingest_upsert_user_attributes",
                        "ingest_update_user_attributes"),
    "rollups for the touched days": ("refresh_rollups",),
    "interest tags, after the commit": ("refresh_after_write",),
}
_WRAPPED = ("build_canonical", "_insert_events", "refresh_rollups", "refresh_user_activity",
            "refresh_after_write", "execute_query")


def timed_import(db: Path, csv: Path) -> dict[str, float]:
    import engine.ingest as ingest
    from engine.store import warehouse

    seconds: dict[str, float] = {}
    originals = {name: getattr(ingest, name) for name in _WRAPPED}

    def wrap(name, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                key = args[1] if name == "execute_query" else name
                seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started
        return timed

    for name, function in originals.items():
        setattr(ingest, name, wrap(name, function))
    try:
        with warehouse.connect(db) as con:
            started = time.perf_counter()
            ingest.import_file(con, csv)
            total = time.perf_counter() - started
    finally:
        for name, function in originals.items():
            setattr(ingest, name, function)
    steps = {label: sum(seconds.get(n, 0.0) for n in names) for label, names in STEPS.items()}
    steps["whole import"] = total
    return steps


def weekly(source: Path, rows: int) -> None:
    import shutil

    import duckdb
    from bench_import import write_csv

    from engine.ingest import import_file, undo_upload
    from engine.store import warehouse

    with duckdb.connect(str(source), read_only=True) as con:
        last = con.execute("select epoch(max(event_time))::bigint from events").fetchone()[0]
    print("| as run by | import, s | undo, s |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="pond-weekly-") as work:
        csv, db = Path(work) / "weekly.csv", Path(work) / "weekly.duckdb"
        write_csv(csv, rows, seed=7, start=last - 7 * 86400)
        for derive, label in ((True, "the command line (tags before it returns)"),
                              (False, "the Upload page (tags in a server thread)")):
            shutil.copy(source, db)
            with warehouse.connect(db) as con:
                started = time.perf_counter()
                upload = import_file(con, csv, derive=derive).upload_id
                imported = time.perf_counter() - started
                started = time.perf_counter()
                undo_upload(con, upload, derive=derive)
                undone = time.perf_counter() - started
            print(f"| {label} | {imported:.2f} | {undone:.2f} |")


def main() -> None:
    from bench_import import write_csv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows per file (5,000,000; 500,000 with --weekly)")
    parser.add_argument("--weekly", type=Path, help="time a weekly import and undo on copies of this warehouse")
    args = parser.parse_args()
    if args.weekly:
        weekly(args.weekly, args.rows or 500_000)
        return
    args.rows = args.rows or 5_000_000
    with tempfile.TemporaryDirectory(prefix="pond-steps-") as work:
        first, second, db = Path(work) / "week1.csv", Path(work) / "week2.csv", Path(work) / "steps.duckdb"
        write_csv(first, args.rows, seed=1, start=1_700_000_000)
        write_csv(second, args.rows, seed=2, start=1_700_000_000 + args.rows // 10)
        results = [timed_import(db, first), timed_import(db, second)]
    print("| step | first, s | second, same days, s |")
    print("|---|---:|---:|")
    for label in results[0]:
        print(f"| {label} | {results[0][label]:.2f} | {results[1][label]:.2f} |")


if __name__ == "__main__":
    main()
