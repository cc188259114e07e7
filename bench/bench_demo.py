"""Demo warehouse build time and memory, from about 100k to 10M events.

Usage: python bench/bench_demo.py [--sizes 1500:120,15000:120,160000:120] [--write BENCHMARKS.md]

Each size (users:days) is built by ``python -m engine demo`` in a fresh process into a fresh file;
the table reports events, seconds, peak resident memory and the warehouse file size.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_import import write_section  # noqa: E402

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from engine.store import warehouse
from engine.ingest.demo import build_demo
users, days, db = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
t = time.perf_counter()
with warehouse.connect(db) as con:
    s = build_demo(con, users=users, days=days, seed=7)
print(json.dumps({{"events": s.events, "seconds": time.perf_counter() - t,
                   "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def build(users: int, days: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="pond-demo-bench-"))
    db = folder / "demo.duckdb"
    command = [sys.executable, "-c", CHILD.format(root=str(ROOT)), str(users), str(days), str(db)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(users=users, days=days, file_mb=db.stat().st_size / 2**20)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1500:120,15000:120,160000:120")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        users, days = map(int, size.split(":"))
        rows.append(build(users, days))
        print(json.dumps(rows[-1]), flush=True)
    lines = ["## Demo warehouse build", "",
             f"Command: `python bench/bench_demo.py --sizes {args.sizes}`  ",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"{time.strftime('%Y-%m-%d')}. One fresh process per size (generate, insert, rollups, one "
             "transaction), DuckDB under the same memory cap as every Pond process (`POND_DUCKDB_MEMORY`, "
             "1 GB by default).", "",
             "| users | days | events | seconds | peak memory | file |", "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['users']:,} | {r['days']} | {r['events']:,} | {r['seconds']:.1f} | "
                     f"{r['peak_mb']:,.0f} MB | {r['file_mb']:,.0f} MB |")
    if args.write:
        write_section(args.write, "\n".join(lines) + "\n", "Demo warehouse build")


if __name__ == "__main__":
    main()
