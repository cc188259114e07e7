"""Import throughput: Pond's importer against DuckDB's own read_csv into a table.

Usage: python bench/bench_import.py [--rows 5000000] [--repeat 3] [--write BENCHMARKS.md]

It writes a Taobao-UserBehavior-shaped CSV (user,item,category,behaviour,unix seconds) with a
fixed seed, then times in fresh processes (so that peak memory is per measurement):

- raw:    DuckDB ``create table t as select * from read_csv(file)`` (types auto-detected)
- text:   the same with every column as text (Pond keeps ids as text: real ids are not all numbers)
- floor:  the narrowest rows of Pond's event table (natural-key id, UTC time, text ids), no checks
- pond:   ``engine.ingest.import_file`` into an empty warehouse (detect, validate, dedup, ledger,
          rollups, one transaction)
- next:   ``import_file`` of a second export of the same size into that warehouse (the weekly
          case: dedup against the events already there)
- page:   ``import_file(..., derive=False)`` into an empty warehouse, as the Upload page runs it (the
          interest tags are derived by a thread of the server after the import returns)

and reports the median seconds, rows per second and peak resident memory of each.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_csv(path: Path, rows: int, seed: int, start: int) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute(
        f"""copy (
            select (hash(i, {seed}, 'u') % 200000)::varchar as user_id,
                   (hash(i, {seed}, 'i') % 1000000)::varchar as item_id,
                   (hash(i, {seed}, 'c') % 5000)::varchar as category_id,
                   ['pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'pv', 'cart', 'fav', 'buy']
                       [((hash(i, {seed}, 'b') % 11) + 1)::bigint] as behavior,
                   ({start} + i * 0.1)::bigint as ts
            from range(?) t(i)
        ) to '{path}' (header false)""",
        [rows],
    )
    con.close()


#: plain DuckDB loads of the same file: as it types it itself, as text, and as the narrowest rows of
#: Pond's event table (id from the natural key, UTC time, ids as text) with no checks at all
RAW = {
    "raw": "select * from read_csv(?)",
    "text": "select * from read_csv(?, all_varchar = true)",
    "floor": "select md5_number(concat_ws('|', column0, column3, column4, column1)) as event_id, "
             "to_timestamp(column4::double) as event_time, column0 as user_id, column3 as event_type, "
             "column1 as item_id, column2 as category from read_csv(?, all_varchar = true)",
}

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from bench_import import RAW
mode, csv, db = sys.argv[1], sys.argv[2], sys.argv[3]
t = time.perf_counter()
if mode in RAW:
    import duckdb
    con = duckdb.connect(db)
    con.execute("create or replace table t as " + RAW[mode], [csv])
    n = con.execute("select count(*) from t").fetchone()[0]
    con.close()
else:
    from engine.store import warehouse
    from engine.ingest import import_file
    with warehouse.connect(db) as con:
        n = import_file(con, csv, derive=mode != "page").rows_imported
seconds = time.perf_counter() - t
print(json.dumps({{"seconds": seconds, "rows": n,
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def measure(mode: str, csv: Path, db: Path) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), mode, str(csv), str(db)],
                          capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent)
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh(db: Path) -> None:
    for suffix in ("", ".wal"):
        Path(str(db) + suffix).unlink(missing_ok=True)


def run(rows: int, repeat: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="pond-bench-"))
    first, second = work / "week1.csv", work / "week2.csv"
    write_csv(first, rows, seed=1, start=1_700_000_000)
    write_csv(second, rows, seed=2, start=1_700_000_000 + rows // 10)
    results: dict[str, list[dict]] = {"raw": [], "text": [], "floor": [], "pond": [], "next": [], "page": []}
    for _ in range(repeat):
        for mode in RAW:
            db = work / f"{mode}.duckdb"
            fresh(db)
            results[mode].append(measure(mode, first, db))
        db = work / "pond.duckdb"
        fresh(db)
        results["pond"].append(measure("pond", first, db))
        results["next"].append(measure("pond", second, db))
        db = work / "page.duckdb"
        fresh(db)
        results["page"].append(measure("page", first, db))
    summary = {}
    for mode, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        summary[mode] = {"seconds": round(seconds, 2), "rows": runs[0]["rows"],
                         "rows_per_second": round(runs[0]["rows"] / seconds),
                         "peak_mb": round(max(r["peak_mb"] for r in runs))}
    summary["ratio_pond_to_raw"] = round(summary["pond"]["seconds"] / summary["raw"]["seconds"], 2)
    summary["ratio_page_to_raw"] = round(summary["page"]["seconds"] / summary["raw"]["seconds"], 2)
    summary["ratio_floor_to_raw"] = round(summary["floor"]["seconds"] / summary["raw"]["seconds"], 2)
    summary["csv_mb"] = round(first.stat().st_size / 2**20)
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    return summary


def markdown(summary: dict, rows: int, repeat: int) -> str:
    lines = [
        "## Import throughput",
        "",
        f"Command: `python bench/bench_import.py --rows {rows} --repeat {repeat}`  ",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}, "
        f"DuckDB {__import__('duckdb').__version__}; {time.strftime('%Y-%m-%d')}  ",
        f"Input: {rows:,}-row Taobao-shaped CSV, {summary['csv_mb']} MB. Median of {repeat} runs, each "
        "in a fresh process; peak = max resident memory of that process.",
        "",
        "| what | seconds | rows/s | peak memory |",
        "|---|---:|---:|---:|",
    ]
    names = {"raw": "DuckDB `read_csv` into a table, types detected (baseline)",
             "text": "DuckDB `read_csv` into a table, every column as text",
             "floor": "DuckDB: the narrowest Pond event rows (id, UTC time, text ids), no checks",
             "pond": "Pond import into an empty warehouse",
             "next": "Pond import of the next export (dedup against the first)",
             "page": "Pond import into an empty warehouse as the Upload page runs it (tags derived after it returns)"}
    for mode, label in names.items():
        m = summary[mode]
        lines.append(f"| {label} | {m['seconds']:.2f} | {m['rows_per_second']:,} | {m['peak_mb']:,} MB |")
    lines += ["", f"Pond / raw DuckDB: **{summary['ratio_pond_to_raw']}×** (target: at most 2×); as the Upload "
              f"page runs it, {summary['ratio_page_to_raw']}×. Writing the "
              f"narrowest rows Pond's event table can hold, with no check at all, already takes "
              f"{summary['ratio_floor_to_raw']}× the baseline.", ""]
    return "\n".join(lines)


def write_section(path: Path, section: str, title: str) -> None:
    """Replace (or append) one '## title' section of BENCHMARKS.md, keeping the others."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    parts = text.split("\n## ")
    kept = [parts[0].rstrip() + "\n"] + ["## " + p.rstrip() + "\n" for p in parts[1:]
                                         if not p.startswith(title)]
    path.write_text("\n".join(kept + [section]), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", type=Path, help="update this BENCHMARKS.md")
    args = parser.parse_args()
    summary = run(args.rows, args.repeat)
    print(json.dumps(summary, indent=2))
    if args.write:
        write_section(args.write, markdown(summary, args.rows, args.repeat), "Import throughput")


if __name__ == "__main__":
    main()
