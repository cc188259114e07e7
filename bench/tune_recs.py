"""Tune the recommenders' defaults on a validation split that never sees the test period.

Usage: python bench/tune_recs.py [--warehouse PATH] [--holdout-days 30] [--label demo] [--write BENCHMARKS.md]

Without --warehouse it builds the dashboard's first-start demo (6,000 users, 150 days) in
bench/out/. The last ``holdout-days`` (the test period of ``evaluate recs``) are dropped first;
each candidate setting is then scored on the ``holdout-days`` before them, with the same
temporal protocol. The defaults in engine/predictions/recommend/models.py are the winners printed here.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import write_section  # noqa: E402

from engine.ingest.demo import build_demo  # noqa: E402
from engine.predictions.recommend import (  # noqa: E402
    ALS,
    BuyAgain,
    ContentBased,
    Hybrid,
    ItemKNN,
    Popularity,
    evaluate_models,
    load_interactions,
    load_items,
)
from engine.store import warehouse  # noqa: E402

GRID = {
    "popularity": [Popularity(window_days=w) for w in (7, 14, 30, 60)],
    "buy_again": [BuyAgain(half_life_days=h) for h in (7, 14, 30, 60, 1000)],
    "als": [ALS(factors=f, regularization=r, alpha=a)
            for f, r, a in itertools.product((16, 32, 64, 128), (0.05, 0.2, 1.0), (2.0, 5.0, 10.0))],
    "item_knn": [ItemKNN(neighbours=k, method=m) for k, m in itertools.product((10, 20, 50, 100, 200),
                                                                             ("bm25", "cosine"))],
    "content": [ContentBased(half_life_days=h) for h in (14, 60, 1000)],
}


def demo_path() -> Path:
    path = ROOT / "bench" / "out" / "tune-demo-6000-150.duckdb"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        with warehouse.connect(path) as con:
            build_demo(con, users=6000, days=150, seed=7, end=date(2026, 6, 1))
    return path


def describe(model) -> str:
    params = model.get_params(deep=False)
    return ", ".join(f"{k}={v}" for k, v in params.items() if k not in ("random_state", "num_threads"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path)
    parser.add_argument("--holdout-days", type=int, default=30)
    parser.add_argument("--label", default="demo", help="names the BENCHMARKS.md section (one per data set)")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    path = args.warehouse or demo_path()
    with warehouse.connect(path) as con:
        X = load_interactions(con)
        items = load_items(con, X.items)
    development = X.window(end=X.next_day - args.holdout_days)  # the test period is never looked at
    rows, best = [], {}
    started = time.perf_counter()
    for family, candidates in GRID.items():
        scored = []
        for model in candidates:
            result = evaluate_models(development, items, holdout_days=args.holdout_days, models={family: model})
            ndcg = {p: result[p]["models"][family]["ndcg"] for p in result}
            scored.append((ndcg["new"] + ndcg["repeat"], model, ndcg))
            print(f"{family:<11} {describe(model):<60} new {ndcg['new']:.4f} repeat {ndcg['repeat']:.4f}",
                  flush=True)
        scored.sort(key=lambda s: -s[0])
        best[family] = scored[0][1]
        rows.append((family, describe(scored[0][1]), scored[0][2], describe(candidates[0]), len(candidates)))
    hybrids = [Hybrid(als=best["als"], knn=best["item_knn"], content=best["content"], buy_again=best["buy_again"],
                      popularity=best["popularity"], validation_days=args.holdout_days, candidates=c, C=C)
               for c, C in itertools.product((25, 50, 100), (0.1, 1.0, 10.0))]
    scored = []
    for model in hybrids:
        result = evaluate_models(development, items, holdout_days=args.holdout_days, models={"hybrid": model})
        ndcg = {p: result[p]["models"]["hybrid"]["ndcg"] for p in result}
        scored.append((ndcg["new"] + ndcg["repeat"], model, ndcg))
        print(f"hybrid      candidates={model.candidates}, C={model.C}  new {ndcg['new']:.4f} "
              f"repeat {ndcg['repeat']:.4f}", flush=True)
    scored.sort(key=lambda s: -s[0])
    winner = scored[0][1]
    rows.append(("hybrid", f"candidates={winner.candidates}, C={winner.C}", scored[0][2], "", len(hybrids)))
    minutes = (time.perf_counter() - started) / 60
    title = f"Recommender defaults tuned on a validation split: {args.label}"
    lines = [f"## {title}", "",
             f"`python bench/tune_recs.py{' --warehouse ' + str(args.warehouse) if args.warehouse else ''} "
             f"--holdout-days {args.holdout_days} --label {args.label} --write BENCHMARKS.md` ({minutes:.1f} min). "
             "Data: "
             f"{X.n_users:,} users, {X.n_items:,} items, {len(X):,} interactions. The last "
             f"{args.holdout_days} days (the test period of `evaluate recs`) are dropped; every setting is "
             f"scored on the {args.holdout_days} days before them, by NDCG@10 summed over both protocols.", "",
             "| model | best setting | NDCG@10 new | NDCG@10 repeat | settings tried |", "|---|---|---:|---:|---:|"]
    for family, setting, ndcg, _, tried in rows:
        lines.append(f"| {family} | {setting} | {ndcg['new']:.4f} | {ndcg['repeat']:.4f} | {tried} |")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section(args.write, section, title)


if __name__ == "__main__":
    main()
