"""ClickHouse parity (issue 22): every read query gives the same answer on chDB as on DuckDB.

A demo warehouse is built in DuckDB once, copied into chDB with engine.store.clickhouse.load_from_duckdb, and
each named query (with the compositions the engine makes of them) runs on both with realistic
parameters; the results are compared as multisets of rows (floats to 6 significant digits, missing
values equal, dates and timestamps as values).

Run: ``python -m pytest tests/test_clickhouse_parity.py -q``
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("chdb")

from engine.store import clickhouse, warehouse  # noqa: E402
from engine.store.filters import PROPERTIES  # noqa: E402

END = date(2026, 12, 3)  # the demo's last day is END - 1
LAST = END - timedelta(days=1)
FIRST = date(2026, 10, 5)  # the first day of user_day in this demo
START = LAST - timedelta(days=29)
ZONES = ("UTC", "Asia/Shanghai", "America/New_York")  # New York: DST ends on 2026-11-01
PASSIVE = list(warehouse.PASSIVE_EVENT_TYPES)
RFM_RULES = [  # engine.customers.rfm.DEFAULT_RULES
    ("Champions", (4, 5), (4, 5), (4, 5)), ("Loyal Customers", (3, 5), (3, 5), (3, 5)),
    ("Can't Lose Them", (1, 1), (4, 5), (4, 5)), ("At Risk", (1, 2), (3, 5), (3, 5)),
    ("Potential Loyalists", (3, 5), (2, 3), (1, 5)), ("New Customers", (4, 5), (1, 1), (1, 5)),
    ("Promising", (3, 3), (1, 1), (1, 5)), ("Need Attention", (2, 3), (2, 3), (2, 5)),
    ("About to Sleep", (2, 3), (1, 2), (1, 5)), ("Hibernating", (1, 2), (1, 2), (2, 5)),
    ("Lost", (1, 2), (1, 2), (1, 1)),
]


def period(tz: str = "UTC", channel: str | None = None, start: date = START, end: date = LAST) -> dict:
    """engine.behaviour.lifecycle.period_params / engine.behaviour.metrics._params for the range."""
    return {"start": start, "end": end, "channel": channel, "tz": tz,
            "lo": datetime.combine(start, time()) - timedelta(days=1),
            "hi": datetime.combine(end, time()) + timedelta(days=2), "passive": PASSIVE}


def content(by: str, tz: str = "UTC", channel: str | None = None) -> dict:
    return {**period(tz, channel, FIRST, LAST), "by": by, "attribution": timedelta(days=7)}


def retention(**kw) -> dict:
    """engine.behaviour.retention.RetentionQuery.params with the defaults, changed by ``kw``."""
    values = {"period": "week", "start_event": "purchase", "return_event": "purchase", "first_time": True,
              "mode": "on", "channel": None, "breakdown": "none", "breakdown_limit": 5, "segment": None,
              "clip": False, "week_start": "monday", "min_returns": 1, "match_property": None,
              "from": FIRST, "to": LAST, "passive": PASSIVE, "max_periods": 100_000}
    return {**values, **kw}


def paths(tz: str = "UTC", **kw) -> dict:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    values = {"event": "view", "direction": "after", "steps": 4, "start": START, "end": LAST,
              "collapse": False, "grouping": "type", "channel": None, "passive": PASSIVE}
    values.update(kw)
    for name, day in (("from_utc", values["start"]), ("to_utc", values["end"] + timedelta(days=1))):
        values[name] = datetime.combine(day, time(), tzinfo=zone).astimezone(dt.UTC).replace(tzinfo=None)
    return values


def breakdown(prop: str, tz: str = "UTC", top: list[str] | None = None) -> dict:
    return {**period(tz), "lo_day": START - timedelta(days=29), "limit": 5,
            "top": top or ["wechat_group", "douyin", "referral"], "attribution": timedelta(days=7)}


def _rows(prop: str) -> str:
    from engine.behaviour.breakdowns import ON_ROLLUP

    return "breakdown_rows_rollup" if prop in ON_ROLLUP else "breakdown_rows_events"


# (case id, query name, slots: named queries spliced in, values: {value} and the like, parameters)
CASES: list[tuple[str, str, dict, dict, dict]] = [
    ("audit_list", "audit_list", {}, {}, {"actor": None, "action": None, "since": None, "limit": 50}),
    ("campaign_effect", "campaign_effect", {}, {}, {"horizon": timedelta(days=14)}),
    ("category_list", "category_list", {}, {}, {}),
    ("channel_list", "channel_list", {}, {}, {}),
    ("churn_features", "churn_features", {}, {},
     {"cutoff": date(2026, 11, 15), "horizon": 30, "first_day": FIRST, "days": (date(2026, 11, 15) - FIRST).days}),
    ("churn_lifetimes-action", "churn_lifetimes", {}, {}, {"basis": "action"}),
    ("churn_lifetimes-purchase", "churn_lifetimes", {}, {}, {"basis": "purchase"}),
    ("content_posts", "content_posts", {}, {}, content("content")),
    ("content_posts-channel", "content_posts", {}, {}, content("content", channel="douyin")),
    ("content_trend", "content_trend", {}, {}, {**content("content"), "key": None}),
    ("content_trend-campaign", "content_trend", {}, {}, {**content("campaign"), "key": "cmp02"}),
    ("daily_active_users", "daily_active_users", {}, {}, period()),
    ("daily_active_users-channel", "daily_active_users", {}, {}, period(channel="douyin")),
    ("daily_events_by_type", "daily_events_by_type", {}, {}, period()),
    ("daily_events_by_type-channel", "daily_events_by_type", {}, {}, period(channel="referral")),
    ("event_type_list", "event_type_list", {}, {}, {}),
    ("experiment_assignments", "experiment_assignments", {}, {}, {}),
    ("experiment_list", "experiment_list", {"assignments": "experiment_assignments"}, {}, {}),
    ("experiment_users", "experiment_users", {"assignments": "experiment_assignments"}, {},
     {"experiment": "new_checkout"}),
    ("growth_series", "growth_series", {}, {}, {}),
    ("history_start", "history_start", {}, {}, {}),
    ("interaction_edges", "interaction_edges", {}, {}, {}),
    ("interest_tags", "interest_tags", {}, {}, {"lookback": 180, "half_life": 30.0, "top": 5}),
    ("lifecycle-day", "lifecycle", {}, {}, {**period(), "period": "day"}),
    ("lifecycle-week", "lifecycle", {}, {}, {**period(start=FIRST), "period": "week"}),
    ("lifecycle-month", "lifecycle", {}, {}, {**period(start=FIRST), "period": "month"}),
    ("lifecycle-week-channel", "lifecycle", {}, {}, {**period(channel="douyin"), "period": "week"}),
    ("portrait_profile", "portrait_profile", {}, {}, {}),
    ("rec_fingerprint", "rec_fingerprint", {}, {}, {}),
    ("rec_interactions", "rec_interactions", {}, {}, {}),
    ("rec_items", "rec_items", {}, {}, {}),
    ("rec_known_users", "rec_known_users", {}, {}, {}),
    ("referral_edges", "referral_edges", {}, {}, {}),
    ("rfm_scores", "rfm_scores", {}, {}, {"as_of": LAST, "lookback": 365, "channel": None}),
    ("rfm_scores-channel", "rfm_scores", {}, {}, {"as_of": LAST - timedelta(days=10), "lookback": 30,
                                                   "channel": "wechat_group"}),
    ("rolling_active_users-7", "rolling_active_users", {}, {}, {**period(), "window": 7}),
    ("rolling_active_users-30", "rolling_active_users", {}, {}, {**period(channel="douyin"), "window": 30}),
    ("segment_compare", "segment_compare", {}, {}, {"since": LAST - timedelta(days=29),
                                                   "before": LAST - timedelta(days=59)}),
    ("uploads_list", "uploads_list", {}, {}, {}),
    ("user_search", "user_search", {}, {}, {"prefix": "U00001", "limit": 20}),
    ("user_summary", "user_summary", {}, {}, {"user_id": "u000017"}),
    ("user_timeline", "user_timeline", {}, {}, {"user_id": "u000017", "limit": 500}),
    ("warehouse_summary", "warehouse_summary", {}, {}, {}),
    ("path_steps-after", "path_steps", {}, {}, paths()),
    ("path_steps-before-category", "path_steps", {}, {},
     paths("Asia/Shanghai", event="purchase", direction="before", grouping="category", steps=5)),
    ("path_steps-collapse", "path_steps", {}, {}, paths(collapse=True, channel="douyin", event="click")),
    ("retention_members", "retention_members", {}, {}, retention()),
    ("retention_matrix", "retention_matrix", {"members": "retention_members"}, {}, retention()),
    ("retention_matrix-any-day", "retention_matrix", {"members": "retention_members"}, {},
     retention(period="day", start_event="any", return_event="any", mode="on_or_after",
               **{"from": LAST - timedelta(days=20)})),
    ("retention_matrix-month-channel", "retention_matrix", {"members": "retention_members"}, {},
     retention(period="month", start_event="view", return_event="any", breakdown="channel", first_time=False,
               clip=True)),
    ("retention_matrix-sunday-segment", "retention_matrix", {"members": "retention_members"}, {},
     retention(start_event="any", return_event="view", week_start="sunday", breakdown="segment",
               segment="Buyers", min_returns=2)),
    ("retention_matrix-community", "retention_matrix", {"members": "retention_members"}, {},
     retention(start_event="join_group", return_event="any", breakdown="community")),
    ("retention_cell_users", "retention_cell_users", {"members": "retention_members"}, {},
     {**retention(start_event="any", return_event="any"), "segment": "All users", "cohort": date(2026, 10, 12),
      "n": 2}),
    ("retention_cell_users-after", "retention_cell_users", {"members": "retention_members"}, {},
     {**retention(start_event="any", return_event="any", mode="on_or_after"), "segment": "All users",
      "cohort": date(2026, 10, 19), "n": 1}),
]
for _tz in ZONES:
    _z = "" if _tz == "UTC" else "-" + _tz.split("/")[-1].lower()
    CASES += [
        (f"campaign_daily{_z}", "campaign_daily", {}, {}, {"tz": _tz}),
        (f"event_days{_z}", "event_days", {}, {}, {"tz": _tz}),
        (f"upload_days{_z}", "upload_days", {}, {}, {"tz": _tz, "upload_id": 1}),
        (f"portrait_habits{_z}", "portrait_habits", {}, {}, {"tz": _tz}),
        (f"kpi_summary{_z}", "kpi_summary", {}, {}, period(_tz)),
        (f"kpi_summary-channel{_z}", "kpi_summary", {}, {}, period(_tz, "douyin", LAST - timedelta(days=6))),
        (f"community_leaderboard{_z}", "community_leaderboard", {"joins": "community_members"}, {}, period(_tz)),
        (f"community_trend{_z}", "community_trend", {"joins": "community_members"}, {},
         {**period(_tz, start=FIRST), "period": "week"}),
        (f"community_trend-month{_z}", "community_trend", {"joins": "community_members"}, {},
         {**period(_tz, "wechat_group", FIRST), "period": "month"}),
        (f"content_performance-content{_z}", "content_performance", {}, {}, content("content", _tz)),
        (f"content_performance-campaign{_z}", "content_performance", {}, {}, content("campaign", _tz)),
        (f"content_performance-channel{_z}", "content_performance", {}, {}, content("channel", _tz, "douyin")),
        (f"k_factor-week{_z}", "k_factor", {"edges": "referral_edges"}, {}, {"period": "week", "tz": _tz}),
        (f"k_factor-month{_z}", "k_factor", {"edges": "referral_edges"}, {}, {"period": "month", "tz": _tz}),
    ]
    for _prop in ("acquisition_channel", "channel", "category", "city"):
        _slots = {"rows": _rows(_prop)}
        _values = {"value": PROPERTIES[_prop][0]}
        CASES += [
            (f"breakdown_top_values-{_prop}{_z}", "breakdown_top_values", _slots, _values, breakdown(_prop, _tz)),
            (f"kpi_breakdown-{_prop}{_z}", "kpi_breakdown", _slots, _values, breakdown(_prop, _tz)),
        ]
    CASES += [
        (f"engagement_breakdown-{p}{_z}", "engagement_breakdown", {}, {"value": PROPERTIES[p][0]},
         breakdown(p, _tz, top)) for p, top in (("channel", None), ("category", ["pet", "home"]),
                                                 ("city", ["Shanghai", "Beijing"]))
    ]

CASES += [
    ("audit_list-filtered", "audit_list", {}, {},
     {"actor": "ops", "action": None, "since": datetime(2026, 11, 20), "limit": 2}),
    ("audit_list-since-date", "audit_list", {}, {}, {"actor": None, "action": "import", "since": date(2026, 11, 1),
                                                     "limit": 50}),
    ("user_summary-unknown", "user_summary", {}, {}, {"user_id": "nobody"}),
    ("user_search-none", "user_search", {}, {}, {"prefix": "zz", "limit": 20}),
    ("content_trend-channel-key", "content_trend", {}, {}, {**content("channel"), "key": "douyin"}),
    ("experiment_users-aa", "experiment_users", {"assignments": "experiment_assignments"}, {},
     {"experiment": "homepage_banner_aa"}),
    ("kpi_summary-short", "kpi_summary", {}, {}, period("Asia/Shanghai", None, LAST, LAST)),
    ("segment_compare-early", "segment_compare", {}, {}, {"since": FIRST + timedelta(days=20), "before": FIRST}),
]

#: retention read from the raw events (engine.behaviour.retention._raw_members_sql): hours, property breakdowns,
#: matched returns; (case id, query name, RetentionQuery fields, extra parameters)
RAW_RETENTION: list[tuple[str, str, dict, dict]] = [
    ("raw-hour", "retention_matrix", {"period": "hour", "start_event": "view", "return_event": "any"}, {}),
    ("raw-week-category", "retention_matrix",
     {"start_event": "view", "return_event": "purchase", "breakdown": "category"}, {}),
    ("raw-day-match-category", "retention_matrix",
     {"period": "day", "start_event": "view", "return_event": "purchase", "match_property": "category",
      "mode": "on_or_after"}, {}),
    ("raw-month-event-channel", "retention_matrix",
     {"period": "month", "start_event": "any", "return_event": "any", "breakdown": "event_channel",
      "first_time": False}, {}),
    ("raw-cell-users", "retention_cell_users",
     {"period": "day", "start_event": "view", "return_event": "view", "match_property": "item"},
     {"segment": "All users", "cohort": date(2026, 11, 2), "n": 1}),
]

#: cases whose answers still differ, and why (none left: add one here with its reason, never silently)
XFAIL: dict[str, str | None] = {}


# --- the two warehouses ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def warehouses(chdb_warehouses):
    """The shared pair (tests/conftest.py): chDB opens one data folder per process."""
    return chdb_warehouses


def duckdb_sql(name: str, slots: dict, values: dict) -> str:
    sql = warehouse.compose_query(name, **slots)
    for key, text in values.items():
        sql = sql.replace("{" + key + "}", text)
    return sql


def clickhouse_sql(name: str, slots: dict, values: dict) -> str:
    sql = clickhouse.compose_query(name, **slots)
    for key, text in values.items():
        replaced = sql.replace("{" + key + "}", text)
        sql = clickhouse.Query(replaced) if isinstance(sql, clickhouse.Query) else replaced
    return sql


# --- comparison -----------------------------------------------------------------------------------

def _cell(value: object) -> object:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        return tuple(_cell(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _cell(v)) for k, v in value.items()))
    if isinstance(value, (pd.Timestamp, datetime, date, np.datetime64)):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return ("time", stamp.isoformat())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating, decimal.Decimal)):
        number = float(value)
        if math.isnan(number):
            return None
        if number.is_integer() and abs(number) < 2 ** 53:
            return int(number)
        return float(f"{number:.6g}")
    if isinstance(value, pd.Timedelta):
        return ("interval", value.value)
    return value


def canonical(frame: pd.DataFrame) -> list[tuple]:
    rows = [tuple(_cell(v) for v in row) for row in frame.astype(object).itertuples(index=False, name=None)]
    return sorted(rows, key=repr)


def assert_same(duck: pd.DataFrame, ch: pd.DataFrame) -> None:
    assert list(ch.columns) == list(duck.columns), "columns differ"
    assert len(ch) == len(duck), f"{len(duck)} rows on DuckDB, {len(ch)} on ClickHouse"
    a, b = canonical(duck), canonical(ch)
    for column, name in enumerate(duck.columns):
        left = [r[column] for r in a]
        right = [r[column] for r in b]
        if left != right:
            first = next(i for i, (x, y) in enumerate(zip(left, right, strict=True)) if x != y)
            raise AssertionError(f"column {name} differs from row {first}: DuckDB {a[first]!r}, "
                                 f"ClickHouse {b[first]!r}")


def _param(case: tuple) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=XFAIL[case[0]])] if case[0] in XFAIL else []
    return pytest.param(*case[1:], id=case[0], marks=marks)


@pytest.mark.parametrize(("name", "slots", "values", "params"), [_param(c) for c in CASES])
def test_same_answer(warehouses, name, slots, values, params):
    duck_con, ch = warehouses
    duck = warehouse.read_sql(duck_con, duckdb_sql(name, slots, values), params).df()
    assert len(duck) or name in ("user_search",), "the case must have rows to compare"
    answer = ch.execute(clickhouse_sql(name, slots, values), params).df()
    assert_same(duck, answer)


@pytest.mark.parametrize(("name", "fields", "extra"), [
    pytest.param(*c[1:], id=c[0], marks=[pytest.mark.xfail(strict=True, reason=XFAIL[c[0]])] if c[0] in XFAIL
                 else []) for c in RAW_RETENTION])
def test_same_answer_raw_retention(warehouses, name, fields, extra):
    from engine.behaviour import retention

    duck_con, ch = warehouses
    query = retention.RetentionQuery(**fields)
    assert query.from_raw_events
    members, more = retention._raw_members_sql(query)
    params = {**query.params(duck_con), **more, "tz": "Asia/Shanghai", **extra}
    duck = warehouse.read_sql(duck_con, warehouse.load_query(name).replace("{members}", members), params).df()
    assert len(duck), "the case must have rows to compare"
    answer = ch.execute(clickhouse.compose_text(clickhouse.load_query(name), members=members), params).df()
    assert_same(duck, answer)


#: global filters (engine.store.scope): the channel alone (the rollups' rows), an event property (rollups
#: recounted from the events), a user property with an event condition
FILTERS: dict[str, tuple] = {
    "channel": (("channel", "=", ("douyin",)),),
    "category": (("category", "in", ("pet", "home")),),
    "city+amount": (("city", "=", ("Shanghai",)), ("amount", ">", (100,))),
}


def _filtered(case: tuple, label: str) -> object:
    cid = f"{label}:{case[0]}"
    reason = XFAIL.get(cid, XFAIL.get(case[0]))
    return pytest.param(label, *case[1:], id=cid, marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason
                        else [])


@pytest.mark.parametrize(("label", "name", "slots", "values", "params"),
                         [_filtered(c, label) for label in FILTERS for c in CASES
                          if not c[0].startswith(("audit_list", "uploads_list", "rec_fingerprint"))
                          and not c[0].endswith("-new_york")])
def test_same_answer_filtered(warehouses, label, name, slots, values, params):
    """Every analysis reads through the page's global filter: clickhouse.read_sql scopes as the engine does."""
    from engine.store import scope
    from engine.store.filters import Condition

    duck_con, ch = warehouses
    conditions = [Condition(p, op, v) for p, op, v in FILTERS[label]]
    with scope.applied(conditions):
        duck = warehouse.read_sql(duck_con, duckdb_sql(name, slots, values), params).df()
        answer = clickhouse.read_sql(ch, clickhouse_sql(name, slots, values), params).df()
    assert_same(duck, answer)


