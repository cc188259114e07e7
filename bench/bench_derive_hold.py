"""How long the dashboard's background derivation holds the warehouse file, before and after it gave
way (issue 17): one opening for everything, against the tags' read and write openings and the
rollup copy for the churn models.

    python -m bench.bench_derive_hold [--users 6000 --days 150]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from engine.customers import tags
from engine.ingest.demo import build_demo
from engine.predictions import churn
from engine.store import warehouse

CHURN_RESULTS = ("stored_churn_risk", "stored_purchase_propensity", "stored_churn_evaluation")


def fresh(template: Path, folder: Path, name: str) -> Path:
    db = folder / name
    shutil.copyfile(template, db)
    with warehouse.connect(db) as con:
        con.execute("update meta set value = '-1' where key = 'tags_version'")
    return db


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--days", type=int, default=150)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pond-bench-hold-"))
    template = folder / "template.duckdb"
    with warehouse.connect(template) as con:
        build_demo(con, users=args.users, days=args.days, seed=1, end=date(2026, 3, 1))
        events = con.execute("select count(*) from events").fetchone()[0]

    # before: one opening for the tags and the three churn results
    db = fresh(template, folder, "before.duckdb")
    started = time.monotonic()
    with warehouse.connect(db) as con:
        tags.ensure_interest_tags(con)
        for name in CHURN_RESULTS:
            getattr(churn, name)(con)
    before = time.monotonic() - started

    # after: what ui.derive.derive_in_background does now, timing every opening
    db = fresh(template, folder, "after.duckdb")
    holds: list[float] = []
    real_connect = warehouse.connect

    @contextmanager
    def timed(*a, **k):
        opened = time.monotonic()
        with real_connect(*a, **k) as con:
            yield con
        holds.append(time.monotonic() - opened)

    warehouse.connect = timed
    started = time.monotonic()
    try:
        tags.derive_interest_tags_in_turns(db)
        with warehouse.connect(db) as con:
            keeping, snapshot = churn.Keeping.of(con), churn.rollup_snapshot(con)
        for name in CHURN_RESULTS:
            getattr(churn, name)(snapshot, keeping=keeping)
    finally:
        warehouse.connect = real_connect
    after = time.monotonic() - started
    print(f"{events:,} events: before, the file was held {before:.1f} s in one opening; after, "
          f"{len(holds)} openings of {', '.join(f'{h:.2f}' for h in holds)} s (longest {max(holds):.2f} s) "
          f"in {after:.1f} s of derivation")
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
