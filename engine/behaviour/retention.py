"""Cohort retention: do users who did a start event come back and do a return event?

Semantics (as in Amplitude and Mixpanel):

- A *cohort* is the calendar period (business day; week, starting Monday or, with
  ``week_start="sunday"``, Sunday; or month) of a user's start event: their first one ever
  (``first_time=True``), or every period with one (recurring).
- Period 0 is the cohort itself (100%). A user counts in period n >= 1 if they did the return event
  in the n-th period after the cohort's (``mode="on"``), or in that period or any later one
  (``mode="on_or_after"``, unbounded retention). With ``min_returns=N`` a period counts only
  when the user did the return event at least N times in it.
- Cohorts are whole periods (as in PostHog): a weekly cohort of a range that starts on a Sunday
  holds the users whose start event fell anywhere in that Monday-to-Sunday week. With ``clip=True``
  only start events on the range's days count, so a cohort never reaches past the range. Either
  way ``cohort_from`` and ``cohort_to`` give the days a cohort's start events may lie on.
- ``period="hour"``: hourly cohorts of the business time zone's clock, up to 72 hours after each,
  over at most 3 days of cohorts (the last 3 days of data by default); a cell is complete when its
  hour is not after the hour of the last event.
- ``match_property`` (category, campaign, item ...): a return counts only when it carries the start
  event's value of that property: the first start event's for first-time cohorts, any start event's
  of the cohort's period for recurring ones; a missing value never matches. With ``min_returns`` only
  the matching return events count. (Amplitude and Mixpanel offer this; PostHog does not.)
- ``start_where`` / ``return_where``: filters (:mod:`engine.store.filters`) on the start and the return
  event, e.g. the first purchase over 100 and a return to category 3.
- Hours, matching and event filters are read from raw events; the rest from the daily rollup.
- A cell is *complete* when its period has ended by the last day of data; incomplete cells are
  shown but left out of averages. ``any`` as an event means any action of the user's own
  (impressions and coupon pushes are not actions).

Everything is computed in DuckDB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store.filters import EVENT_PROPERTIES, USER_PROPERTIES, Condition, compile_conditions
from engine.store.warehouse import PASSIVE_EVENT_TYPES, business_timezone, load_query, read_sql, run_composed, run_query

#: event properties a return can be asked to share with the start event
MATCH_PROPERTIES = tuple(p for p, (_, kind) in EVENT_PROPERTIES.items() if kind == "text" and p != "event_type")

PERIODS = ("hour", "day", "week", "month")
MAX_HOURS = 72  # hourly retention: at most this many periods after a cohort, and 3 days of cohorts
MODES = ("on", "on_or_after")
#: breakdowns by a property of the cohort's start event: its column SQL (from engine.store.filters). The event's
#: channel is "event_channel": "channel" stays the user's acquisition channel
EVENT_BREAKDOWNS = {("event_channel" if p == "channel" else p): column
                    for p, (column, kind) in EVENT_PROPERTIES.items() if kind == "text" and p != "community"}
#: breakdowns by a text property of the user (those not already fixed breakdowns)
USER_BREAKDOWNS = {p: column for p, (column, kind) in USER_PROPERTIES.items()
                   if kind == "text" and p not in ("gender", "age_band", "city", "user")}
PROPERTY_BREAKDOWNS = (*EVENT_BREAKDOWNS, *USER_BREAKDOWNS)
BREAKDOWNS = ("none", "channel", "community", "segment", "gender", "age_band", "city", *PROPERTY_BREAKDOWNS)
ANY_EVENT = "any"


@dataclass(frozen=True)
class RetentionQuery:
    """What to compute; the defaults are first purchase -> purchase, weekly, first-time, "on"."""

    period: str = "week"
    start_event: str = "purchase"
    return_event: str = "purchase"
    first_time: bool = True
    mode: str = "on"
    start: date | None = None  # first cohort (default: the first day of data)
    end: date | None = None  # last cohort start (default: the last day of data)
    channel: str | None = None  # only users acquired through this channel
    breakdown: str = "none"
    breakdown_limit: int = 5  # property breakdowns: the top N values by cohort members, then Other, (none)
    segment: str | None = None  # saved segment for breakdown="segment"
    clip: bool = False  # only start events on the days [start, end] make a user a cohort member
    week_start: str = "monday"  # or "sunday"
    min_returns: int = 1  # return events a period needs before the user counts as back in it
    match_property: str | None = None  # the return must share the start event's value (category, item ...)
    start_where: tuple[Condition, ...] = ()  # filters on the start event
    return_where: tuple[Condition, ...] = ()  # filters on the return event

    def __post_init__(self) -> None:
        for name, value, allowed in (("period", self.period, PERIODS), ("mode", self.mode, MODES),
                                     ("breakdown", self.breakdown, BREAKDOWNS)):
            if value not in allowed:
                raise PondError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        if self.start and self.end and self.end < self.start:
            raise PondError(f"the cohort range ends ({self.end}) before it starts ({self.start})")
        if not 1 <= self.breakdown_limit <= 100:
            raise PondError(f"a breakdown shows 1 to 100 values before Other, not {self.breakdown_limit}")
        if self.breakdown == "segment" and not self.segment:
            raise PondError("choose the saved segment to break down by")
        if self.week_start not in ("monday", "sunday"):
            raise PondError(f"a week starts on monday or sunday, not {self.week_start!r}")
        if not 1 <= self.min_returns <= 1000:
            raise PondError(f"a period needs 1 to 1,000 return events, not {self.min_returns}")
        if self.match_property is not None and self.match_property not in MATCH_PROPERTIES:
            raise PondError(f"a return can match the start event on {', '.join(MATCH_PROPERTIES)}, "
                            f"not {self.match_property!r}")
        if self.period == "hour" and self.start and self.end and (self.end - self.start).days >= MAX_HOURS // 24:
            raise PondError(f"hourly retention follows up to {MAX_HOURS // 24} days of cohorts; "
                            f"choose at most {MAX_HOURS // 24} days, or daily periods")

    @property
    def from_raw_events(self) -> bool:
        """Hours, property matching and event filters need the events themselves, not the daily rollup."""
        return (self.period == "hour" or self.breakdown in PROPERTY_BREAKDOWNS
                or bool(self.match_property or self.start_where or self.return_where))

    def params(self, con: duckdb.DuckDBPyConnection) -> dict:
        bounds = con.execute("select min(day), max(day) from user_day_type").fetchone()
        end = self.end or bounds[1] or date(1970, 1, 1)
        start = self.start or bounds[0] or date(1970, 1, 1)
        if self.period == "hour" and not self.start:  # the last days of data, not the whole history
            start = max(start, end - timedelta(days=MAX_HOURS // 24 - 1))
        values = {k: v for k, v in asdict(self).items()
                  if k not in ("start", "end", "start_where", "return_where")}
        return {**values, "from": start, "to": end, "passive": list(PASSIVE_EVENT_TYPES),
                "max_periods": MAX_HOURS if self.period == "hour" else 100_000}


def _bucket(period: str, moment: str) -> str:
    """SQL for the first instant of the period holding ``moment`` (a local timestamp or date)."""
    if period == "hour":
        return f"date_trunc('hour', {moment})"
    if period == "week":  # Sunday weeks are Monday weeks shifted by a day
        return (f"case when $week_start = 'sunday' "
                f"then cast(date_trunc('week', cast({moment} as date) + 1) as date) - 1 "
                f"else cast(date_trunc('week', cast({moment} as date)) as date) end")
    return f"cast(date_trunc('{period}', cast({moment} as date)) as date)"


def _raw_members_sql(query: RetentionQuery) -> tuple[str, dict]:
    """The members query of retention_members.sql, read from raw events: hourly periods, a start and a
    return event with filters, and returns that must share the start event's property value.

    The SQL is assembled here because the filters vary; it names only our own columns (see
    :mod:`engine.store.filters`) and binds every value."""
    start_sql, start_params = compile_conditions(query.start_where, prefix="rs")
    return_sql, return_params = compile_conditions(query.return_where, prefix="rr")
    needs_users = any(c.is_user_property for c in (*query.start_where, *query.return_where))
    # a property breakdown: the start event's value (the first start event of the cohort) or the user's
    event_value = EVENT_BREAKDOWNS.get(query.breakdown, "cast(null as varchar)")
    if query.breakdown in USER_BREAKDOWNS:
        segment_value = f"(select cast({USER_BREAKDOWNS[query.breakdown]} as varchar) from users as u " \
                        "where u.user_id = c.user_id)"
    elif query.breakdown in EVENT_BREAKDOWNS:
        segment_value = "c.breakdown_value"
    else:
        segment_value = None
    join_users = "left join users as u on u.user_id = e.user_id" if needs_users else ""
    value = EVENT_PROPERTIES[query.match_property][0] if query.match_property else "cast(null as varchar)"
    if query.period == "week":
        steps = "cast((r.period_start - m.cohort) // 7 as integer)"
    else:
        steps = f"cast(datediff('{query.period}', m.cohort, r.period_start) as integer)"
    if query.period == "hour":
        in_cohorts = ("c.cohort >= cast($from as timestamp) "
                      "and c.cohort < cast($to as timestamp) + interval 1 day")
        last_day = "date_trunc('hour', max(local_time))"
    else:
        in_cohorts = f"c.cohort between {_bucket(query.period, 'cast($from as date)')} and $to"
        last_day = "max(cast(local_time as date))"
    if query.match_property:
        # a start value per cohort: the first start event's (first-time cohorts) or any start event's in
        # the cohort's period (recurring); a return counts when it carries one of them
        start_values = ("select user_id, min(cohort) as cohort, arg_min(match_value, local_time) as match_value "
                        "from started group by user_id" if query.first_time else
                        "select distinct user_id, cohort, match_value from started")
        returns_join = """join start_values as v on v.user_id = m.user_id and v.cohort = m.cohort
        join return_events as r on r.user_id = m.user_id and r.period_start > m.cohort
            and r.match_value = v.match_value"""
    else:
        start_values = "select user_id, cohort, match_value from started where false"
        returns_join = "join return_events as r on r.user_id = m.user_id and r.period_start > m.cohort"
    if segment_value is None:
        members_sql = f"""    cohort_members as (
        select a.segment, c.cohort, c.user_id
        from cohorts as c
        join members_attributes as a on a.user_id = c.user_id
        where {in_cohorts} and (not $clip or c.in_range)
    ),"""
    else:  # the top $breakdown_limit values by cohort members, then Other, then (none)
        members_sql = f"""    valued_members as (
        select {segment_value} as value, c.cohort, c.user_id
        from cohorts as c
        join members_attributes as a on a.user_id = c.user_id
        where {in_cohorts} and (not $clip or c.in_range)
    ),

    top_values as (
        select value from valued_members where value is not null
        group by value order by count(*) desc, value limit $breakdown_limit
    ),

    cohort_members as (
        select
            case when m.value is null then '(none)' when t.value is not null then m.value else 'Other' end
                as segment,
            m.cohort, m.user_id
        from valued_members as m
        left join top_values as t on t.value = m.value
    ),"""
    attributes = load_query("retention_members").split("members_first_community as (", 1)[1]
    attributes = attributes.split("members_in_range as (", 1)[0]
    sql = f"""with scoped as (
        select
            e.user_id,
            (e.event_time at time zone 'UTC') at time zone $tz as local_time,
            cast({value} as varchar) as match_value,
            cast({event_value} as varchar) as breakdown_value,
            (e.event_type = $start_event or ($start_event = 'any' and not list_contains($passive, e.event_type)))
                and {start_sql} as is_start,
            (e.event_type = $return_event or ($return_event = 'any' and not list_contains($passive, e.event_type)))
                and {return_sql} as is_return
        from events as e
        {join_users}
    ),

    data_end as (
        select {last_day} as last_day from scoped
    ),

    started as (
        select user_id, local_time, match_value, breakdown_value, {_bucket(query.period, 'local_time')} as cohort,
            cast(local_time as date) between $from and $to as on_range_day
        from scoped
        where is_start
    ),

    starts as (
        select user_id, cohort, min(local_time) as first_time, bool_or(on_range_day) as in_range,
            arg_min_null(breakdown_value, local_time) as breakdown_value
        from started
        group by user_id, cohort
    ),

    first_starts as (
        select user_id, min(cohort) as cohort, min(first_time) as first_time,
            arg_min_null(breakdown_value, first_time) as breakdown_value
        from starts group by user_id
    ),

    cohorts as (
        select user_id, cohort, cast(first_time as date) between $from and $to as in_range, breakdown_value
        from first_starts where $first_time
        union all
        select user_id, cohort, in_range, breakdown_value from starts where not $first_time
    ),

    start_values as (
        {start_values}
    ),

    members_first_community as ({attributes}
{members_sql}

    return_events as (
        select user_id, {_bucket(query.period, 'local_time')} as period_start, match_value, count(*) as events
        from scoped
        where is_return
        group by all
    ),

    came_back as (
        select m.segment, m.cohort, m.user_id, r.period_start
        from cohort_members as m
        {returns_join}
        group by m.segment, m.cohort, m.user_id, r.period_start
        having sum(r.events) >= $min_returns
    ),

    returned as (
        select
            m.segment, m.cohort, m.user_id,
            list(distinct {steps}) filter (where r.period_start is not null
                and {steps} <= $max_periods) as returns
        from cohort_members as m
        left join came_back as r on r.segment = m.segment and r.cohort = m.cohort and r.user_id = m.user_id
        group by m.segment, m.cohort, m.user_id
    ),

    retention_final as (
        select
            segment, cohort, user_id, coalesce(returns, []) as returns,
            coalesce(list_max(returns), 0) as last_n,
            (select last_day from data_end) as last_day
        from returned
    )

    select * from retention_final"""
    return sql, {**start_params, **return_params}


def _run(con: duckdb.DuckDBPyConnection, query_name: str, params: dict, query: RetentionQuery | None = None
         ) -> pd.DataFrame:
    from engine.customers.segments import materialise_segment

    materialise_segment(con, params["segment"] if params["breakdown"] == "segment" else None)
    try:
        if query is None or not query.from_raw_events:
            return run_composed(con, query_name, params, members="retention_members")
        members, extra = _raw_members_sql(query)
        sql = load_query(query_name).replace("{members}", members)
        params = {**params, **extra, "tz": business_timezone(con)}
        return read_sql(con, sql, params).df()
    finally:
        con.execute("drop table if exists segment_members")


def retention_matrix(con: duckdb.DuckDBPyConnection, query: RetentionQuery | None = None) -> pd.DataFrame:
    """One row per segment, cohort and period.

    Returns
    -------
    DataFrame
        ``segment, cohort, period, users, cohort_size, rate, complete, cohort_from, cohort_to``;
        ``cohort`` is the first day of the cohort's period, ``period`` counts periods after it (0 = the
        cohort itself), ``cohort_from``/``cohort_to`` the first and last day its members' start events
        may fall on (see :func:`cohort_span`).
    """
    query = query or RetentionQuery()
    params = query.params(con)
    frame = _run(con, "retention_matrix", params, query)
    if query.period == "hour":  # an hourly cohort is its hour (a local time), its start events lie in it
        frame = frame[frame["period"] <= MAX_HOURS].reset_index(drop=True)
        frame["cohort"] = pd.to_datetime(frame["cohort"])
        frame["cohort_from"] = frame["cohort_to"] = frame["cohort"]
    else:
        frame["cohort"] = pd.to_datetime(frame["cohort"]).dt.date
        spans = {c: cohort_span(c, query.period, params["from"], params["to"], clip=query.clip)
                 for c in frame["cohort"].unique()}
        frame["cohort_from"] = frame["cohort"].map(lambda c: spans[c][0])
        frame["cohort_to"] = frame["cohort"].map(lambda c: spans[c][1])
    return frame.astype({"period": "int64", "users": "int64", "cohort_size": "int64", "complete": "bool"})


def period_last_day(first: date, period: str) -> date:
    """The last day of the day, week (Monday to Sunday) or month that starts on ``first`` (an hour: itself)."""
    if period in ("day", "hour"):
        return first
    if period == "week":
        return first + timedelta(days=6)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return following - timedelta(days=1)


def cohort_span(cohort: date, period: str, start: date, end: date, *, clip: bool) -> tuple[date, date]:
    """The first and last day on which a cohort's start events may lie: its whole period, or with
    ``clip`` the part of it inside the range [start, end]."""
    last = period_last_day(cohort, period)
    return (max(cohort, start), min(last, end)) if clip else (cohort, last)


def cohort_label(cohort_from: date, cohort_to: date) -> str:
    """``Jul 5`` for one day, ``Jul 5–6`` or ``Jun 30–Jul 6`` for a span, with the year when it changes;
    ``Jul 5, 2024 14:00`` for an hourly cohort."""
    if isinstance(cohort_from, datetime):
        return f"{cohort_from:%b} {cohort_from.day}, {cohort_from.year} {cohort_from:%H}:00"
    if cohort_from == cohort_to:
        return f"{cohort_from:%b} {cohort_from.day}, {cohort_from.year}"
    if (cohort_from.year, cohort_from.month) == (cohort_to.year, cohort_to.month):
        return f"{cohort_from:%b} {cohort_from.day}–{cohort_to.day}, {cohort_to.year}"
    if cohort_from.year == cohort_to.year:
        return f"{cohort_from:%b} {cohort_from.day}–{cohort_to:%b} {cohort_to.day}, {cohort_to.year}"
    return f"{cohort_from:%b} {cohort_from.day}, {cohort_from.year}–{cohort_to:%b} {cohort_to.day}, {cohort_to.year}"


def cohorts_beyond_range(matrix: pd.DataFrame, start: date, end: date) -> list[tuple[date, date]]:
    """Spans of the cohorts whose start events may lie outside the range [start, end]."""
    spans = matrix[["cohort_from", "cohort_to"]].drop_duplicates()
    outside = spans[(spans["cohort_from"] < start) | (spans["cohort_to"] > end)]
    return list(outside.itertuples(index=False, name=None))


def retention_average(matrix: pd.DataFrame) -> pd.DataFrame:
    """Weighted average retention per segment and period over the complete cells.

    ``rate = sum(users) / sum(cohort_size)`` of the cohorts whose period n has ended, so big cohorts
    weigh more and half-observed periods do not drag the average down.
    """
    done = matrix[matrix["complete"]]
    out = done.groupby(["segment", "period"], as_index=False)[["users", "cohort_size"]].sum()
    out["rate"] = out["users"] / out["cohort_size"]
    out["cohorts"] = done.groupby(["segment", "period"]).size().to_numpy()
    return out


def period_n_over_time(matrix: pd.DataFrame, n: int) -> pd.DataFrame:
    """Period-n retention of each cohort (e.g. week-1 retention per weekly cohort), complete cells only."""
    cells = matrix[(matrix["period"] == n) & matrix["complete"]]
    return cells[["segment", "cohort", "users", "cohort_size", "rate"]].reset_index(drop=True)


def retention_cell_users(con: duckdb.DuckDBPyConnection, query: RetentionQuery, *, segment: str,
                         cohort: date, period: int) -> pd.DataFrame:
    """The users of one cohort with whether they came back in ``period`` (for drill-down and export)."""
    if isinstance(cohort, pd.Timestamp):  # an hourly cohort
        cohort = cohort.to_pydatetime()
    params = {**query.params(con), "segment": segment, "cohort": cohort, "n": period}
    return _run(con, "retention_cell_users", params, query)


def event_types(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Event types present in the warehouse, most frequent first."""
    return run_query(con, "event_type_list")["event_type"].tolist()
