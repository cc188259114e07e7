"""Command line: ``python -m engine [--warehouse PATH] COMMAND ...``.

The warehouse is ``--warehouse PATH``, else ``$POND_WAREHOUSE``, else ``data/pond.duckdb``.
Exit status: 0 on success, 1 when Pond refused something (one line on stderr says why), 2 for
a malformed command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from engine import warehouse
from engine.errors import PondError, WarehouseLockedError
from engine.export import write_csv


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from exc


def _mapping(text: str) -> tuple[str, str]:
    field, sep, column = text.partition("=")
    if not sep or not field:
        raise argparse.ArgumentTypeError(f"{text!r} is not FIELD=COLUMN (e.g. user_id=会员ID)")
    return field.strip(), column.strip()


def build_parser() -> argparse.ArgumentParser:
    from engine.ingest import FORMAT_NAMES

    parser = argparse.ArgumentParser(prog="python -m engine", description="Pond from the command line.")
    parser.add_argument("--warehouse", type=Path, help="warehouse file (default: $POND_WAREHOUSE or "
                        "data/pond.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="import export files (CSV, TSV, xlsx, Parquet, JSON lines)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--format", default="auto", choices=("auto", *FORMAT_NAMES))
    p.add_argument("--tz", help="IANA time zone of naive source times, e.g. Asia/Shanghai (default: the "
                   "warehouse's business time zone, as on the Upload page; UTC for a new warehouse)")
    p.add_argument("--map", type=_mapping, action="append", default=[], metavar="FIELD=COLUMN",
                   help="override the detected column for a field (repeatable); COLUMN empty unmaps")
    p.add_argument("--event-type", help="import every row as this event type (e.g. purchase)")
    p.add_argument("--date-order", choices=("month", "day"),
                   help="read slash dates such as 01/02/2024 as month/day/year or day/month/year")
    p.add_argument("--add-to-demo", action="store_true",
                   help="when the warehouse holds only the demo, add to it (default: the first import replaces it)")
    p.add_argument("--keep-personal", action="store_true",
                   help="do not pseudonymise columns that look like phone numbers, e-mails or WeChat ids")

    p = sub.add_parser("inspect", help="show how a file would be imported, without importing it; exit status 1 "
                       "when the import would refuse it")
    p.add_argument("file", type=Path)
    p.add_argument("--format", default="auto", choices=("auto", *FORMAT_NAMES))
    p.add_argument("--tz", help="as for ingest")
    p.add_argument("--map", type=_mapping, action="append", default=[], metavar="FIELD=COLUMN",
                   help="as for ingest: see how the file reads with this mapping")
    p.add_argument("--event-type", help="as for ingest")
    p.add_argument("--date-order", choices=("month", "day"), help="as for ingest")

    p = sub.add_parser("mappings", help="mappings remembered per header (from --map/--event-type or the "
                       "Upload page): list them, or forget one")
    p.add_argument("action", choices=("list", "forget"))
    p.add_argument("signature", nargs="?", help="forget: the mapping's signature (or its start), from `mappings list`")
    p.add_argument("--format", default="table", choices=("table", "csv", "json"))

    p = sub.add_parser("uploads", help="list the upload history")
    p.add_argument("--format", default="table", choices=("table", "csv", "json"))

    p = sub.add_parser("undo", help="remove the events one upload added")
    p.add_argument("upload_id", type=int, metavar="UPLOAD_ID")

    p = sub.add_parser("rejects", help="print an upload's rejected rows with their reasons (CSV)")
    p.add_argument("upload_id", type=int, metavar="UPLOAD_ID")

    p = sub.add_parser("demo", help="build the demo warehouse")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--days", type=int, default=120)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--end", type=_date, help="day after the last demo day (default: today, UTC)")
    p.add_argument("--replace", action="store_true", help="wipe a warehouse that already holds events")

    p = sub.add_parser("timezone", help="show or set the business time zone (calendar of the charts)")
    p.add_argument("zone", nargs="?")

    p = sub.add_parser("summary", help="the warehouse at a glance (JSON)")

    p = sub.add_parser("users", help="dashboard accounts: add, list, change role, remove")
    p.add_argument("action", choices=("add", "list", "role", "remove"))
    p.add_argument("name", nargs="?")
    p.add_argument("--role", choices=("viewer", "marketer", "admin"), help="add, role: the account's role")
    p.add_argument("--password-stdin", action="store_true",
                   help="add: read the password from standard input (else it is asked for twice)")

    p = sub.add_parser("audit", help="the audit trail, newest first")
    p.add_argument("--user", help="only this actor")
    p.add_argument("--action", help="only this action (import, export, sign_in_failed ...)")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--format", default="table", choices=("table", "csv", "json"))

    p = sub.add_parser("backup", help="write a consistent snapshot of the warehouse (safe while it is in use)")
    p.add_argument("dest", type=Path, metavar="DEST.duckdb")

    p = sub.add_parser("restore", help="replace the warehouse's data with a backup's, after checking it")
    p.add_argument("src", type=Path, metavar="SRC.duckdb")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

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
    p.add_argument("--cutoff", type=_date, help="churn: features before this day, churn = no purchase in the "
                   "horizon from it (default: the latest day that leaves a full horizon)")
    p.add_argument("--horizon-days", type=int, default=30, help="churn: days after the cutoff (default 30)")
    p.add_argument("--holdout-days", type=int, default=30, help="the last N days are the test period")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--protocol", default="new", choices=("new", "repeat"),
                   help="new: only items the user never touched count; repeat: everything they took")
    p.add_argument("--max-users", type=int, default=5000, help="evaluate a seeded sample of this many users")
    p.add_argument("--format", default="json", choices=("json", "csv"))

    p = sub.add_parser("query", help="print an analysis as CSV or JSON")
    p.add_argument("analysis", choices=("kpis", "daily-events", "daily-activity", "active-users", "channels",
                                        "retention", "funnel", "ctr", "communities", "lifecycle", "stickiness", "rfm",
                                        "segment", "segments", "experiment", "experiments", "campaigns",
                                        "influencers", "recs", "similar-items", "growth", "churn",
                                        "churn-risk", "propensity", "trends", "paths"))
    p.add_argument("--from", dest="start", type=_date, help="first business day (default: 30 days "
                   "before --to)")
    p.add_argument("--to", dest="end", type=_date, help="last business day (default: the last day "
                   "with events)")
    p.add_argument("--channel", help="kpis/daily: events of this channel; retention: users acquired "
                   "through it")
    p.add_argument("--format", default="csv", choices=("csv", "json"))
    p.add_argument("--where", action="append", default=[], metavar="FILTER",
                   help='a property filter, e.g. "city = 上海", "channel in douyin,wechat", "amount between 100,500" '
                        f"(repeatable; all must hold); for {', '.join(FILTERED_ANALYSES)}")
    retention = p.add_argument_group("retention")
    retention.add_argument("--period", default="week", choices=("hour", "day", "week", "month"),
                           help="retention and lifecycle periods (hour: retention only, up to 72 hours after "
                                "cohorts of at most 3 days)")
    retention.add_argument("--start-event", help="retention: event type, or 'any' action (default purchase); "
                           "paths: the paths after this event")
    retention.add_argument("--return-event", default="purchase", help="event type, or 'any' action")
    retention.add_argument("--mode", default="on", choices=("on", "on_or_after"))
    retention.add_argument("--week-start", default="monday", choices=("monday", "sunday"))
    retention.add_argument("--min-returns", type=int, default=1,
                           help="return events a period needs before the user counts as back (default 1)")
    retention.add_argument("--match", metavar="PROPERTY",
                           help="a return must carry the start event's value of this property "
                                "(category, campaign, item ...)")
    retention.add_argument("--start-where", action="append", default=[], metavar='"PROPERTY OP VALUE"',
                           help='a filter on the start event, e.g. "amount > 100" (repeatable)')
    retention.add_argument("--return-where", action="append", default=[], metavar='"PROPERTY OP VALUE"',
                           help='a filter on the return event, e.g. "category = 3" (repeatable)')
    retention.add_argument("--clip", action="store_true",
                           help="only start events on the --from..--to days make cohort members "
                                "(default: whole periods)")
    retention.add_argument("--recurring", action="store_true",
                           help="a cohort per period with a start event (default: first time only)")
    retention.add_argument("--breakdown", default="none",
                           help="retention: channel, community, gender, age_band, city, a saved segment "
                                "(--name), a property of the start event (category, item, event_channel ...) "
                                "or of the user (churn_risk ...), top --limit values then Other; "
                                "funnel, trends, kpis and ctr: any event or user property (channel, "
                                "category, gender ...) or, for funnels, a saved segment (--name)")
    p.add_argument("--name", help="segment: the saved segment whose users to print; experiment: its name")
    rfm = p.add_argument_group("rfm")
    rfm.add_argument("--lookback-days", type=int, default=365,
                     help="only purchases in this many days up to --to count (scores are as of --to)")
    ctr = p.add_argument_group("ctr")
    ctr.add_argument("--by", default="content", choices=("content", "campaign", "channel"))
    recs = p.add_argument_group("recs, similar-items (need `train recs` first)")
    recs.add_argument("--user", help="recs: the user to recommend for (or --name SEGMENT for a push list)")
    recs.add_argument("--item", help="similar-items: the item")
    recs.add_argument("--n", type=int, default=10, help="recommendations per user (default 10)")
    recs.add_argument("--new-only", action="store_true", help="only items the user never touched")
    recs.add_argument("--exclude-bought", action="store_true", help="leave out items the user bought")
    recs.add_argument("--category", help="only items of this category")
    growth = p.add_argument_group("growth, churn, churn-risk, propensity")
    growth.add_argument("--metric", default="users", choices=("users", "buyers", "gmv"),
                        help="growth: cumulative users, buyers or GMV")
    growth.add_argument("--holdout-days", type=int, default=30, help="growth: days held out for the backtest")
    growth.add_argument("--points", default="day", choices=("day", "week"), help="growth: one point per day or week")
    growth.add_argument("--horizon-days", type=int, default=30,
                        help="churn-risk, propensity: days ahead (default 30)")
    growth.add_argument("--inactivity-days", type=int, default=30,
                        help="churn: days without activity that count as churned (default 30)")
    growth.add_argument("--basis", default="activity", choices=("activity", "purchase"),
                        help="churn: what counts as activity")
    growth.add_argument("--group", default="none", choices=("none", "channel", "community", "rfm", "segment"),
                        help="churn: compare survival between groups (segment: --name)")
    trend = p.add_argument_group("trends")
    trend.add_argument("--event", action="append", help="a series' event type, or 'any' (repeat for series B, C ...)")
    trend.add_argument("--measure", action="append",
                       help="events | users | per_user | sum_amount | avg_amount, one per --event (or one for all)")
    trend.add_argument("--interval", default="day", choices=("day", "week", "month"))
    trend.add_argument("--formula", help="combine the series, e.g. 'B / A'")
    trend.add_argument("--limit", type=int, default=5, help="breakdown values shown before 'Other'")
    trend.add_argument("--compare", action="store_true", help="beside the period just before")
    path = p.add_argument_group("paths")
    path.add_argument("--end-event", help="paths before this event")
    path.add_argument("--path-steps", type=int, default=4, help="steps per path, 2 to 8 (default 4)")
    path.add_argument("--top", type=int, default=20, help="paths listed (default 20)")
    path.add_argument("--links", action="store_true", help="print the moves between steps instead of whole paths")
    path.add_argument("--keep-repeats", action="store_true", help="every event is a step (default: a run is one)")
    path.add_argument("--by-category", action="store_true", help="name steps by event type and item category")
    path.add_argument("--max-nodes", type=int, default=8, help="names per step before 'other' (default 8)")
    funnels = p.add_argument_group("funnel")
    funnels.add_argument("--steps", default="view,cart,purchase", help="2 to 8 event types, comma-separated")
    funnels.add_argument("--window-days", type=float, default=7.0)
    funnels.add_argument("--same-item", action="store_true", help="every step concerns the same item")
    funnels.add_argument("--unordered", action="store_true", help="the steps in any order (row k: k of the steps)")
    funnels.add_argument("--first-time", action="append", type=int, default=[], metavar="STEP",
                         help="this step must be the user's first such event ever (repeatable), e.g. 3")
    funnels.add_argument("--exclude", action="append", default=[], metavar="EVENT:AFTER:BEFORE",
                         help="leave out users who did EVENT between steps AFTER and BEFORE, e.g. refund:2:3")
    funnels.add_argument("--step-where", nargs=2, action="append", default=[], metavar=("STEP", "FILTER"),
                         help='a filter on one step\'s events, e.g. --step-where 3 "amount between 100,500" '
                              '(repeatable; --where filters every step)')
    funnels.add_argument("--count-by", default="user", choices=("user", "session"),
                         help="count each user once (default) or each session, its steps within it (the export's "
                              "session id, else 30 minutes without an event ends a session)")
    funnels.add_argument("--strict", action="store_true",
                         help="each step must be the user's next action (default: other events may "
                              "come between)")
    for command in sub.choices.values():  # also after the command name: `python -m engine ingest --warehouse W F`
        command.add_argument("--warehouse", type=Path, default=argparse.SUPPRESS,
                             help="warehouse file (default: $POND_WAREHOUSE or data/pond.duckdb)")
    return parser


#: Rows the last command printed, for the audit trail's export entry.
_printed = {"rows": 0}


def _emit(frame: pd.DataFrame, fmt: str) -> None:
    _printed["rows"] += len(frame)
    frame = frame.copy()
    for column in frame.columns:  # calendar dates print as dates, not midnight timestamps
        if frame[column].map(lambda v: isinstance(v, date) and not isinstance(v, datetime)).astype(bool).all():
            frame[column] = frame[column].map(date.isoformat)
        elif pd.api.types.is_datetime64_any_dtype(frame[column]) and (frame[column].dt.normalize()
                                                                      == frame[column]).all():
            frame[column] = frame[column].dt.strftime("%Y-%m-%d")
    if fmt == "json":
        print(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    elif fmt == "csv":
        for column in frame.columns:  # a list cell reads "A; B" in a spreadsheet, not as Python's repr
            if frame[column].map(lambda v: isinstance(v, list | tuple | np.ndarray)).astype(bool).any():
                frame[column] = frame[column].map(
                    lambda v: "; ".join(map(str, v)) if isinstance(v, list | tuple | np.ndarray) else v)
        write_csv(frame, sys.stdout)  # formula-safe, as the dashboard's downloads
    else:
        print(frame.to_string(index=False) if len(frame) else "(none)")


def _progress_printer(label: str):
    def report(fraction: float, message: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{label}: {fraction:4.0%} {message[:60]:<60}", end="", file=sys.stderr, flush=True)
    return report




def _zone_line(plan, zone: str, given: bool) -> str | None:
    """Say which zone naive times are read in, when the file has any."""
    from engine.ingest.formats import ZONED_PATTERN

    naive = plan.time_kind == "excel_serial" or (
        plan.time_kind == "text" and any(not ZONED_PATTERN.search(p) for p in plan.time_patterns))
    if not naive:
        return None
    why = "--tz" if given else "the warehouse's business time zone; --tz to change"
    return f"times without a zone read as {zone} ({why})"


def _plan_for(path: Path, args, zone: str, con=None):
    from engine.ingest import describe_time_range, inspect_file

    sample, plan = inspect_file(path, format=args.format, timezone=zone, con=con)
    for field, column in args.map:
        plan.set_column(field, column or None)
    if args.event_type:
        plan.set_event_type(args.event_type)
    if args.map or args.event_type or args.date_order:
        describe_time_range(sample, plan)
    if args.date_order:
        plan.set_date_order(args.date_order)
        describe_time_range(sample, plan)
    return sample, plan


def cmd_ingest(args, con) -> int:
    from engine import audit
    from engine.ingest import import_file

    zone = args.tz or warehouse.business_timezone(con)
    failed = 0
    for path in args.files:
        try:
            _, plan = _plan_for(path, args, zone, con)
            if args.keep_personal:
                plan.pseudonymise, plan.keep_personal = [], True
            result = import_file(con, path, plan=plan, timezone=zone, progress=_progress_printer(path.name),
                                 demo="add" if args.add_to_demo else "replace", actor=cli_actor())
        except PondError as exc:
            if sys.stderr.isatty():
                print(file=sys.stderr)
            print(f"pond: refused {exc}", file=sys.stderr)
            audit.record(con, cli_actor(), "import", f"{path.name}: refused: {exc}", ok=False)
            failed += 1
            continue
        if sys.stderr.isatty():
            print(file=sys.stderr)
        print(result.summary)
        if result.first_event is not None:
            print(f"  events from {result.first_event:%Y-%m-%d %H:%M} to {result.last_event:%Y-%m-%d %H:%M} UTC")
        zone_line = _zone_line(plan, zone, bool(args.tz))
        if zone_line and result.status == "imported":
            print(f"  {zone_line}")
        for reason, count in result.reject_reasons.items():
            print(f"  rejected {count:,}: {reason}")
        for note in result.notes:
            print(f"  note: {note}")
    return 1 if failed else 0


def cmd_inspect(args) -> int:
    path = args.warehouse or warehouse.default_warehouse_path()
    if Path(path).exists():  # the warehouse's zone and remembered mappings; nothing is written
        with warehouse.connect(path, create=False) as con:
            zone = args.tz or warehouse.business_timezone(con)
            sample, plan = _plan_for(args.file, args, zone, con)
    else:
        zone = args.tz or "UTC"
        sample, plan = _plan_for(args.file, args, zone)
    print(f"{args.file}: {sample.format_label}, header: {'yes' if sample.has_header else 'no'}, "
          f"format: {plan.format}")
    for field, columns in plan.mapping.items():
        print(f"  {field:<13} <- {' | '.join(columns)}")
    if plan.event_type_rule != "column":
        print(f"  event_type    <- {plan.event_type_rule} {plan.event_type_constant or ''}".rstrip())
    print(f"  time: {plan.time_kind} {', '.join(plan.time_patterns[:3])}".rstrip())
    zone_line = _zone_line(plan, zone, bool(args.tz))
    if zone_line:
        print(f"  {zone_line}")
    if plan.time_range_text:
        print(f"  {plan.time_range_text}")
    for note in plan.notes:
        print(f"  note: {note}")
    print(sample.rows.head(5).to_string(index=False))
    refusal = _refusal(plan, args.file.name)
    if refusal:
        print(f"pond: {args.file.name} would be refused: {refusal}", file=sys.stderr)
        return 1
    return 0


def _refusal(plan, label: str) -> str | None:
    """Why the import would refuse this plan, as far as the file's sample tells."""
    try:
        plan.check(label)
    except PondError as exc:
        return str(exc).removeprefix(f"{label}: ")
    if plan.time_range and not plan.time_range["parsed"] and plan.time_range["complete"]:
        return (f"none of its times can be read as a time ({plan.source('event_time')[0]}); map another column "
                "with --map event_time=COLUMN, or export the times as ISO text (2024-05-01 09:05:00)")
    return None