def test_every_read_query_has_a_case():
    """New read queries get a parity case (or join the list of writes and parts)."""
    writes = ("demo_", "ingest_", "rollup_", "users_")
    parts = {"community_members", "experiment_assignments", "breakdown_rows_rollup", "breakdown_rows_events",
             "engagement_breakdown"}
    named = {c[1] for c in CASES} | {s for c in CASES for s in c[2].values()}
    for file in warehouse.QUERY_DIR.glob("*.sql"):
        if not file.stem.startswith(writes):
            assert file.stem in named or file.stem in parts, f"no parity case for {file.stem}"


def test_parameters():
    sql, values = clickhouse.to_clickhouse(
        "select $s as s, $d as d, $t as t, $n as n, $a as a, $i as i, $b as b, $f as f",
        {"s": "a\tb\\c\n", "d": date(2026, 1, 2), "t": datetime(2026, 1, 2, 3, 4, 5, 6), "n": None,
         "a": ["x", "y'z"], "i": [1, 2], "b": True, "f": 0.5, "unused": 1})
    assert "{s:String}" in sql and "{d:Date}" in sql and "{t:DateTime64(6, 'UTC')}" in sql
    assert "{n:Nullable(String)}" in sql and "{a:Array(String)}" in sql and "{i:Array(Int64)}" in sql
    assert values == {"s": "a\\tb\\\\c\\n", "d": "2026-01-02", "t": "2026-01-02 03:04:05.000006", "n": "\\N",
                      "a": "['x','y\\'z']", "i": "[1,2]", "b": "true", "f": "0.5"}


