"""Every analysis as CSV or JSON: ``python -m engine query ANALYSIS``."""

from __future__ import annotations

import json
import sys
from datetime import date

import pandas as pd

from engine.cli.common import cli_actor, date_arg, emit, printed
from engine.errors import PondError
from engine.store import warehouse

#: the analyses that read through the property filters of --where (the dashboard's filter bar)
FILTERED_ANALYSES = ("kpis", "daily-events", "daily-activity", "active-users", "trends", "funnel", "retention",
                     "paths", "ctr", "communities", "lifecycle", "stickiness", "rfm")


def register(sub) -> None:
    """Add this group's commands to the command line's sub-parsers."""
    p = sub.add_parser("query", help="print an analysis as CSV or JSON")
    p.add_argument("analysis", choices=("kpis", "daily-events", "daily-activity", "active-users", "channels",
                                        "retention", "funnel", "ctr", "communities", "lifecycle", "stickiness", "rfm",
                                        "segment", "segments", "experiment", "experiments", "campaigns",
                                        "influencers", "recs", "similar-items", "growth", "churn",
                                        "churn-risk", "propensity", "trends", "paths"))
    p.add_argument("--from", dest="start", type=date_arg, help="first business day (default: 30 days "
                   "before --to)")
    p.add_argument("--to", dest="end", type=date_arg, help="last business day (default: the last day "
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
    for name, (handler, opens_warehouse) in {
        "query": (cmd_query_command, True),
    }.items():
        sub.choices[name].set_defaults(handler=handler, opens_warehouse=opens_warehouse)


def cmd_query_command(args, con) -> int:
    from engine.admin import audit

    printed["rows"] = 0  # count this command's rows only (main() may run many in one process)
    status = cmd_query(args, con)
    audit.record(con, cli_actor(), "export", f"query {args.analysis} ({args.format})", rows=printed["rows"])
    return status


def cmd_query(args, con) -> int:
    from engine.customers import filtering
    from engine.store.filters import parse_condition

    conditions = tuple(parse_condition(w) for w in args.where)
    if conditions and args.analysis not in FILTERED_ANALYSES:
        raise PondError(f"--where does not apply to {args.analysis}; it filters {', '.join(FILTERED_ANALYSES)}")
    with filtering.applied(conditions, con=con):
        return _run_query(args, con)


def _run_query(args, con) -> int:
    from engine.behaviour import metrics

    if args.analysis == "channels":
        emit(pd.DataFrame({"channel": metrics.channels(con)}), args.format)
        return 0
    if args.analysis == "retention":
        return cmd_retention(args, con)
    if args.analysis == "trends":
        return cmd_trends(args, con)
    if args.analysis == "paths":
        from engine.behaviour.paths import PathQuery, paths

        if bool(args.start_event) == bool(args.end_event):
            raise PondError("say where paths start or end: --start-event EVENT or --end-event EVENT")
        query = PathQuery(args.start_event or args.end_event, "after" if args.start_event else "before",
                          args.path_steps, args.start, args.end, args.channel, not args.keep_repeats,
                          "category" if args.by_category else "type", args.max_nodes)
        result = paths(con, query, top=args.top)
        emit(result.links if args.links else result.paths, args.format)
        return 0
    if args.analysis in ("communities", "lifecycle", "stickiness"):
        if args.analysis == "lifecycle" and args.period == "hour":
            raise PondError("lifecycle periods are day, week or month; hours are for retention only")
        from engine.behaviour.communities import community_leaderboard
        from engine.behaviour.lifecycle import lifecycle, stickiness

        window = {"start": args.start, "end": args.end, "channel": args.channel}
        frame = (community_leaderboard(con, **window) if args.analysis == "communities"
                 else lifecycle(con, period=args.period, **window) if args.analysis == "lifecycle"
                 else stickiness(con, **window))
        emit(frame, args.format)
        return 0
    if args.analysis == "influencers":
        from engine.social.network import share_graph

        columns = ["user_id", "pagerank", "reach_users", "reach_gmv", "community"]
        emit(share_graph(con).sharers[columns + ["referred", "channel"]], args.format)
        return 0
    if args.analysis in ("recs", "similar-items"):
        return cmd_recs(args, con)
    if args.analysis in ("growth", "churn", "churn-risk", "propensity"):
        return cmd_growth_churn(args, con)
    if args.analysis in ("experiment", "experiments", "campaigns"):
        return cmd_experiments(args, con)
    if args.analysis in ("segment", "segments"):
        from engine.customers.segments import load_segment, saved_segments, segment_users

        if args.analysis == "segments":
            emit(saved_segments(con), args.format)
        elif not args.name:
            raise PondError("say which saved segment: --name NAME (`query segments` lists them)")
        else:
            emit(segment_users(con, load_segment(con, args.name)), args.format)
        return 0
    if args.analysis == "rfm":
        from engine.customers.rfm import rfm_scores

        emit(rfm_scores(con, as_of=args.end, lookback_days=args.lookback_days, channel=args.channel),
              args.format)
        return 0
    if args.analysis == "ctr":
        from engine.behaviour.content import content_performance

        if args.breakdown != "none":  # the totals and rates, once per value of a property
            from engine.behaviour.content import engagement_breakdown

            emit(engagement_breakdown(con, args.breakdown, start=args.start, end=args.end, channel=args.channel,
                                       limit=args.limit), args.format)
            return 0
        emit(content_performance(con, by=args.by, start=args.start, end=args.end, channel=args.channel),
              args.format)
        return 0
    if args.analysis == "funnel":
        from engine.behaviour.funnels import FunnelQuery, funnel

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
        # --where filters every step's events through engine.store.scope, as for every analysis
        emit(funnel(con, query).steps, args.format)
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
    emit(frame, args.format)
    return 0


def _exclusion(text: str) -> tuple[str, int, int]:
    event, _, steps = text.partition(":")
    after, _, before = steps.partition(":")
    if not (event and after.isdigit() and before.isdigit()):
        raise PondError(f"--exclude takes EVENT:AFTER:BEFORE, e.g. refund:2:3; not {text!r}")
    return event, int(after), int(before)


def cmd_trends(args, con) -> int:
    from engine.behaviour.trends import Series, TrendQuery, trends

    events = args.event or ["any"]
    measures = args.measure or ["events"]
    if len(measures) not in (1, len(events)):
        raise PondError(f"give one --measure for all series or one per --event ({len(events)}), not {len(measures)}")
    measures = measures * len(events) if len(measures) == 1 else measures
    query = TrendQuery(series=tuple(Series(e, m) for e, m in zip(events, measures, strict=True)),
                       interval=args.interval, start=args.start, end=args.end,
                       breakdown=None if args.breakdown == "none" else args.breakdown, limit=args.limit,
                       formula=args.formula, compare=args.compare)  # --where applies through engine.store.scope
    frame = trends(con, query).frame
    if len(events) == 1 and not args.formula:
        frame = frame.drop(columns="series")
    emit(frame, args.format)
    return 0


def cmd_experiments(args, con) -> int:
    from engine.social.experiments import campaign_effect, experiment_results, list_experiments

    if args.analysis == "experiments":
        emit(list_experiments(con), args.format)
    elif args.analysis == "campaigns":
        emit(campaign_effect(con), args.format)
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
            emit(result.comparisons, "csv")
    return 0


def _recommender(args, con):
    from engine.predictions.recommend import Recommender

    path = args.warehouse or warehouse.default_warehouse_path()
    model = Recommender.load(path)
    if model is None:
        raise PondError("no trained recommender beside this warehouse; run `python -m engine train recs`")
    from engine.predictions.recommend.data import interactions_fingerprint

    if not model.is_current(interactions_fingerprint(con)):
        print(f"pond: note: the recommender was trained on data version {model.data_version}; the events have "
              f"changed since (retrain with `python -m engine train recs`)", file=sys.stderr)
    return model


def cmd_recs(args, con) -> int:
    model = _recommender(args, con)
    if args.analysis == "similar-items":
        if not args.item:
            raise PondError("say which item: --item ITEM_ID")
        emit(model.similar_items(args.item, args.n), args.format)
        return 0
    filters = {"include_seen": not args.new_only, "exclude_bought": args.exclude_bought, "category": args.category}
    if args.user:
        emit(model.recommend(args.user, args.n, **filters), args.format)
    elif args.name:
        from engine.customers.segments import load_segment, segment_users

        users = segment_users(con, load_segment(con, args.name))["user_id"]
        emit(model.recommend_many(users.tolist(), args.n, **filters), args.format)
    else:
        raise PondError("say whom to recommend for: --user USER_ID, or --name SEGMENT for a saved segment")
    return 0


def cmd_growth_churn(args, con) -> int:
    if args.analysis == "growth":
        from engine.predictions.growth import growth_fits

        result = growth_fits(con, metric=args.metric, period=args.points, holdout_days=args.holdout_days)
        if args.format == "json":
            print(json.dumps(result.to_dict(), ensure_ascii=False, default=str))
        else:
            rows = [{"model": name, **{k: v for k, v in fit.summary().items() if k != "params"},
                     **{f"param_{k}": v for k, v in fit.params.items()}} for name, fit in result.fits.items()]
            emit(pd.DataFrame(rows), "csv")
        return 0
    from engine.predictions import churn

    if args.analysis == "churn":
        from engine.predictions.survival import survival

        result = survival(con, inactivity_days=args.inactivity_days, basis=args.basis, group=args.group,
                          segment=args.name)
        emit(result.groups.assign(logrank_p=result.logrank_p), args.format)
    elif args.analysis == "churn-risk":
        result = churn.stored_churn_risk(con, horizon_days=args.horizon_days,
                                         inactivity_days=args.inactivity_days)
        emit(result.risk[["user_id", "risk", "band", "drivers"]], args.format)
    else:
        emit(churn.stored_purchase_propensity(con, horizon_days=args.horizon_days).scores, args.format)
    return 0


def _step_filters(pairs: list[list[str]], steps: int) -> tuple:
    """``--step-where N FILTER`` pairs as one tuple of conditions per step (none when no pair)."""
    from engine.store.filters import parse_condition

    if not pairs:
        return ()
    per_step: list[list] = [[] for _ in range(steps)]
    for number, text in pairs:
        if not number.isdigit() or not 1 <= int(number) <= steps:
            raise PondError(f"--step-where takes a step number 1 to {steps} and a filter, not {number!r}")
        per_step[int(number) - 1].append(parse_condition(text))
    return tuple(tuple(conditions) for conditions in per_step)


def cmd_retention(args, con) -> int:
    from engine.behaviour.retention import RetentionQuery, retention_matrix
    from engine.store.filters import parse_condition

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
    emit(frame[(["segment"] if args.breakdown != "none" else []) + columns], args.format)
    return 0