#: the analyses that read through the property filters of --where (the dashboard's filter bar)
FILTERED_ANALYSES = ("kpis", "daily-events", "daily-activity", "active-users", "trends", "funnel", "retention",
                     "paths", "ctr", "communities", "lifecycle", "stickiness", "rfm")


def cmd_query(args, con) -> int:
    from engine import scope
    from engine.filters import parse_condition

    conditions = tuple(parse_condition(w) for w in args.where)
    if conditions and args.analysis not in FILTERED_ANALYSES:
        raise PondError(f"--where does not apply to {args.analysis}; it filters {', '.join(FILTERED_ANALYSES)}")
    with scope.applied(conditions, con=con):
        return _run_query(args, con)


def _run_query(args, con) -> int:
    from engine import metrics

    if args.analysis == "channels":
        _emit(pd.DataFrame({"channel": metrics.channels(con)}), args.format)
        return 0
    if args.analysis == "retention":
        return cmd_retention(args, con)
    if args.analysis == "trends":
        return cmd_trends(args, con)
    if args.analysis == "paths":
        from engine.paths import PathQuery, paths

        if bool(args.start_event) == bool(args.end_event):
            raise PondError("say where paths start or end: --start-event EVENT or --end-event EVENT")
        query = PathQuery(args.start_event or args.end_event, "after" if args.start_event else "before",
                          args.path_steps, args.start, args.end, args.channel, not args.keep_repeats,
                          "category" if args.by_category else "type", args.max_nodes)
        result = paths(con, query, top=args.top)
        _emit(result.links if args.links else result.paths, args.format)
        return 0
    if args.analysis in ("communities", "lifecycle", "stickiness"):
        if args.analysis == "lifecycle" and args.period == "hour":
            raise PondError("lifecycle periods are day, week or month; hours are for retention only")
        from engine.communities import community_leaderboard
        from engine.lifecycle import lifecycle, stickiness

        window = {"start": args.start, "end": args.end, "channel": args.channel}
        frame = (community_leaderboard(con, **window) if args.analysis == "communities"
                 else lifecycle(con, period=args.period, **window) if args.analysis == "lifecycle"
                 else stickiness(con, **window))
        _emit(frame, args.format)
        return 0
    if args.analysis == "influencers":
        from engine.network import share_graph

        columns = ["user_id", "pagerank", "reach_users", "reach_gmv", "community"]
        _emit(share_graph(con).sharers[columns + ["referred", "channel"]], args.format)
        return 0
    if args.analysis in ("recs", "similar-items"):
        return cmd_recs(args, con)
    if args.analysis in ("growth", "churn", "churn-risk", "propensity"):
        return cmd_growth_churn(args, con)
    if args.analysis in ("experiment", "experiments", "campaigns"):
        return cmd_experiments(args, con)
    if args.analysis in ("segment", "segments"):
        from engine.segments import load_segment, saved_segments, segment_users

        if args.analysis == "segments":
            _emit(saved_segments(con), args.format)
        elif not args.name:
            raise PondError("say which saved segment: --name NAME (`query segments` lists them)")
        else:
            _emit(segment_users(con, load_segment(con, args.name)), args.format)
        return 0
    if args.analysis == "rfm":
        from engine.rfm import rfm_scores

        _emit(rfm_scores(con, as_of=args.end, lookback_days=args.lookback_days, channel=args.channel),
              args.format)
        return 0
    if args.analysis == "ctr":
        from engine.content import content_performance

        if args.breakdown != "none":  # the totals and rates, once per value of a property
            from engine.content import engagement_breakdown

            _emit(engagement_breakdown(con, args.breakdown, start=args.start, end=args.end, channel=args.channel,
                                       limit=args.limit), args.format)
            return 0
        _emit(content_performance(con, by=args.by, start=args.start, end=args.end, channel=args.channel),
              args.format)
        return 0
    if args.analysis == "funnel":
        from engine.funnels import FunnelQuery, funnel

        steps = tuple(s.strip() for s in args.steps.split(","))
        query = FunnelQuery(steps=steps, window_days=args.window_days,
                            order="unordered" if args.unordered else "strict" if args.strict else "sequential",
                            same_item=args.same_item,
                            start=args.start, end=args.end, channel=args.channel,
                            breakdown=args.breakdown,
                            segment=args.name, breakdown_limit=args.limit,
                            exclusions=tuple(_exclusion(text) for text in args.exclude),
                            first_time=tuple(args.first_time), step_where=_step_filters(args.step_where, len(steps)),
                            count_by=args.count_by)
        # --where filters every step's events through engine.scope, as for every analysis
        _emit(funnel(con, query).steps, args.format)
        return 0
    summary = metrics.warehouse_summary(con)
    if summary["last_day"] is None:
        raise PondError("the warehouse holds no events yet; import a file or build the demo")
    end = args.end or summary["last_day"]
    start = args.start or date.fromordinal(end.toordinal() - 29)
    period = metrics.Period(start, end)
    if args.analysis == "kpis" and args.breakdown != "none":
        frame = metrics.kpi_breakdown(con, period, args.breakdown, channel=args.channel, limit=args.limit)
    elif args.analysis == "kpis":
        frame = metrics.kpi_comparison(con, period, channel=args.channel)
    elif args.analysis == "daily-events":
        frame = metrics.daily_events(con, period, channel=args.channel)
    elif args.analysis == "active-users":
        frame = metrics.active_users_by_day(con, period, channel=args.channel)
    else:
        frame = metrics.daily_activity(con, period, channel=args.channel)
    _emit(frame, args.format)
    return 0


