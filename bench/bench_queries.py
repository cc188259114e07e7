"""Query latency of every analysis on a demo warehouse of about 10M events.

Usage: python bench/bench_queries.py [--users 125000] [--days 120] [--runs 5] [--backend duckdb|both]
                                     [--write BENCHMARKS.md]

Builds the demo once into bench/out/ (reused when it exists with the same size), then times each
engine call the pages make: the first call in a fresh connection ("cold") and the median of
``--runs`` further calls ("warm"; the dashboard's caches would answer repeats without DuckDB).
``--backend both`` also copies the demo into chDB (bench/out/<demo>.ch, reused while it holds the same
events) and times the same calls there, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import write_section  # noqa: E402

from engine.behaviour import metrics  # noqa: E402
from engine.behaviour.communities import community_leaderboard, community_trend  # noqa: E402
from engine.behaviour.content import content_performance, content_trend, engagement_breakdown  # noqa: E402
from engine.behaviour.funnels import FunnelQuery, funnel, funnel_trend  # noqa: E402
from engine.behaviour.lifecycle import lifecycle, stickiness  # noqa: E402
from engine.behaviour.paths import PathQuery, paths  # noqa: E402
from engine.behaviour.retention import RetentionQuery, retention_cell_users, retention_matrix  # noqa: E402
from engine.behaviour.trends import Series, TrendQuery, trends  # noqa: E402
from engine.customers.portraits import portrait  # noqa: E402
from engine.customers.rfm import rfm_scores, segment_transitions  # noqa: E402
from engine.customers.segments import (  # noqa: E402
    Condition,
    SegmentDefinition,
    compare_with_everyone,
    segment_count,
    segment_users,
)
from engine.customers.tags import interest_tags  # noqa: E402
from engine.ingest.demo import build_demo  # noqa: E402
from engine.social.experiments import campaign_effect, experiment_results  # noqa: E402
from engine.social.network import k_factor, share_graph  # noqa: E402
from engine.store import scope, warehouse  # noqa: E402
from engine.store.filters import parse_condition  # noqa: E402


def warehouse_for(users: int, days: int) -> Path:
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    path = out / f"demo-{users}-{days}.duckdb"
    if not path.exists():
        with warehouse.connect(path) as con:
            started = time.perf_counter()
            summary = build_demo(con, users=users, days=days, seed=7, end=date(2026, 6, 1))
            print(f"built {summary.events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def filtered(filters: list[str], call):
    """``call()`` under the dashboard's property filters ``filters``."""
    with scope.applied([parse_condition(f) for f in filters]):
        return call()


