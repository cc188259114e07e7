"""Segment builder: users who match conditions on behaviour, properties and RFM segment.

A segment is plain data (JSON): ``{"match": "all" | "any", "conditions": [...]}`` where each
condition is one of

- ``{"kind": "event", "event": "purchase", "op": ">=", "count": 2, "days": 30, "category": null}``:
  did the event ``op count`` times in the last ``days`` days of data (optionally in one category);
  ``op "="`` with ``count 0`` is "never";
- ``{"kind": "property", "field": "acquisition_channel" | "gender" | "age_band" | "city",
  "values": [...]}``: the user's property is one of the values;
- ``{"kind": "rfm", "values": ["Champions", ...]}``: the user's RFM segment today (default rules,
  365-day lookback) is one of the values;
- ``{"kind": "tag", "values": ["category:skincare", ...]}``: one of the user's top interest tags
  (see :mod:`engine.customers.tags`) is one of the values;
- ``{"kind": "churn" | "propensity", "values": ["high", ...]}``: the user's band of churn risk or
  purchase propensity in the next 30 days (see :mod:`engine.predictions.churn`; active users only);
- ``{"kind": "list", "values": ["Viewed then left"]}``: one of the users of a static list, stored in
  the table ``segment_user_lists`` under that name (saved with :func:`save_user_list`, e.g. the users
  through a node of the Paths page); the list does not change with new data.

Each condition becomes a CTE assembled from fixed fragments: field names and operators come from
whitelists, and every value the user typed is a bound parameter. "The last N days" end on the last
business day with data, so an old export is segmented as of its own end.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store import backend
from engine.store.warehouse import business_timezone, run_query, write_transaction

OPERATORS = {">=": ">=", "<=": "<=", "=": "=", ">": ">", "<": "<"}
PROPERTIES = {"acquisition_channel": "acquisition_channel", "gender": "gender", "age_band": "age_band",
              "city": "city"}
KINDS = ("event", "property", "rfm", "tag", "churn", "propensity", "list")
#: Bands of churn risk and purchase propensity (see engine.predictions.churn), highest first.
SCORE_BANDS = ("high", "medium", "low")


@dataclass(frozen=True)
class Condition:
    kind: str
    event: str | None = None
    op: str = ">="
    count: int = 1
    days: int = 30
    category: str | None = None
    field: str | None = None
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # keep only what this kind uses, so equal segments compare (and save) equal
        defaults = {"event": None, "op": ">=", "count": 1, "days": 30, "category": None, "field": None,
                    "values": ()}
        used = {"event": ("event", "op", "count", "days", "category"), "property": ("field", "values"),
                "rfm": ("values",), "tag": ("values",), "churn": ("values",),
                "propensity": ("values",), "list": ("values",)}.get(self.kind, tuple(defaults))
        for name, default in defaults.items():
            if name not in used:
                object.__setattr__(self, name, default)
        object.__setattr__(self, "values", tuple(self.values))

    def check(self, number: int) -> None:
        where = f"condition {number}"
        if self.kind not in KINDS:
            raise PondError(f"{where}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.kind == "event":
            if not self.event:
                raise PondError(f"{where}: choose an event type")
            if self.op not in OPERATORS:
                raise PondError(f"{where}: the comparison must be one of {' '.join(OPERATORS)}")
            if self.count < 0:
                raise PondError(f"{where}: the count cannot be negative")
            if not 1 <= self.days <= 3650:
                raise PondError(f"{where}: look back 1 to 3650 days, not {self.days}")
        elif self.kind == "property":
            if self.field not in PROPERTIES:
                raise PondError(f"{where}: the property must be one of {', '.join(PROPERTIES)}")
            if not self.values:
                raise PondError(f"{where}: choose at least one value of {self.field}")
        elif self.kind == "list":
            if len(self.values) != 1:
                raise PondError(f"{where}: a user list is named by one saved list")
        elif self.kind in ("churn", "propensity"):
            if not self.values or not set(self.values) <= set(SCORE_BANDS):
                raise PondError(f"{where}: choose bands among {', '.join(SCORE_BANDS)}")
        elif not self.values:
            raise PondError(f"{where}: choose at least one {'RFM segment' if self.kind == 'rfm' else 'tag'}")

    def describe(self) -> str:
        if self.kind == "event":
            what = f"{self.event}" + (f" in category {self.category}" if self.category else "")
            if self.op == "=" and self.count == 0:
                return f"never did {what} in the last {self.days} days"
            return f"did {what} {self.op} {self.count} times in the last {self.days} days"
        if self.kind == "property":
            return f"{self.field} is {' or '.join(self.values)}"
        if self.kind == "tag":
            return f"interested in {' or '.join(self.values)}"
        if self.kind == "churn":
            return f"churn risk is {' or '.join(self.values)}"
        if self.kind == "propensity":
            return f"purchase propensity is {' or '.join(self.values)}"
        if self.kind == "list":
            return f"in the user list {self.values[0]!r}"
        return f"RFM segment is {' or '.join(self.values)}"


@dataclass(frozen=True)
class SegmentDefinition:
    conditions: tuple[Condition, ...] = field(default_factory=tuple)
    match: str = "all"

    def check(self) -> None:
        if self.match not in ("all", "any"):
            raise PondError(f"match must be all or any, not {self.match!r}")
        for number, condition in enumerate(self.conditions, start=1):
            condition.check(number)

    def describe(self) -> str:
        if not self.conditions:
            return "everyone"
        joiner = " and " if self.match == "all" else " or "
        return joiner.join(c.describe() for c in self.conditions)

    def to_json(self) -> str:
        return json.dumps({"match": self.match, "conditions": [asdict(c) for c in self.conditions]},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | dict) -> SegmentDefinition:
        data = json.loads(text) if isinstance(text, str) else text
        try:
            conditions = tuple(Condition(**{**c, "values": tuple(c.get("values") or ())})
                               for c in data.get("conditions", []))
        except TypeError as exc:
            raise PondError(f"not a segment definition: {exc}") from exc
        return cls(conditions, data.get("match", "all"))


def _window_start(con: duckdb.DuckDBPyConnection, days: int) -> tuple[datetime, date]:
    """UTC instant and business day where "the last ``days`` days of data" begin."""
    last = con.execute("select max(day) from user_day").fetchone()[0] or date(1970, 1, 1)
    first_day = last - timedelta(days=days - 1)
    zone = ZoneInfo(business_timezone(con))
    start = datetime.combine(first_day, time(), tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    return start, first_day


def _condition_sql(con: duckdb.DuckDBPyConnection, k: int, condition: Condition, params: dict) -> str:
    if condition.kind == "event":
        since, first_day = _window_start(con, condition.days)
        params.update({f"c{k}_event": condition.event, f"c{k}_count": condition.count})
        if condition.category:
            params.update({f"c{k}_since": since, f"c{k}_category": condition.category})
            counted = (f"select user_id, count(*) as n from events where event_type = $c{k}_event "
                       f"and event_time >= $c{k}_since and category = $c{k}_category group by user_id")
        else:  # the rollup answers faster when no category is asked for
            params[f"c{k}_day"] = first_day
            counted = (f"select user_id, sum(events) as n from user_day_type where event_type = $c{k}_event "
                       f"and day >= $c{k}_day group by user_id")
        return (f"select u.user_id from users as u left join ({counted}) as c on c.user_id = u.user_id "
                f"where coalesce(c.n, 0) {OPERATORS[condition.op]} $c{k}_count")
    if condition.kind == "property":
        params[f"c{k}_values"] = list(condition.values)
        return f"select user_id from users where list_contains($c{k}_values, {PROPERTIES[condition.field]})"
    params[f"c{k}_values"] = list(condition.values)
    if condition.kind == "tag":
        return f"select distinct user_id from user_tags where list_contains($c{k}_values, tag)"
    if condition.kind == "churn":
        return f"select user_id from user_scores where list_contains($c{k}_values, churn_band)"
    if condition.kind == "propensity":
        return f"select user_id from user_scores where list_contains($c{k}_values, propensity_band)"
    if condition.kind == "list":
        return f"select distinct user_id from segment_user_lists where list_contains($c{k}_values, segment)"
    return f"select user_id from segment_rfm where list_contains($c{k}_values, segment)"


def _prepare(con: duckdb.DuckDBPyConnection, definition: SegmentDefinition) -> tuple[str, dict]:
    """SQL selecting the segment's user ids, and its parameters (sets up temp tables it needs)."""
    definition.check()
    if any(c.kind == "rfm" for c in definition.conditions):
        from engine.customers.rfm import rfm_scores

        con.register("segment_rfm_frame", rfm_scores(con)[["user_id", "segment"]])
        con.execute("create or replace temp table segment_rfm as select * from segment_rfm_frame")
        con.unregister("segment_rfm_frame")
    if any(c.kind == "tag" for c in definition.conditions):
        from engine.customers.tags import ensure_interest_tags

        ensure_interest_tags(con)
    if any(c.kind in ("churn", "propensity") for c in definition.conditions):
        from engine.predictions.churn import ensure_scores

        ensure_scores(con)
    params: dict = {}
    parts = [_condition_sql(con, k, c, params) for k, c in enumerate(definition.conditions, start=1)]
    if not parts:
        return "select user_id from users", params
    combine = "\nintersect\n" if definition.match == "all" else "\nunion\n"
    return combine.join(f"({p})" for p in parts), params


