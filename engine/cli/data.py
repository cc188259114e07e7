"""Getting data in and looking after it: ingest, inspect, mappings, uploads, undo, rejects, demo,
timezone, summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.cli.common import cli_actor, date_arg, emit, mapping_arg, progress_printer
from engine.errors import PondError
from engine.store import warehouse
from engine.store.export import write_csv


def register(sub) -> None:
    """Add this group's commands to the command line's sub-parsers."""
    from engine.ingest import FORMAT_NAMES

    p = sub.add_parser("ingest", help="import export files (CSV, TSV, xlsx, Parquet, JSON lines)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--format", default="auto", choices=("auto", *FORMAT_NAMES))
    p.add_argument("--tz", help="IANA time zone of naive source times, e.g. Asia/Shanghai (default: the "
                   "warehouse's business time zone, as on the Upload page; UTC for a new warehouse)")
    p.add_argument("--map", type=mapping_arg, action="append", default=[], metavar="FIELD=COLUMN",
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
    p.add_argument("--map", type=mapping_arg, action="append", default=[], metavar="FIELD=COLUMN",
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
    p.add_argument("--end", type=date_arg, help="day after the last demo day (default: today, UTC)")
    p.add_argument("--replace", action="store_true", help="wipe a warehouse that already holds events")

    p = sub.add_parser("timezone", help="show or set the business time zone (calendar of the charts)")
    p.add_argument("zone", nargs="?")

    p = sub.add_parser("summary", help="the warehouse at a glance (JSON)")
    for name, (handler, opens_warehouse) in {
        "ingest": (cmd_ingest, True),
        "inspect": (cmd_inspect, False),
        "mappings": (cmd_mappings, True),
        "uploads": (cmd_uploads, True),
        "undo": (cmd_undo, True),
        "rejects": (cmd_rejects, True),
        "demo": (cmd_demo, True),
        "timezone": (cmd_timezone, True),
        "summary": (cmd_summary, True),
    }.items():
        sub.choices[name].set_defaults(handler=handler, opens_warehouse=opens_warehouse)


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
    from engine.admin import audit
    from engine.ingest import import_file

    zone = args.tz or warehouse.business_timezone(con)
    failed = 0
    for path in args.files:
        try:
            _, plan = _plan_for(path, args, zone, con)
            if args.keep_personal:
                plan.pseudonymise, plan.keep_personal = [], True
            result = import_file(con, path, plan=plan, timezone=zone, progress=progress_printer(path.name),
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


def cmd_mappings(args, con) -> int:
    from engine.ingest import forget_mapping, list_mappings

    if args.action == "list":
        emit(list_mappings(con), args.format)
    elif not args.signature:
        raise PondError("say which mapping to forget: `python -m engine mappings forget SIGNATURE` "
                        "(`mappings list` shows them)")
    else:
        forget_mapping(con, args.signature)  # one statement: no new data version, nothing to derive
        print(f"forgot the mapping {args.signature}")
    return 0


def cmd_uploads(args, con) -> int:
    from engine.ingest import list_uploads

    emit(list_uploads(con), args.format)
    return 0


def cmd_undo(args, con) -> int:
    from engine.ingest import undo_upload

    done = undo_upload(con, args.upload_id, undone_by=cli_actor())  # audited in its transaction
    print(f"undid upload {done.upload_id} ({done.file_name}): removed {done.rows_removed:,} events")
    return 0


def cmd_rejects(args, con) -> int:
    from engine.admin import audit
    from engine.ingest import rejected_rows

    rejects = rejected_rows(con, args.upload_id)
    write_csv(rejects, sys.stdout)
    audit.record(con, cli_actor(), "rejects", f"rejected rows of upload {args.upload_id} (csv)", rows=len(rejects))
    return 0


def cmd_demo(args, con) -> int:
    from engine.ingest.demo import build_demo

    done = build_demo(con, users=args.users, days=args.days, seed=args.seed, end=args.end,
                      replace=args.replace, progress=progress_printer("demo"))
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print(f"demo: {done.users:,} users, {done.events:,} events, {done.items:,} items, "
          f"{done.first_day}..{done.last_day} in {done.seconds:.1f} s")
    return 0


def cmd_timezone(args, con) -> int:
    if args.zone:
        warehouse.set_business_timezone(con, args.zone)
    print(warehouse.business_timezone(con))
    return 0


def cmd_summary(args, con) -> int:
    from engine.behaviour.metrics import warehouse_summary

    print(json.dumps(warehouse_summary(con), default=str, ensure_ascii=False, indent=2))
    return 0