def _exclusion(text: str) -> tuple[str, int, int]:
    event, _, steps = text.partition(":")
    after, _, before = steps.partition(":")
    if not (event and after.isdigit() and before.isdigit()):
        raise PondError(f"--exclude takes EVENT:AFTER:BEFORE, e.g. refund:2:3; not {text!r}")
    return event, int(after), int(before)


def cmd_trends(args, con) -> int:
    from engine.trends import Series, TrendQuery, trends

    events = args.event or ["any"]
    measures = args.measure or ["events"]
    if len(measures) not in (1, len(events)):
        raise PondError(f"give one --measure for all series or one per --event ({len(events)}), not {len(measures)}")
    measures = measures * len(events) if len(measures) == 1 else measures
    query = TrendQuery(series=tuple(Series(e, m) for e, m in zip(events, measures, strict=True)),
                       interval=args.interval, start=args.start, end=args.end,
                       breakdown=None if args.breakdown == "none" else args.breakdown, limit=args.limit,
                       formula=args.formula, compare=args.compare)  # --where applies through engine.scope
    frame = trends(con, query).frame
    if len(events) == 1 and not args.formula:
        frame = frame.drop(columns="series")
    _emit(frame, args.format)
    return 0


def cmd_experiments(args, con) -> int:
    from engine.experiments import campaign_effect, experiment_results, list_experiments

    if args.analysis == "experiments":
        _emit(list_experiments(con), args.format)
    elif args.analysis == "campaigns":
        _emit(campaign_effect(con), args.format)
    elif not args.name:
        raise PondError("say which experiment: --name NAME (`query experiments` lists them)")
    else:
        result = experiment_results(con, args.name)
        if args.format == "json":
            payload = {"experiment": result.experiment, "control": result.control,
                       "srm_p_value": result.srm_p_value, "sample_ratio_mismatch": result.sample_ratio_mismatch,
                       "verdict": result.verdict,
                       "variants": json.loads(result.variants.to_json(orient="records")),
                       "comparisons": json.loads(result.comparisons.to_json(orient="records"))}
            print(json.dumps(payload, ensure_ascii=False))
        else:
            _emit(result.comparisons, "csv")
    return 0