def test_parameters_round_trip(warehouses):
    _, ch = warehouses
    values = {"s": "a\tb\\c\n'\"\r", "a": ["x", "y'z", "back\\slash"], "n": None, "d": date(2026, 1, 2)}
    row = ch.execute("select $s as s, $a as a, $n as n, $d as d", values).fetchone()
    assert row[0] == values["s"] and list(row[1]) == values["a"] and row[2] is None
    assert pd.Timestamp(row[3]).date() == values["d"]


def test_ddl_cluster():
    with warehouse.schema_connection() as schema:
        local = clickhouse.ddl(schema)
        sharded = clickhouse.ddl(schema, "pond")
    assert any("PARTITION BY toYYYYMM(event_time)" in s and "ORDER BY (user_id, event_time)" in s for s in local)
    assert any("Distributed(pond, currentDatabase(), events_local, cityHash64(user_id))" in s for s in sharded)
    assert any("ReplicatedMergeTree" in s for s in sharded)


def test_ddl_runs(warehouses):
    _, ch = warehouses  # chDB opens one folder per process: a database of its own in the same one
    ch.command("create database if not exists ddl_check")
    ch.command("use ddl_check")
    try:
        with warehouse.schema_connection() as schema:
            for statement in clickhouse.ddl(schema):
                ch.command(statement)
        tables = set(ch.execute_native("select name from system.tables where database = 'ddl_check'").df()["name"])
        assert {"events", "users", "user_day", "user_day_type", "daily_events", "content_day"} <= tables
        types = dict(ch.execute_native("select name, type from system.columns where table = 'events' "
                                       "and database = 'ddl_check'").fetchall())
        assert types["event_id"] == "UInt128" and types["user_id"] == "String"
        assert types["event_time"] == "DateTime64(6, 'UTC')" and types["amount"] == "Nullable(Float64)"
    finally:
        ch.command("use default")
        ch.command("drop database if exists ddl_check")