def segment_users(con: duckdb.DuckDBPyConnection, definition: SegmentDefinition) -> pd.DataFrame:
    """The segment's users with their properties, first and last seen (for preview and export)."""
    sql, params = _prepare(con, definition)
    return con.execute(
        f"select u.user_id, u.acquisition_channel, u.gender, u.age_band, u.city, u.first_seen, u.last_seen "
        f"from users as u where u.user_id in ({sql}) order by u.last_seen desc nulls last, u.user_id",
        params,
    ).df()


def segment_count(con: duckdb.DuckDBPyConnection, definition: SegmentDefinition) -> int:
    sql, params = _prepare(con, definition)
    return con.execute(f"select count(*) from ({sql})", params).fetchone()[0]


def compare_with_everyone(con: duckdb.DuckDBPyConnection, definition: SegmentDefinition) -> pd.DataFrame:
    """Conversion, order value, activity and retention of the segment against all users, with lift.

    Over the last 30 days of data: ``buyers`` = share who purchased, ``order_value`` = GMV per
    order, ``active`` = share with an action of their own, ``retained`` = share of the users active
    in the 30 days before who were active again.
    """
    sql, params = _prepare(con, definition)
    con.execute(f"create or replace temp table segment_members as {sql}", params)
    try:
        _, first_day = _window_start(con, 30)
        frame = run_query(con, "segment_compare",
                          {"since": first_day, "before": first_day - timedelta(days=30)})
    finally:
        con.execute("drop table if exists segment_members")
    everyone = frame[frame["who"] == "everyone"].iloc[0]
    members = frame[frame["who"] == "segment"]  # no row when nobody matches: every figure is then NaN
    rows = []
    labels = (("buyers", "Bought (last 30 days)"), ("order_value", "GMV per order"),
              ("active", "Active (last 30 days)"), ("retained", "Retained from the 30 days before"))
    for metric, label in labels:
        seg = float(members.iloc[0][metric]) if len(members) else float("nan")
        base = everyone[metric]
        rows.append({"metric": metric, "label": label, "segment": seg, "everyone": base,
                     "lift": seg / base if base and not pd.isna(seg) else float("nan")})
    return pd.DataFrame(rows)


