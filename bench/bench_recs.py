"""Recommender at scale: fit times, serving latency and peak memory on a ~10M-event demo warehouse.

Usage: python bench/bench_recs.py [--users 125000] [--days 120] [--write BENCHMARKS.md]

Reuses the demo warehouse of bench_queries.py (bench/out/), then measures, in this order:
reading the interactions, each model's fit on all of them, one user's top-10 from the saved
model (median and 95th percentile over 500 users), a 10,000-user push list, and the whole
``train`` (evaluation of six models in both protocols, the final fit and saving). Peak memory is
the process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_import import write_section  # noqa: E402
from bench_queries import warehouse_for  # noqa: E402

from engine.predictions.recommend import (  # noqa: E402
    ALS,
    BuyAgain,
    ContentBased,
    Hybrid,
    ItemKNN,
    Popularity,
    Recommender,
    load_interactions,
    load_items,
    train,
)
from engine.store import warehouse  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, round(time.perf_counter() - started, 2)


def run(users: int, days: int) -> dict:
    path = warehouse_for(users, days)
    with warehouse.connect(path) as con:
        events = con.execute("select count(*) from events").fetchone()[0]
        (X, items), load_s = timed(lambda: (lambda X: (X, load_items(con, X.items)))(load_interactions(con)))
    out = {"events": events, "users": X.n_users, "items": X.n_items, "interactions": len(X),
           "read_seconds": load_s, "fit_seconds": {}}
    for name, model in {"popularity": Popularity(), "buy_again": BuyAgain(), "content": ContentBased(),
                        "item_knn": ItemKNN(), "als": ALS(), "hybrid": Hybrid()}.items():
        _, out["fit_seconds"][name] = timed(lambda m=model: m.fit(X, items=items))
        print(name, out["fit_seconds"][name], flush=True)
    out["peak_mb_after_fits"] = round(peak_mb())
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "pond.duckdb"
        os.link(path, copy) if os.stat(path).st_dev == os.stat(folder).st_dev else copy.write_bytes(path.read_bytes())
        done, out["train_seconds"] = timed(lambda: train(copy))
        out["evaluation"] = {p: {m: f["ndcg"] for m, f in r["models"].items()} for p, r in done.evaluation.items()}
        out["users_evaluated"] = {p: r["users_evaluated"] for p, r in done.evaluation.items()}
        model, out["load_seconds"] = timed(lambda: Recommender.load(copy))
        out["model_mb"] = round(sum(f.stat().st_size for f in Path(folder).glob("pond.duckdb.recs*")) / 2**20)
    rng = np.random.default_rng(0)
    active = np.flatnonzero(np.diff(model.model.seen_.indptr) > 0)
    sample = model.users[rng.choice(active, 500, replace=False)]
    model.recommend(sample[0])  # first call pays for lazy imports
    latencies = []
    for user in sample:
        started = time.perf_counter()
        model.recommend(user, 10)
        latencies.append((time.perf_counter() - started) * 1000)
    out["serve_ms"] = {"median": round(statistics.median(latencies), 2),
                       "p95": round(float(np.percentile(latencies, 95)), 2)}
    push_users = model.users[rng.choice(active, 10_000, replace=False)]
    _, out["push_10k_seconds"] = timed(lambda: model.recommend_many(list(push_users), 10))
    out["peak_mb"] = round(peak_mb())
    return out


def markdown(r: dict, users: int, days: int) -> str:
    fits = " · ".join(f"{k} {v:.1f} s" for k, v in r["fit_seconds"].items())
    lines = [
        "## Recommender at 10M events",
        "",
        f"`python bench/bench_recs.py --users {users} --days {days} --write BENCHMARKS.md` on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        f"- Data: {r['events']:,} events; {r['interactions']:,} user–item–day interactions of "
        f"{r['users']:,} users with {r['items']:,} items, read in {r['read_seconds']:.1f} s.",
        f"- Fit on all interactions: {fits}. The hybrid fits every component twice (once before its "
        "validation period to learn the blend, once on everything).",
        f"- `train recs` as the dashboard runs it (evaluation of six models in both protocols on "
        f"{r['users_evaluated'].get('new', 0):,} / {r['users_evaluated'].get('repeat', 0):,} sampled users, "
        f"final fit, save): **{r['train_seconds']:.0f} s**, in the background. Saved model "
        f"{r['model_mb']} MB, loaded in {r['load_seconds']:.2f} s.",
        f"- One user's top 10 with reasons from the loaded model: **median {r['serve_ms']['median']:.1f} ms**, "
        f"p95 {r['serve_ms']['p95']:.1f} ms (target: well under 10 ms). A 10,000-user push list: "
        f"{r['push_10k_seconds']:.1f} s.",
        f"- Peak memory of the process: {r['peak_mb']:,} MB ({r['peak_mb_after_fits']:,} MB after the fits).",
        "",
        "| protocol | " + " | ".join(r["evaluation"]["new"]) + " |",
        "|---|" + "---:|" * len(r["evaluation"]["new"]),
    ]
    for protocol, figures in r["evaluation"].items():
        lines.append(f"| NDCG@10 {protocol} | " + " | ".join(f"{v:.4f}" for v in figures.values()) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=125_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--write", type=Path, help="update this BENCHMARKS.md")
    args = parser.parse_args()
    result = run(args.users, args.days)
    print(json.dumps(result, indent=2))
    if args.write:
        write_section(args.write, markdown(result, args.users, args.days), "Recommender at 10M events")


if __name__ == "__main__":
    main()
