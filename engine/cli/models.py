"""Models fitted from the command line: train, evaluate."""

from __future__ import annotations

import json
import sys

import pandas as pd

from engine.cli.common import date_arg, emit, progress_printer
from engine.store import warehouse


def register(sub) -> None:
    """Add this group's commands to the command line's sub-parsers."""
    p = sub.add_parser("train", help="train a model and save it beside the warehouse")
    p.add_argument("model", choices=("recs",), help="recs: the recommender (evaluated first, then fitted on "
                   "all the data)")
    p.add_argument("--holdout-days", type=int, help="test period of the evaluation and validation period of "
                   "the blend (default 30 days, or a quarter of a shorter history)")
    p.add_argument("--k", type=int, default=10, help="list length the evaluation scores (default 10)")
    p.add_argument("--no-evaluate", action="store_true", help="skip the offline evaluation")
    p.add_argument("--format", default="text", choices=("text", "json"))
    p.add_argument("--progress-lines", action="store_true",
                   help="print progress as JSON lines on stdout (how the dashboard follows a training)")

    p = sub.add_parser("evaluate", help="offline evaluation of a model against baselines")
    p.add_argument("model", choices=("recs", "churn"), help="recs: recommenders on a temporal split; churn: "
                   "churn models at --cutoff")
    p.add_argument("--cutoff", type=date_arg, help="churn: features before this day, churn = no purchase in the "
                   "horizon from it (default: the latest day that leaves a full horizon)")
    p.add_argument("--horizon-days", type=int, default=30, help="churn: days after the cutoff (default 30)")
    p.add_argument("--holdout-days", type=int, default=30, help="the last N days are the test period")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--protocol", default="new", choices=("new", "repeat"),
                   help="new: only items the user never touched count; repeat: everything they took")
    p.add_argument("--max-users", type=int, default=5000, help="evaluate a seeded sample of this many users")
    p.add_argument("--format", default="json", choices=("json", "csv"))
    for name, (handler, opens_warehouse) in {
        "train": (cmd_train, False),
        "evaluate": (cmd_evaluate, False),
    }.items():
        sub.choices[name].set_defaults(handler=handler, opens_warehouse=opens_warehouse)


def cmd_train(args) -> int:
    from engine.predictions.recommend import train

    path = args.warehouse or warehouse.default_warehouse_path()

    def progress_line(fraction: float, message: str) -> None:
        print(json.dumps({"fraction": round(fraction, 4), "message": message}), flush=True)

    done = train(path, holdout_days=args.holdout_days, k=args.k, evaluate=not args.no_evaluate,
                 progress=progress_line if args.progress_lines else progress_printer("train recs"))
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if args.format == "json":
        print(json.dumps({"data_version": done.data_version, "users": done.users, "items": done.items,
                          "interactions": done.interactions, "seconds": done.seconds, "path": str(done.path),
                          "evaluation": done.evaluation}, ensure_ascii=False))
        return 0
    print(f"trained the recommender on {done.interactions:,} interactions ({done.users:,} users, "
          f"{done.items:,} items, data version {done.data_version}) in {done.seconds:.1f} s -> {done.path}")
    if "error" in done.evaluation:
        print(f"  evaluation skipped: {done.evaluation['error']}")
    for protocol, result in done.evaluation.items():
        if protocol == "error":
            continue
        print(f"  protocol {protocol}, {result['users_evaluated']:,} users, @{result['k']}:")
        for name, figures in result["models"].items():
            print(f"    {name:<11} ndcg {figures['ndcg']:.4f}  precision {figures['precision']:.4f}  "
                  f"recall {figures['recall']:.4f}  hit rate {figures['hit_rate']:.3f}  "
                  f"coverage {figures['coverage']:.3f}")
    return 0


def _emit_evaluation(result: dict, fmt: str) -> int:
    """An evaluation as the whole JSON document, or its per-model figures as CSV."""
    if fmt == "json":
        print(json.dumps(result, ensure_ascii=False))
    else:
        emit(pd.DataFrame.from_dict(result["models"], orient="index").rename_axis("model").reset_index(), "csv")
    return 0


def cmd_evaluate(args) -> int:
    from engine.predictions.recommend import evaluate_models, load_interactions, load_items

    if args.model == "churn":
        from engine.predictions.churn import evaluate_churn

        with warehouse.connect(args.warehouse, create=False) as con:
            result = evaluate_churn(con, args.cutoff, horizon_days=args.horizon_days)
        if args.format == "csv":  # every row names the cuts it was measured on
            table = pd.DataFrame.from_dict(result["models"], orient="index").rename_axis("model").reset_index()
            table["cutoff"] = result["cutoff"]
            table["training_cuts"] = " ".join(result["training_cuts"])
            table["beats_recency"] = table["model"].map(result["beats_recency"])
            emit(table, "csv")
        else:
            print(json.dumps(result, ensure_ascii=False))
        for warning in result["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    with warehouse.connect(args.warehouse, create=False) as con:
        X = load_interactions(con)
        items = load_items(con, X.items)
    result = evaluate_models(X, items, holdout_days=args.holdout_days, k=args.k, protocols=(args.protocol,),
                             max_users=args.max_users, progress=progress_printer("evaluate recs"))[args.protocol]
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return _emit_evaluation(result, args.format)