def _recommender(args, con):
    from engine.recommend import Recommender

    path = args.warehouse or warehouse.default_warehouse_path()
    model = Recommender.load(path)
    if model is None:
        raise PondError("no trained recommender beside this warehouse; run `python -m engine train recs`")
    from engine.recommend.data import interactions_fingerprint

    if not model.is_current(interactions_fingerprint(con)):
        print(f"pond: note: the recommender was trained on data version {model.data_version}; the events have "
              f"changed since (retrain with `python -m engine train recs`)", file=sys.stderr)
    return model


def cmd_recs(args, con) -> int:
    model = _recommender(args, con)
    if args.analysis == "similar-items":
        if not args.item:
            raise PondError("say which item: --item ITEM_ID")
        _emit(model.similar_items(args.item, args.n), args.format)
        return 0
    filters = {"include_seen": not args.new_only, "exclude_bought": args.exclude_bought, "category": args.category}
    if args.user:
        _emit(model.recommend(args.user, args.n, **filters), args.format)
    elif args.name:
        from engine.segments import load_segment, segment_users

        users = segment_users(con, load_segment(con, args.name))["user_id"]
        _emit(model.recommend_many(users.tolist(), args.n, **filters), args.format)
    else:
        raise PondError("say whom to recommend for: --user USER_ID, or --name SEGMENT for a saved segment")
    return 0