def cases(last: date) -> dict:
    month = {"start": last - timedelta(days=29), "end": last}
    period = metrics.Period(month["start"], month["end"])
    week = RetentionQuery(**month)
    return {
        "Overview: KPIs with previous period": lambda c: metrics.kpi_comparison(c, period),
        "Overview: KPIs, filter city = Shanghai (user property)": lambda c: filtered(
            ["city = Shanghai"], lambda: metrics.kpi_comparison(c, period)),
        "Overview: KPIs, filter channel = douyin (rollup rows)": lambda c: filtered(
            ["channel = douyin"], lambda: metrics.kpi_comparison(c, period)),
        "Overview: KPIs, filter amount > 100 (recounted from events)": lambda c: filtered(
            ["amount > 100"], lambda: metrics.kpi_comparison(c, period)),
        "Overview: KPIs by gender (breakdown)": lambda c: metrics.kpi_breakdown(c, period, "gender"),
        "Overview: KPIs by channel (breakdown)": lambda c: metrics.kpi_breakdown(c, period, "channel"),
        "Overview: DAU, WAU and MAU per day, filter gender = F": lambda c: filtered(
            ["gender = F"], lambda: metrics.active_users_by_day(c, period)),
        "Overview: events by type and day": lambda c: metrics.daily_events(c, period),
        "Overview: daily activity": lambda c: metrics.daily_activity(c, period),
        "Overview: DAU, WAU and MAU per day": lambda c: metrics.active_users_by_day(c, period),
        "Trends: any action per day": lambda c: trends(c, TrendQuery(**month)),
        "Trends: unique buyers by week, amount > 100, by channel": lambda c: trends(c, TrendQuery(
            (Series("purchase", "users", (parse_condition("amount > 100"),)),), interval="week",
            breakdown="channel", **month)),
        "Trends: B / A of viewers and buyers by city, previous period": lambda c: trends(c, TrendQuery(
            (Series("view", "users"), Series("purchase", "users")), formula="B / A", breakdown="city",
            compare=True, **month)),
        "Paths: 4 steps after view": lambda c: paths(c, PathQuery("view", "after", 4, **month)),
        "Paths: 4 steps before purchase": lambda c: paths(c, PathQuery("purchase", "before", 4, **month)),
        "Retention: weekly, first purchase -> purchase": lambda c: retention_matrix(c, week),
        "Retention: daily, signup -> any, by channel, on or after": lambda c: retention_matrix(
            c, RetentionQuery(period="day", start_event="signup", return_event="any", breakdown="channel",
                              mode="on_or_after", **month)),
        "Retention: weekly by community": lambda c: retention_matrix(
            c, RetentionQuery(breakdown="community", **month)),
        "Retention: users of one cell": lambda c: retention_cell_users(
            c, week, segment="All users", cohort=month["start"] - timedelta(days=month["start"].weekday()),
            period=1),
        "Funnel: view -> cart -> purchase, 7 days": lambda c: funnel(c, FunnelQuery(**month)),
        "Funnel: same item, by channel": lambda c: funnel(c, FunnelQuery(same_item=True, breakdown="channel",
                                                                         **month)),
        "Funnel: strict order": lambda c: funnel(c, FunnelQuery(order="strict", **month)),
        "Funnel: by entry category, refund excluded": lambda c: funnel(c, FunnelQuery(
            breakdown="category", exclusions=(("refund", 2, 3),), **month)),
        "Funnel: filter gender = F, category = skincare": lambda c: filtered(
            ["gender = F", "category = skincare"], lambda: funnel(c, FunnelQuery(**month))),
        "Retention: weekly, filter channel = douyin": lambda c: filtered(
            ["channel = douyin"], lambda: retention_matrix(c, week)),
        "Funnel: conversion by week of entry": lambda c: funnel_trend(c, funnel(c, FunnelQuery(**month))),
        "Content: per content item": lambda c: content_performance(c, by="content", **month),
        "Content: per campaign": lambda c: content_performance(c, by="campaign", **month),
        "Content: engagement by city (breakdown)": lambda c: engagement_breakdown(c, "city", **month),
        "Content: daily CTR trend": lambda c: content_trend(c, **month),
        "Communities: leaderboard": lambda c: community_leaderboard(c, **month),
        "Communities: weekly trend": lambda c: community_trend(c, **month),
        "Lifecycle: weekly": lambda c: lifecycle(c, period="week", **month),
        "Stickiness: DAU/MAU per day": lambda c: stickiness(c, **month),
        "Segments: RFM scores, 365-day lookback": lambda c: rfm_scores(c, as_of=last),
        "Segment builder: bought >= 2 times in 30 days (count)": lambda c: segment_count(
            c, SegmentDefinition((Condition("event", event="purchase", count=2),))),
        "Segment builder: viewed skincare, never bought it, from douyin (users)": lambda c: segment_users(
            c, SegmentDefinition((Condition("event", event="view", category="skincare"),
                                  Condition("event", event="purchase", op="=", count=0, category="skincare"),
                                  Condition("property", field="acquisition_channel", values=("douyin",))))),
        "Segment builder: compare with everyone": lambda c: compare_with_everyone(
            c, SegmentDefinition((Condition("event", event="purchase", count=2),))),
        "Segment builder: interested in a tag": lambda c: segment_count(
            c, SegmentDefinition((Condition("tag", values=("category:skincare",)),))),
        "Portraits: interest tags of every user (TF-IDF)": lambda c: interest_tags(c),
        "Portraits: portrait of everyone": lambda c: portrait(c),
        "Experiments: new_checkout results (tests, SRM, verdict)": lambda c: experiment_results(c, "new_checkout"),
        "Experiments: coupon campaign effect": lambda c: campaign_effect(c),
        "Share graph: PageRank, reach, Louvain, cascades": lambda c: share_graph(c),
        "Share graph: weekly K-factor": lambda c: k_factor(c),
        "Segments: RFM transitions over 30 days": lambda c: segment_transitions(c, as_of=last,
                                                                                period_days=30),
    }


def chdb_copy(path: Path) -> str:
    """The chDB URL of a copy of the DuckDB demo ``path`` (made once, again when the events differ)."""
    from engine.store.clickhouse import ClickHouseConnection, load_from_duckdb

    url = f"chdb:{path.with_suffix('.ch')}"
    with warehouse.connect(path, create=False, backend_name="duckdb") as duck:
        events = duck.execute("select count(*) from events").fetchone()[0]
        with ClickHouseConnection(url) as ch:
            tables = set(ch.execute_native("SELECT name FROM system.tables WHERE database = currentDatabase()")
                         .df()["name"])
            held = ch.execute_native("SELECT count() AS n FROM events").df()["n"].iloc[0] if "events" in tables \
                else -1
            if held != events:
                started = time.perf_counter()
                load_from_duckdb(duck, ch)  # creates the tables it copies
                print(f"copied {events:,} events into {url} in {time.perf_counter() - started:.0f} s", flush=True)
    return url


