"""Imports and undo on DuckDB and on ClickHouse (chDB), side by side.

Usage: python bench/bench_clickhouse_writes.py [--rows 1000000] [--write BENCHMARKS.md]

Writes two Taobao-UserBehavior-shaped CSVs of ``--rows`` rows each (bench_import.write_csv, fixed seeds,
the second overlapping the first's users and items but not its events), then, each in a fresh process
(chDB holds one data folder per process), times on an empty warehouse of each backend:

- first:  ``import_file`` of the first file (detect, check, dedupe, ledger, rollups; derive=False, as the
          Upload page runs it)
- next:   ``import_file`` of the second (dedupe against the events stored there)
- again:  the first file once more with one new line: every other row a stored duplicate
- undo:   ``undo_upload`` of the second upload
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import write_csv, write_section  # noqa: E402

CHILD = r"""
import json, shutil, sys, time
sys.path.insert(0, {root!r})
from engine import ingest
from engine.store import clickhouse, warehouse

backend, folder, first, second = sys.argv[1:5]
figures = {{}}
if backend == "clickhouse":
    con = clickhouse.ClickHouseConnection("chdb:" + folder + "/ch")
    with warehouse.schema_connection() as schema:
        clickhouse.init(con, schema)
    close = con.close
else:
    opened = warehouse.connect(folder + "/w.duckdb")
    con = opened.__enter__()
    close = lambda: opened.__exit__(None, None, None)
again = folder + "/again.csv"
shutil.copy(first, again)
with open(again, "a") as fh:  # other bytes than the first file's (not refused by its fingerprint)
    fh.write("999999,1,1,pv,1600000000\n")
for step, path in (("first", first), ("next", second), ("again", again)):
    started = time.perf_counter()
    result = ingest.import_file(con, path, timezone="Asia/Shanghai", derive=False)
    figures[step] = {{"s": time.perf_counter() - started, "imported": result.rows_imported,
                      "duplicates": result.rows_duplicate, "upload": result.upload_id}}
started = time.perf_counter()
done = ingest.undo_upload(con, figures["next"]["upload"], derive=False)
figures["undo"] = {{"s": time.perf_counter() - started, "removed": done.rows_removed}}
figures["events"] = con.execute("select count(*) from events").fetchone()[0]
close()
print(json.dumps(figures))
"""


def run(rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="pond-bench-chw-") as temp:
        first, second = Path(temp) / "first.csv", Path(temp) / "second.csv"
        write_csv(first, rows, seed=1, start=1_700_000_000)
        write_csv(second, rows, seed=2, start=1_700_000_000 + rows // 10 + 3600)
        out = {}
        for backend in ("duckdb", "clickhouse"):
            folder = Path(temp) / backend
            folder.mkdir()
            env = {**os.environ, "POND_KEY_FILE": str(folder / "pond.key")}
            done = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), backend, str(folder),
                                   str(first), str(second)], capture_output=True, text=True, env=env, check=False)
            if done.returncode:
                raise SystemExit(done.stderr[-3000:])
            out[backend] = json.loads(done.stdout.strip().splitlines()[-1])
            print(backend, json.dumps(out[backend]), flush=True)
    return out


def markdown(figures: dict, rows: int) -> str:
    import chdb
    import duckdb

    lines = ["## DuckDB and ClickHouse (chDB) side by side: imports and undo", "",
             f"Command: `python bench/bench_clickhouse_writes.py --rows {rows}`  ",
             f"Two Taobao-shaped CSVs of {rows:,} rows each (the second with other events of the same users and "
             f"items); an empty warehouse of each backend. Machine: {platform.machine()}, {os.cpu_count()} cores; "
             f"DuckDB {duckdb.__version__}, chDB {chdb.__version__}; {time.strftime('%Y-%m-%d')}. On ClickHouse the "
             "file is read, checked and deduplicated in a scratch DuckDB, then written in steps "
             "(engine/store/chwrites.py).", "",
             "| step | DuckDB s | chDB s | DuckDB rows/s | chDB rows/s | rows added (both) | duplicates (both) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for step, label in (("first", "import into an empty warehouse"), ("next", "import a second file"),
                        ("again", "the first file again, plus one new line")):
        d, c = figures["duckdb"][step], figures["clickhouse"][step]
        same = d["imported"] == c["imported"] and d["duplicates"] == c["duplicates"]
        added = f"{d['imported']:,}" if same else f"{d['imported']:,} / {c['imported']:,}"
        dupes = f"{d['duplicates']:,}" if same else f"{d['duplicates']:,} / {c['duplicates']:,}"
        lines.append(f"| {label} | {d['s']:.1f} | {c['s']:.1f} | {rows / d['s']:,.0f} | {rows / c['s']:,.0f} | "
                     f"{added} | {dupes} |")
    d, c = figures["duckdb"]["undo"], figures["clickhouse"]["undo"]
    lines.append(f"| undo the second upload | {d['s']:.1f} | {c['s']:.1f} | | | "
                 f"{d['removed']:,} / {c['removed']:,} removed | |")
    lines += ["", f"Events left: DuckDB {figures['duckdb']['events']:,}, chDB {figures['clickhouse']['events']:,}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    figures = run(args.rows)
    text = markdown(figures, args.rows)
    print(text)
    if args.write:
        write_section(args.write, text, "DuckDB and ClickHouse (chDB) side by side: imports and undo")


if __name__ == "__main__":
    main()