def test_copy_keeps_types_and_rows(warehouses):
    duck_con, ch = warehouses
    types = dict(ch.execute_native("select name, type from system.columns where table = 'user_day' "
                                   "and database = currentDatabase()").fetchall())
    assert types["day"] == "Date" and types["channel"] == "Nullable(String)" and types["gmv"] == "Nullable(Float64)"
    for table in ("events", "users", "user_day", "items", "contents"):
        assert ch.execute_native(f"select count() as n from {table}").fetchone()[0] == \
            duck_con.execute(f"select count(*) from {table}").fetchone()[0]
    # event ids survive the trip through text (DuckDB's uhugeint, ClickHouse's UInt128)
    duck_ids = duck_con.execute("select cast(sum(event_id % 1000003) as bigint), cast(max(event_id) as varchar) "
                                "from events").fetchone()
    ch_ids = ch.execute_native("select toInt64(sum(event_id % 1000003)), toString(max(event_id)) from events").fetchone()
    assert tuple(ch_ids) == duck_ids


def test_connection_api(warehouses):
    _, ch = warehouses
    cursor = ch.execute("select user_id, first_seen from users where user_id < $below order by user_id",
                        {"below": "u000003"})
    assert cursor is ch and [d[0] for d in ch.description] == ["user_id", "first_seen"]
    first = ch.fetchone()
    assert first[0] == "u000000" and isinstance(first[1], datetime)
    assert [r[0] for r in ch.fetchall()] == ["u000001", "u000002"]
    assert ch.fetchone() is None
    assert ch.execute("select count(*) as n from events").fetchdf()["n"].iloc[0] > 0
    assert isinstance(clickhouse.load_query("rec_items"), clickhouse.Query)
    assert not isinstance(clickhouse.load_query("kpi_summary"), clickhouse.Query)
    assert ch.run_query("rec_fingerprint")["events"].iloc[0] > 0
