"""Churn models at every horizon: are they ever worse than ranking by recency, and which cuts did they use?

Usage: python bench/bench_churn_horizons.py [--customers 10000] [--only generated,demo,taobao]

Three histories:

- ``generated``: 18 months of purchases shaped like the CDNow panel (every customer acquired in the
  first 12 weeks, then buying at their own Poisson rate until an exponential lifetime ends:
  Pareto/NBD with CDNow's published parameters), evaluated at a cutoff 272 days after the first
  purchase (nine months before the end) and at the default cutoff, horizons 90, 180 and 270 days;
- ``demo``: the demo warehouse (3,000 users, 150 days), horizons 7 to 90 days;
- ``taobao``: the Taobao UserBehavior sample in $POND_REAL_DATA (nine days), horizons 1 to 7 days.

For each it prints ``evaluate churn`` (recency, logistic, Cox AUC and the cuts), and the Churn page's
at-risk list and propensity backtests (model AUC against recency) or the refusal. Nothing is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.errors import PondError  # noqa: E402
from engine.ingest import import_file  # noqa: E402
from engine.predictions import churn  # noqa: E402
from engine.store import warehouse  # noqa: E402

START = date(2025, 1, 1)


def purchase_history_csv(path: Path, *, customers: int, days: int = 542, acquisition_days: int = 84,
                         seed: int = 0, heterogeneous: bool = True) -> Path:
    """Purchases of a Pareto/NBD population (CDNow's parameters, per day), as an order export.

    ``heterogeneous=False`` gives everyone the same rate and the same lifetime hazard: then the days
    since the last purchase are all there is to know about a customer's chance of buying again.
    """
    rng = np.random.default_rng(seed)
    if heterogeneous:  # Fader, Hardie and Lee (2005): r=0.55, alpha=10.58, s=0.61, beta=11.67 weeks
        rate = rng.gamma(0.55, 1 / (10.58 * 7), customers)
        hazard = rng.gamma(0.61, 1 / (11.67 * 7), customers)
    else:
        rate, hazard = np.full(customers, 1 / 20), np.full(customers, 1 / 150)
    first = rng.integers(0, acquisition_days, customers)
    life = rng.exponential(1 / hazard)
    lines = ["user_id,event_type,event_time,amount,order_id"]
    order = 0
    for c in range(customers):
        end = min(first[c] + life[c], days - 1)
        t = float(first[c])
        while t <= end:
            order += 1
            day = START + timedelta(days=int(t))
            lines.append(f"c{c:05d},purchase,{day} 12:00:00,{rng.integers(10, 80)},o{order}")
            t += rng.exponential(1 / rate[c])
    lines.append(f"clock,view,{START + timedelta(days=days - 1)} 12:00:00,,")  # the data runs to the last day
    path.write_text("\n".join(lines) + "\n")
    return path


def evaluate(con, cutoff: date | None, horizon: int) -> dict:
    import inspect

    try:
        if cutoff is None and inspect.signature(churn.evaluate_churn).parameters["cutoff"].default is not None:
            cutoff = churn.last_day(con) + timedelta(days=1) - timedelta(days=horizon)  # before it had a default
        result = churn.evaluate_churn(con, cutoff, horizon_days=horizon)
    except PondError as exc:
        return {"refused": str(exc)}
    row = {"cutoff": result["cutoff"], "training_cuts": result.get("training_cuts", [
        (date.fromisoformat(result["cutoff"]) - timedelta(days=horizon)).isoformat()])}
    row.update({name: figures["auc"] for name, figures in result["models"].items()})
    return row


def page_backtests(con, horizon: int) -> dict:
    out = {}
    for name, call in (("at-risk", churn.churn_risk), ("propensity", churn.purchase_propensity)):
        try:
            result = call(con, horizon_days=horizon)
        except PondError as exc:
            out[name] = {"refused": str(exc)}
            continue
        backtest = getattr(result, "backtest", None)
        if backtest is None:  # before the backtests existed
            out[name] = {"auc": getattr(result, "auc", None), "concordance": getattr(result, "concordance", None)}
        else:
            out[name] = {"model_auc": backtest.auc, "recency_auc": backtest.baseline_auc,
                         "served": backtest.served, "test_cut": backtest.test_cut.isoformat(),
                         "training_cuts": [c.isoformat() for c in backtest.training_cuts]}
    return out


def run(label: str, path: Path, horizons, cutoff_of=None, pages: bool = True) -> None:
    with warehouse.connect(path) as con:
        for horizon in horizons:
            row = {"history": label, "horizon": horizon, "evaluate (default cutoff)": evaluate(con, None, horizon)}
            if cutoff_of is not None:
                row["evaluate (fixed cutoff)"] = evaluate(con, cutoff_of(con), horizon)
            if pages:
                row.update(page_backtests(con, horizon))
            print(json.dumps(row, ensure_ascii=False), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--only", default="generated,recency-only,demo,taobao")
    parser.add_argument("--no-pages", action="store_true", help="only evaluate churn")
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    folder = Path(tempfile.mkdtemp(prefix="pond-churn-horizons-"))
    # the split: a cutoff 272 days after the first purchase, so that a 270-day horizon's
    # training cut falls two days after it
    nine_months_before_end = lambda con: START + timedelta(days=272)  # noqa: E731
    for name, heterogeneous in (("generated", True), ("recency-only", False)):
        if name in wanted:
            path = folder / f"{name}.duckdb"
            with warehouse.connect(path) as con:
                import_file(con, purchase_history_csv(folder / f"{name}.csv", customers=args.customers,
                                                      heterogeneous=heterogeneous))
            run(name, path, (90, 180, 270), nine_months_before_end, pages=not args.no_pages)
    if "demo" in wanted:
        from engine.ingest.demo import build_demo

        path = folder / "demo.duckdb"
        with warehouse.connect(path) as con:
            build_demo(con, users=3000, days=150, seed=11, end=date(2026, 6, 1))
        run("demo", path, (7, 14, 30, 50, 60, 90), pages=not args.no_pages)
    real = os.environ.get("POND_REAL_DATA")
    if "taobao" in wanted and real:
        path = folder / "taobao.duckdb"
        with warehouse.connect(path) as con:
            import_file(con, Path(real) / "taobao_userbehavior" / "UserBehavior_head84k.csv", timezone="Asia/Shanghai")
        run("taobao", path, (1, 2, 3, 7), pages=not args.no_pages)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