def save_segment(con: duckdb.DuckDBPyConnection, name: str, definition: SegmentDefinition, *,
                 created_by: str = "dashboard") -> None:
    """Save (or overwrite) a named segment; the definition is checked first."""
    name = name.strip()
    if not name:
        raise PondError("give the segment a name")
    if len(name) > 100:
        raise PondError("keep segment names under 100 characters")
    definition.check()
    with write_transaction(con, steps_on_clickhouse=True):
        con.execute("delete from segments where name = ?", [name])
        con.execute("insert into segments values (?, ?, ?, ?)", [name, definition.to_json(), _now(), created_by])


def save_user_list(con: duckdb.DuckDBPyConnection, name: str, user_ids, *, created_by: str = "dashboard",
                   description: str = "") -> SegmentDefinition:
    """Save (or overwrite) a static segment of exactly these users (e.g. the users through a Paths node).

    The segment's definition is one ``list`` condition; its users are kept in ``segment_user_lists``
    under the segment's name, so the segment does not change when new data arrives.
    """
    name = name.strip()
    users = sorted({str(u) for u in user_ids if u is not None and str(u) != ""})
    if not users:
        raise PondError("there are no users to save: pick a node that some users went through")
    definition = SegmentDefinition((Condition("list", values=(name,)),))
    if not name:
        raise PondError("give the segment a name")
    if len(name) > 100:
        raise PondError("keep segment names under 100 characters")
    frame = pd.DataFrame({"segment": name, "user_id": users})
    with write_transaction(con, steps_on_clickhouse=True):
        con.execute("delete from segments where name = ?", [name])
        con.execute("delete from segment_user_lists where segment = ?", [name])
        if backend.dialect(con) == "clickhouse":
            from engine.store import chwrites

            chwrites.append_frame(con, "segment_user_lists", frame)
        else:
            con.register("segment_list_frame", frame)
            try:
                con.execute("insert into segment_user_lists select segment, user_id from segment_list_frame")
            finally:
                con.unregister("segment_list_frame")
        con.execute("insert into segments values (?, ?, ?, ?)", [name, definition.to_json(), _now(), created_by])
    return definition