def cmd_growth_churn(args, con) -> int:
    if args.analysis == "growth":
        from engine.growth import growth_fits

        result = growth_fits(con, metric=args.metric, period=args.points, holdout_days=args.holdout_days)
        if args.format == "json":
            print(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
        else:
            rows = [{"model": name, **{k: v for k, v in fit.summary().items() if k != "params"},
                     **{f"param_{k}": v for k, v in fit.params.items()}} for name, fit in result.fits.items()]
            _emit(pd.DataFrame(rows), "csv")
        return 0
    from engine import churn

    if args.analysis == "churn":
        result = churn.survival(con, inactivity_days=args.inactivity_days, basis=args.basis, group=args.group,
                                segment=args.name)
        _emit(result.groups.assign(logrank_p=result.logrank_p), args.format)
    elif args.analysis == "churn-risk":
        result = churn.stored_churn_risk(con, horizon_days=args.horizon_days,
                                         inactivity_days=args.inactivity_days)
        _emit(result.risk[["user_id", "risk", "band", "drivers"]], args.format)
    else:
        _emit(churn.stored_purchase_propensity(con, horizon_days=args.horizon_days).scores, args.format)
    return 0


def cmd_train(args) -> int:
    from engine.recommend import train

    path = args.warehouse or warehouse.default_warehouse_path()

    def progress_line(fraction: float, message: str) -> None:
        print(json.dumps({"fraction": round(fraction, 4), "message": message}), flush=True)

    done = train(path, holdout_days=args.holdout_days, k=args.k, evaluate=not args.no_evaluate,
                 progress=progress_line if args.progress_lines else _progress_printer("train recs"))
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
        _emit(pd.DataFrame.from_dict(result["models"], orient="index").rename_axis("model").reset_index(), "csv")
    return 0


def cmd_evaluate(args) -> int:
    from engine.recommend import evaluate_models, load_interactions, load_items

    if args.model == "churn":
        from engine.churn import evaluate_churn

        with warehouse.connect(args.warehouse, create=False) as con:
            result = evaluate_churn(con, args.cutoff, horizon_days=args.horizon_days)
        if args.format == "csv":  # every row names the cuts it was measured on
            table = pd.DataFrame.from_dict(result["models"], orient="index").rename_axis("model").reset_index()
            table["cutoff"] = result["cutoff"]
            table["training_cuts"] = " ".join(result["training_cuts"])
            table["beats_recency"] = table["model"].map(result["beats_recency"])
            _emit(table, "csv")
        else:
            print(json.dumps(result, ensure_ascii=False))
        for warning in result["warnings"]:
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    with warehouse.connect(args.warehouse, create=False) as con:
        X = load_interactions(con)
        items = load_items(con, X.items)
    result = evaluate_models(X, items, holdout_days=args.holdout_days, k=args.k, protocols=(args.protocol,),
                             max_users=args.max_users, progress=_progress_printer("evaluate recs"))[args.protocol]
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return _emit_evaluation(result, args.format)


def _step_filters(pairs: list[list[str]], steps: int) -> tuple:
    """``--step-where N FILTER`` pairs as one tuple of conditions per step (none when no pair)."""
    from engine.filters import parse_condition

    if not pairs:
        return ()
    per_step: list[list] = [[] for _ in range(steps)]
    for number, text in pairs:
        if not number.isdigit() or not 1 <= int(number) <= steps:
            raise PondError(f"--step-where takes a step number 1 to {steps} and a filter, not {number!r}")
        per_step[int(number) - 1].append(parse_condition(text))
    return tuple(tuple(conditions) for conditions in per_step)


def cmd_retention(args, con) -> int:
    from engine.filters import parse_condition
    from engine.retention import RetentionQuery, retention_matrix

    query = RetentionQuery(period=args.period, start_event=args.start_event or "purchase",
                           return_event=args.return_event,
                           first_time=not args.recurring, mode=args.mode, start=args.start, end=args.end,
                           channel=args.channel, breakdown=args.breakdown, segment=args.name,
                           breakdown_limit=args.limit, week_start=args.week_start,
                           min_returns=args.min_returns, clip=args.clip,
                           match_property=args.match,
                           start_where=tuple(parse_condition(w) for w in args.start_where),
                           return_where=tuple(parse_condition(w) for w in args.return_where))
    frame = retention_matrix(con, query)
    columns = ["cohort", "period", "users", "cohort_size", "rate"]
    _emit(frame[(["segment"] if args.breakdown != "none" else []) + columns], args.format)
    return 0


def cli_actor() -> str:
    """How the audit trail names a command-line user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def cmd_users(args) -> int:
    import getpass

    from engine import access, audit

    path = args.warehouse or warehouse.default_warehouse_path()
    if args.action == "list":
        _emit(pd.DataFrame(access.list_users(path), columns=["name", "role", "created_at"]), "table")
        return 0
    if not args.name:
        raise PondError(f"say which user: python -m engine users {args.action} NAME")
    if args.action == "add":
        if not args.role:
            raise PondError("give the account a role: --role viewer|marketer|admin")
        if args.password_stdin or not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"Password for {args.name}: ")
            if getpass.getpass("Again: ") != password:
                raise PondError("the two passwords differ")
        access.add_user(path, args.name, args.role, password)
        detail = f"{args.name} as {args.role}"
        print(f"account {args.name} ({args.role}) saved in {access.users_file(path)}")
    elif args.action == "role":
        if not args.role:
            raise PondError("say the new role: --role viewer|marketer|admin")
        access.set_role(path, args.name, args.role)
        detail = f"{args.name} is now {args.role}"
        print(detail)
    else:
        access.remove_user(path, args.name)
        detail = f"{args.name} removed"
        print(detail)
    with warehouse.connect(path) as con:
        audit.record(con, cli_actor(), {"add": "user_add", "role": "user_role", "remove": "user_remove"}[args.action],
                     detail)
    return 0


def cmd_backup(args, con) -> int:
    from engine import audit
    from engine.backup import backup, restore

    if args.command == "backup":
        done = backup(con, args.dest)
        rows = sum(done.tables.values())
        audit.record(con, cli_actor(), "backup", str(done.path), rows=rows)
        print(f"backup written to {done.path}: {len(done.tables)} tables, {rows:,} rows"
              + (f"; pseudonym key copied to {done.path.with_suffix('.key')}" if done.key_copied else ""))
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise PondError("restore replaces the warehouse's data: add --yes to confirm")
        if input(f"Replace every table of the warehouse with {args.src}? [y/N] ").strip().lower() != "y":
            print("nothing restored")
            return 1
    counts = restore(con, args.src)
    audit.record(con, cli_actor(), "restore", str(args.src), rows=counts.get("events"))
    print(f"restored {args.src}: {counts.message}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "inspect":
        return cmd_inspect(args)
    if args.command == "users":
        return cmd_users(args)
    if args.command == "train":  # reads the warehouse briefly, then fits without holding it
        return cmd_train(args)
    if args.command == "evaluate":
        return cmd_evaluate(args)
    with warehouse.connect(args.warehouse) as con:
        for leftover in warehouse.remove_leftovers(con):  # of a killed restore or import
            print(f"pond: removed {leftover.name}, left by an interrupted restore or import", file=sys.stderr)
        from engine import audit

        audit.flush_deferred(con)  # entries kept while another process held the warehouse
        if args.command == "ingest":
            return cmd_ingest(args, con)
        if args.command == "mappings":
            from engine.ingest import forget_mapping, list_mappings

            if args.action == "list":
                _emit(list_mappings(con), args.format)
            elif not args.signature:
                raise PondError("say which mapping to forget: `python -m engine mappings forget SIGNATURE` "
                                "(`mappings list` shows them)")
            else:
                forget_mapping(con, args.signature)  # one statement: no new data version, nothing to derive
                print(f"forgot the mapping {args.signature}")
            return 0
        if args.command == "uploads":
            from engine.ingest import list_uploads

            _emit(list_uploads(con), args.format)
        elif args.command == "undo":
            from engine import audit
            from engine.ingest import undo_upload

            done = undo_upload(con, args.upload_id, undone_by=cli_actor())  # audited in its transaction
            print(f"undid upload {done.upload_id} ({done.file_name}): removed {done.rows_removed:,} events")
        elif args.command == "rejects":
            from engine import audit
            from engine.ingest import rejected_rows

            rejects = rejected_rows(con, args.upload_id)
            write_csv(rejects, sys.stdout)
            audit.record(con, cli_actor(), "rejects", f"rejected rows of upload {args.upload_id} (csv)",
                         rows=len(rejects))
        elif args.command == "demo":
            from engine.demo import build_demo

            done = build_demo(con, users=args.users, days=args.days, seed=args.seed, end=args.end,
                              replace=args.replace, progress=_progress_printer("demo"))
            if sys.stderr.isatty():
                print(file=sys.stderr)
            print(f"demo: {done.users:,} users, {done.events:,} events, {done.items:,} items, "
                  f"{done.first_day}..{done.last_day} in {done.seconds:.1f} s")
        elif args.command == "timezone":
            if args.zone:
                warehouse.set_business_timezone(con, args.zone)
            print(warehouse.business_timezone(con))
        elif args.command == "summary":
            from engine.metrics import warehouse_summary

            print(json.dumps(warehouse_summary(con), default=str, ensure_ascii=False, indent=2))
        elif args.command == "query":
            _printed["rows"] = 0  # count this command's rows only (main() may run many in one process)
            status = cmd_query(args, con)
            from engine import audit

            audit.record(con, cli_actor(), "export", f"query {args.analysis} ({args.format})",
                         rows=_printed["rows"])
            return status
        elif args.command in ("backup", "restore"):
            return cmd_backup(args, con)
        elif args.command == "audit":
            from engine.audit import entries

            _emit(entries(con, actor=args.user, action=args.action, limit=args.limit), args.format)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warehouse.private_files()  # the warehouse, its log and spill files, backups and keys: 0600
    try:
        return run(args)
    except PondError as exc:
        print(f"pond: {exc}", file=sys.stderr)
        if isinstance(exc, WarehouseLockedError):  # the trail keeps busy refusals (written once the file is free)
            from engine import audit

            audit.defer(getattr(args, "warehouse", None) or warehouse.default_warehouse_path(), cli_actor(), "busy",
                        f"{args.command} refused: {exc}", ok=False)
        return 1
    except BrokenPipeError:  # e.g. `python -m engine uploads | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