def _time(call, con, runs: int) -> dict:
    try:
        started = time.perf_counter()
        call(con)
        cold = time.perf_counter() - started
        warm = []
        for _ in range(runs):
            started = time.perf_counter()
            call(con)
            warm.append(time.perf_counter() - started)
    except Exception as exc:  # noqa: BLE001 - a failing case is a figure too
        return {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"}
    return {"cold_ms": cold * 1000, "warm_ms": statistics.median(warm) * 1000}


def measure(path: Path, runs: int, only: str | None = None, *, clickhouse_url: str | None = None
            ) -> tuple[list[dict], int]:
    with warehouse.connect(path, backend_name="duckdb") as con:
        last = con.execute("select max(day) from daily_events").fetchone()[0]
        events = con.execute("select count(*) from events").fetchone()[0]
    rows = []
    ch = None
    if clickhouse_url:
        from engine.store.clickhouse import ClickHouseConnection

        ch = ClickHouseConnection(clickhouse_url)  # chDB: one session per process, so one for every case
    for name, call in cases(last).items():
        if only and only.lower() not in name.lower():
            continue
        with warehouse.connect(path, backend_name="duckdb") as con:  # fresh: nothing cached by DuckDB yet
            row = {"query": name, **_time(call, con, runs)}
        if ch is not None:
            row["clickhouse"] = _time(call, ch, runs)
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)
    if ch is not None:
        ch.close()
    return rows, events


def _ms(figures: dict, key: str) -> str:
    return figures["error"] if "error" in figures else f"{figures[key]:,.0f}"


def side_by_side(rows: list[dict], events: int, args) -> str:
    import chdb

    command = (f"python bench/bench_queries.py --users {args.users} --days {args.days} --runs {args.runs} "
               "--backend both")
    lines = ["## DuckDB and ClickHouse (chDB) side by side: query latency at 10M events", "",
             f"Command: `{command}`  ",
             f"Warehouse: demo with {events:,} events ({args.users:,} users, {args.days} days), the same file "
             "copied into chDB with `clickhouse load` (MergeTree, events ordered by user and time, partitioned "
             f"by month); queries over the last 30 days. Machine: {platform.machine()}, {os.cpu_count()} cores; "
             f"DuckDB {__import__('duckdb').__version__}, chDB {chdb.__version__} (embedded ClickHouse, one "
             f"session); {time.strftime('%Y-%m-%d')}. Cold = first call (DuckDB on a fresh connection; chDB's "
             "session is shared, so its cold call after the first case finds warm caches); warm = median of "
             "the next calls. Each call is the engine's own function, with the SQL translated (or its "
             "hand-written override) on ClickHouse; the answers are the same (tests/test_clickhouse_*.py).", "",
             "| query | DuckDB cold ms | DuckDB warm ms | chDB cold ms | chDB warm ms |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        ch = r.get("clickhouse", {"error": "not run"})
        lines.append(f"| {r['query']} | {_ms(r, 'cold_ms')} | {_ms(r, 'warm_ms')} | {_ms(ch, 'cold_ms')} | "
                     f"{_ms(ch, 'warm_ms')} |")
    timed = [r for r in rows if "warm_ms" in r and "warm_ms" in r.get("clickhouse", {})]
    if timed:
        duck = statistics.median(r["warm_ms"] for r in timed)
        chd = statistics.median(r["clickhouse"]["warm_ms"] for r in timed)
        lines += ["", f"Median warm call over the {len(timed)} cases both ran: DuckDB {duck:,.0f} ms, chDB "
                      f"{chd:,.0f} ms."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=125_000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path)
    parser.add_argument("--only", help="only the cases whose name contains this (printed, not written)")
    parser.add_argument("--backend", choices=("duckdb", "both"), default="duckdb",
                        help="both: the same calls on a chDB copy too, written side by side")
    args = parser.parse_args()
    path = warehouse_for(args.users, args.days)
    url = chdb_copy(path) if args.backend == "both" else None
    rows, events = measure(path, args.runs, args.only, clickhouse_url=url)
    if args.only:
        return
    if url:
        if args.write:
            write_section(args.write, side_by_side(rows, events, args),
                          "DuckDB and ClickHouse (chDB) side by side: query latency at 10M events")
        return
    command = f"python bench/bench_queries.py --users {args.users} --days {args.days} --runs {args.runs}"
    lines = ["## Query latency at 10M events", "",
             f"Command: `{command}`  ",
             f"Warehouse: demo with {events:,} events ({args.users:,} users, {args.days} days); queries over "
             f"the last 30 days. Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, DuckDB {__import__('duckdb').__version__}; "
             f"{time.strftime('%Y-%m-%d')}. Cold = first call on a fresh connection; warm = median of the "
             "next calls. Cases with \"filter\" read through the sidebar's property filters (engine.store.scope); "
             "\"breakdown\" cases split the figures by a property in one pass.", "",
             "| query | cold ms | warm ms |", "|---|---:|---:|"]
    lines += [f"| {r['query']} | {r['cold_ms']:,.0f} | {r['warm_ms']:,.0f} |" for r in rows]
    if args.write:
        write_section(args.write, "\n".join(lines) + "\n", "Query latency at 10M events")


if __name__ == "__main__":
    main()