def _now() -> datetime:
    """Now in UTC, as the warehouse keeps times."""
    return datetime.now(UTC).replace(tzinfo=None)


def user_lists(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the saved static user lists."""
    return [r[0] for r in con.execute("select distinct segment from segment_user_lists order by 1").fetchall()]


def load_segment(con: duckdb.DuckDBPyConnection, name: str) -> SegmentDefinition:
    row = con.execute("select definition from segments where name = ?", [name]).fetchone()
    if row is None:
        raise PondError(f"there is no saved segment named {name!r}; `python -m engine query segments` "
                        "lists them")
    return SegmentDefinition.from_json(row[0])


def saved_segments(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("select name, definition, saved_at, saved_by from segments order by name").df()


def delete_segment(con: duckdb.DuckDBPyConnection, name: str) -> None:
    with write_transaction(con, steps_on_clickhouse=True):
        con.execute("delete from segments where name = ?", [name])
        con.execute("delete from segment_user_lists where segment = ?", [name])


def property_values(con: duckdb.DuckDBPyConnection, field: str) -> list[str]:
    """Values a user property takes, most common first (for the builder's pickers)."""
    if field not in PROPERTIES:
        raise PondError(f"the property must be one of {', '.join(PROPERTIES)}")
    column = PROPERTIES[field]
    rows = con.execute(f"select {column} from users where {column} is not null group by 1 "
                       "order by count(*) desc, 1 limit 500").fetchall()
    return [r[0] for r in rows]


def categories(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Item categories seen in events, most frequent first."""
    return run_query(con, "category_list")["category"].tolist()


OUTSIDE_SEGMENT = "Everyone else"


def materialise_segment(con: duckdb.DuckDBPyConnection, name: str | None) -> None:
    """Temp table ``segment_members(user_id)``: the saved segment's users, or empty for None.

    Analyses that break down by a saved segment join it; it always exists so that their SQL binds.
    """
    con.execute("create or replace temp table segment_members (user_id varchar)")
    if name:
        sql, params = _prepare(con, load_segment(con, name))
        con.execute(f"insert into segment_members {sql}", params)
