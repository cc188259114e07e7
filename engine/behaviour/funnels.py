"""Conversion funnels: how many users go from step 1 to step n within a window, and how fast.

Semantics:

- A user *enters* with a step-1 event on a business day of the chosen range (and channel, when
  one is chosen); later steps must happen after the previous step and within ``window_days`` of
  the entry. Each user counts once, at the furthest step any of their entries reached.
- ``order="sequential"``: other events may happen between steps. ``order="strict"``: the next
  step must be the user's very next action. Impressions and coupon pushes happen *to* a user and
  do not interrupt, unless the funnel names them as a step: then they are part of the stream (a
  funnel from "impression" starts at each impression).
- ``same_item=True``: every step concerns the same item (view, cart and buy of one SKU); an event
  without an item never matches on item, in either order mode.
- Ties: exports are stamped to the second or the minute, so cart and purchase often share a time.
  Different steps at the same timestamp count as in order (step k may be at the same time as step
  k-1), the same event is never two steps at once (consecutive steps of one event type need a later
  time, and so does a step next to an ``any`` step), and in strict order the events of one user at
  one timestamp are taken in the funnel's step order, other events after them, equal rows by import
  order: never by the event type's name. So a strict funnel never converts more users than a
  sequential one on the same data.
- A step ``any`` is completed by any action of the user's own.
- Filters (:mod:`engine.store.filters`): ``step_where[k-1]`` on step k's events only (``purchase where
  amount between 100 and 500``), ``where`` on every step's events (the whole funnel, as PostHog's
  funnel filters). A first-time step with filters is the user's first *matching* such event.
- ``order="unordered"``: the steps in any order, as in PostHog. Each step event on an entry day
  starts an attempt that reaches as many steps as distinct step events the user did from it to the
  end of the window; row k counts users who did k of the n steps.
- First-time steps (``first_time=(k, ...)``, sequential order): step k must be the user's first such
  event ever, over the whole history (a new-customer funnel marks its purchase step).
- Exclusions ``(event, after_step, before_step)``: a user whose best attempt has that event after
  step ``after_step`` and before step ``before_step`` (before the window closes, when they never
  reached it) is left out of the funnel entirely, as in PostHog.
- ``count_by="session"``: each session counts once instead of each user, and every step must happen
  in the entry's session. An event's session is its ``session_id`` when the export has one; otherwise
  sessions are cut by 30 minutes without any event of the user (as Mixpanel and PostHog do for
  events without a session). Not with first-time steps or exclusions, which are about users.
- Breakdown by any property (:mod:`engine.store.filters`): an event property takes the value on the
  user's entry event (``channel`` is the channel they entered through), a user property the user's
  own; the ``breakdown_limit`` values with the most entrants, then ``Other``, and ``(none)`` for a
  missing value. ``segment`` compares a saved segment with everyone else.

Sequential funnels chain DuckDB ASOF joins: each step-k event takes the latest step-(k-1) chain
before it, which is also the chain with the most time left in the window, so no pairwise join of
all attempts is needed. The SQL is assembled here because its length follows the number of steps;
it names only our own CTEs and binds every value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.store.filters import Condition, compile_conditions
from engine.store.warehouse import PASSIVE_EVENT_TYPES, business_timezone, read_sql

ORDERS = ("sequential", "strict", "unordered")
COUNT_BY = ("user", "session")
SESSION_GAP = timedelta(minutes=30)  # inactivity that ends a session when events carry no session id
_UNIT = "\x1f"  # separates the user from the session in a session funnel's unit id
ANY_STEP = "any"  # a step that any action of the user's own completes
MAX_STEPS = 8


@dataclass(frozen=True)
class FunnelQuery:
    steps: tuple[str, ...] = ("view", "cart", "purchase")
    window_days: float = 7.0
    order: str = "sequential"
    same_item: bool = False
    start: date | None = None  # first business day of entries (default: first day of data)
    end: date | None = None  # last business day of entries (default: last day of data)
    channel: str | None = None  # entries through this channel only
    breakdown: str = "none"  # none | segment | a property of engine.store.filters (channel, category, gender ...)
    segment: str | None = None  # saved segment for breakdown="segment"
    breakdown_limit: int = 5  # values shown before "Other"
    exclusions: tuple[tuple[str, int, int], ...] = ()  # (event, after step, before step)
    first_time: tuple[int, ...] = ()  # steps that must be the user's first such event ever (1-based)
    step_where: tuple[tuple[Condition, ...], ...] = ()  # filters per step (none, or one tuple per step)
    where: tuple[Condition, ...] = ()  # filters on every step's events (the whole funnel)
    count_by: str = "user"  # or "session": each session counts once, its steps within it

    def __post_init__(self) -> None:
        for event, after, before in self.exclusions:
            if not event:
                raise PondError("an exclusion needs an event type")
            if not 1 <= after < before <= len(self.steps):
                raise PondError(f"exclude {event} between two steps: 1 <= after < before <= {len(self.steps)}, "
                                f"not {after} and {before}")
        if any(not 1 <= k <= len(self.steps) for k in self.first_time):
            raise PondError(f"first-time steps are step numbers 1 to {len(self.steps)}, not {list(self.first_time)}")
        if self.first_time and self.order != "sequential":
            raise PondError("first-time steps work in sequential order; choose sequential, or drop the first-time mark")
        if not 2 <= len(self.steps) <= MAX_STEPS:
            raise PondError(f"a funnel has 2 to {MAX_STEPS} steps; got {len(self.steps)}")
        if self.count_by not in COUNT_BY:
            raise PondError(f"count by user or session, not {self.count_by!r}")
        if self.count_by == "session" and (self.first_time or self.exclusions):
            raise PondError("first-time steps and exclusions are about users: count by user for those")
        if self.step_where and len(self.step_where) != len(self.steps):
            raise PondError(f"give filters for every step ({len(self.steps)}, empty for none), "
                            f"not {len(self.step_where)}")
        if any(not s for s in self.steps):
            raise PondError("every funnel step needs an event type")
        if not 0 < self.window_days <= 365:
            raise PondError(f"the conversion window must be between 0 and 365 days, not {self.window_days}")
        if self.order not in ORDERS:
            raise PondError(f"order must be sequential, strict or unordered, not {self.order!r}")
        if self.order == "unordered" and (self.same_item or self.exclusions or ANY_STEP in self.steps
                                          or len(set(self.steps)) < len(self.steps)):
            raise PondError("an unordered funnel counts distinct steps: it takes no same item, exclusions, "
                            "'any' step or repeated step; choose sequential order for those")
        from engine.store.filters import PROPERTIES

        if self.breakdown not in ("none", "segment", *PROPERTIES):
            raise PondError(f"breakdown must be none, segment or a property ({', '.join(PROPERTIES)}), "
                            f"not {self.breakdown!r}")
        if not 1 <= self.breakdown_limit <= 50:
            raise PondError(f"show 1 to 50 breakdown values, not {self.breakdown_limit}")
        if self.breakdown == "segment" and not self.segment:
            raise PondError("choose the saved segment to break down by")
        if self.start and self.end and self.end < self.start:
            raise PondError(f"the date range ends ({self.end}) before it starts ({self.start})")


@dataclass
class FunnelResult:
    steps: pd.DataFrame  # segment, step, event_type, users, step_conversion, overall_conversion, ...
    users: pd.DataFrame  # user_id, segment, reached, entered_at, step_2_at ... (best attempt)
    query: FunnelQuery = field(repr=False)

    def dropped_after(self, step: int, segment: str | None = None) -> pd.DataFrame:
        """Users who reached ``step`` but not the next one."""
        users = self.users[self.users["reached"] == step]
        return users if segment is None else users[users["segment"] == segment]

    def time_to_convert(self) -> pd.Series:
        """Hours from entry to the last step, for users who completed the funnel (none for an
        unordered funnel, whose steps have no order to time)."""
        done = self.users[self.users["reached"] == len(self.query.steps)]
        last = f"step_{len(self.query.steps)}_at"
        return ((done[last] - done["entered_at"]).dt.total_seconds() / 3600).rename("hours").dropna()


def _bounds(con: duckdb.DuckDBPyConnection, query: FunnelQuery) -> tuple[date, date]:
    first, last = con.execute("select min(day), max(day) from daily_events").fetchone()
    return query.start or first or date(1970, 1, 1), query.end or last or date(1970, 1, 1)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _params(con: duckdb.DuckDBPyConnection, query: FunnelQuery) -> dict:
    start, end = _bounds(con, query)
    params = {f"s{k}": step for k, step in enumerate(query.steps, start=1)}
    zone = ZoneInfo(business_timezone(con))
    params.update(
        # entry days as UTC instants: comparing raw times is far cheaper than converting each one
        entry_from=_utc(datetime.combine(start, time(), tzinfo=zone)),
        entry_to=_utc(datetime.combine(end + timedelta(days=1), time(), tzinfo=zone)),
        channel=query.channel,
        window=timedelta(days=query.window_days),
        session_gap=SESSION_GAP,
        # events of the entry days (whatever the zone) plus the window after the last one
        lo=datetime.combine(start, time()) - timedelta(days=1),
        hi=datetime.combine(end, time()) + timedelta(days=query.window_days + 2),
        passive=list(PASSIVE_EVENT_TYPES),
        steps=list(query.steps),
    )
    for k in range(1, len(query.steps) + 1):
        params.update(_step_filter(k, query)[1])
    return params


def _step_filter(k: int, query: FunnelQuery) -> tuple[str, dict]:
    """SQL over events ``e`` (and users ``u``) true when an event passes step k's filters and the
    funnel's, with its bound parameters."""
    own = query.step_where[k - 1] if query.step_where else ()
    return compile_conditions((*query.where, *own), prefix=f"w{k}_")


def _needs_users(query: FunnelQuery) -> bool:
    return any(c.is_user_property for c in (*query.where, *(c for w in query.step_where for c in w)))


def _events_from(query: FunnelQuery) -> str:
    """The events, as ``e``, with the users as ``u`` when a filter names a user property; counted by
    session, the events of :func:`_sessions_sql`, whose ``user_id`` is the user and session."""
    source = "session_events" if query.count_by == "session" else "events"
    if _needs_users(query):
        return f"{source} as e left join users as u on u.user_id = e.person_id"
    return f"{source} as e"


_EVENT_COLUMNS = ("event_id", "event_time", "event_type", "item_id", "category", "content_id", "campaign_id",
                  "channel", "community_id", "referrer_id", "session_id", "order_id", "quantity", "amount",
                  "upload_id")


def _sessions_sql() -> str:
    """CTEs giving each event of the scanned days a session: its session id, or else a run of the user's
    events without a 30-minute gap; ``user_id`` becomes the user and the session (one funnel unit)."""
    columns = ", ".join(_EVENT_COLUMNS)
    return f"""session_gaps as (
        select {columns}, user_id as person_id, rowid as import_order,
            case when lag(event_time) over by_user is null
                or event_time > lag(event_time) over by_user + $session_gap then 1 else 0 end as opens
        from events
        where event_time >= $lo and event_time < $hi
        window by_user as (partition by user_id order by event_time, rowid)
    ),

    session_numbers as (
        select *, sum(opens) over (partition by person_id order by event_time, import_order
                                   rows between unbounded preceding and current row) as gap_session
        from session_gaps
    ),

    session_events as (
        select {columns}, person_id, import_order,
            person_id || chr(31) || coalesce('id ' || session_id, 'gap ' || cast(gap_session as varchar)) as user_id
        from session_numbers
    ),
"""


def _matches(k: int, query: FunnelQuery) -> str:
    """SQL over ``e`` true when the event is step k: its event type and its filters."""
    return f"({_is_step(k, 'e.event_type')} and {_step_filter(k, query)[0]})"


def _is_step(k: int, column: str = "event_type") -> str:
    """SQL true when ``column`` is step k's event (``any``: any action of the user's own)."""
    return f"({column} = $s{k} or ($s{k} = '{ANY_STEP}' and not list_contains($passive, {column})))"


def _entry_value(query: FunnelQuery) -> str:
    """The entry event's column of ``e`` that names its breakdown value (a constant when there is none)."""
    from engine.store.filters import EVENT_PROPERTIES

    if query.breakdown in EVENT_PROPERTIES:
        return EVENT_PROPERTIES[query.breakdown][0]
    return "cast(null as varchar)"


def _step_events(k: int, query: FunnelQuery) -> str:
    """The events that can be step k: every matching event, or for a first-time step each user's
    first such event ever (over the whole history, not only the range)."""
    if k not in query.first_time:
        return f"(select * from scoped where ok_{k})"
    return f"""(
            select e.user_id, arg_min(e.item_id, e.event_time) as item_id,
                arg_min(e.channel, e.event_time) as channel,
                arg_min({_entry_value(query)}, e.event_time) as entry_value, min(e.event_time) as t
            from {_events_from(query)}
            where {_matches(k, query)}
            group by e.user_id
        )"""


def _entries_sql(query: FunnelQuery) -> str:
    wanted = ("not list_contains($passive, e.event_type)" if ANY_STEP in query.steps
              else f"e.event_type in ({', '.join(f'$s{k}' for k in range(1, len(query.steps) + 1))})")
    marks = ", ".join(f"{_matches(k, query)} as ok_{k}" for k in range(1, len(query.steps) + 1))
    return f"""
    scoped as (
        select e.user_id, e.item_id, e.channel, e.event_type, e.event_time as t,
            {_entry_value(query)} as entry_value, {marks}
        from {_events_from(query)}
        where e.event_time >= $lo and e.event_time < $hi
            and ({wanted} or list_contains($steps, e.event_type))
    ),

    chain_1 as (
        select user_id, item_id, cast(entry_value as varchar) as segment, t as t_1, t
        from {_step_events(1, query)}
        where t >= $entry_from and t < $entry_to
            and ($channel is null or channel = $channel)
    )"""


def _times(k: int, n: int, prefix: str = "") -> str:
    """Columns t_1..t_k from ``prefix``, padded with nulls up to t_n."""
    present = [f"{prefix}t_{j}" for j in range(1, k + 1)]
    missing = [f"cast(null as timestamp) as t_{j}" for j in range(k + 1, n + 1)]
    return ", ".join(present + missing)


def _sequential_sql(query: FunnelQuery) -> str:
    n = len(query.steps)
    item = " and e.item_id = p.item_id" if query.same_item else ""
    parts = [_entries_sql(query)]
    for k in range(2, n + 1):
        previous = ", ".join(f"p.t_{j}" for j in range(1, k))
        # a different step may share the previous one's timestamp; the same event type needs a later one
        pair = (query.steps[k - 1], query.steps[k - 2])
        after = ">" if pair[0] == pair[1] or ANY_STEP in pair else ">="
        parts.append(f"""
    chain_{k} as (
        select e.user_id, e.item_id, p.segment, {previous}, e.t as t_{k}, e.t
        from {_step_events(k, query)} as e
        asof join chain_{k - 1} as p on e.user_id = p.user_id{item} and e.t {after} p.t
        where e.t <= p.t_1 + $window
    )""")
    # step 1 alone matters only for users who get no further: their first entry is enough
    padding = "".join(f", cast(null as timestamp) as t_{j}" for j in range(2, n + 1))
    first_entries = (f"        select user_id, arg_min(segment, t_1) as segment, 1 as reached, "
                     f"min(t_1) as t_1{padding}\n        from chain_1 group by user_id")
    further = [f"        select user_id, segment, {k} as reached, {_times(k, n)} from chain_{k}"
               for k in range(2, n + 1)]
    return "with " + ",".join(parts) + ",\n\n    attempts as (\n" + "\n        union all\n".join(
        [first_entries, *further]) + "\n    )"


def _strict_sql(query: FunnelQuery) -> str:
    n = len(query.steps)
    leads = ",\n            ".join(
        f"lead(ok_{j + 1}, {j}) over w as next_ok_{j}, lead(event_time, {j}) over w as t_{j + 1}, "
        f"lead(item_id, {j}) over w as item_{j}" for j in range(1, n))
    # the j-th next action matches step j+1 when all the earlier ones did too
    conditions = []
    for j in range(1, n):
        same = f" and item_{j} = item_id" if query.same_item else ""  # a missing item never matches
        conditions.append(f"next_ok_{j} and t_{j + 1} <= event_time + $window{same}")
    reached = " + ".join(
        "(case when " + " and ".join(conditions[:j]) + " then 1 else 0 end)" for j in range(1, n))
    marks = ", ".join(f"{_matches(k, query)} as ok_{k}" for k in range(1, n + 1))
    return f"""with actions as (
        select e.user_id, e.item_id, e.channel, e.event_type, e.event_time, {_entry_value(query)} as entry_value,
            -- ties at one timestamp: the funnel's steps in their order, then other events
            coalesce(list_position($steps, e.event_type), {n + 1}) as step_rank,
            e.upload_id, {"e.import_order" if query.count_by == "session" else "e.rowid"} as import_order, {marks}
        from {_events_from(query)}
        where e.event_time >= $lo and e.event_time < $hi
            and (not list_contains($passive, e.event_type) or list_contains($steps, e.event_type))
    ),

    streams as (
        select *, event_time as t_1,
            {leads}
        from actions
        window w as (partition by user_id order by event_time, step_rank, upload_id, import_order)
    ),

    attempts as (
        select user_id, cast(entry_value as varchar) as segment, 1 + {reached} as reached,
            {_times(n, n)}
        from streams
        where ok_1
            and event_time >= $entry_from and event_time < $entry_to
            and ($channel is null or channel = $channel)
    )"""


def _unordered_sql(query: FunnelQuery) -> str:
    """Each step event on the entry days starts an attempt; it reaches as many steps as distinct step
    events the user did from it to the end of the window (the steps in any order)."""
    n = len(query.steps)
    # one row per step an event is (a step's filters may make one event type two different steps)
    marked = "\n        union all\n".join(
        f"""select e.user_id, {k} as step, e.event_time as t, {_entry_value(query)} as entry_value, e.channel
        from {_events_from(query)}
        where e.event_time >= $lo and e.event_time < $hi and {_matches(k, query)}""" for k in range(1, n + 1))
    return f"""with step_events as (
        {marked}
    ),

    scoped as (
        select distinct user_id, step, t from step_events
    ),

    starts as (
        select user_id, any_value(cast(entry_value as varchar)) as segment, t
        from step_events
        where t >= $entry_from and t < $entry_to and ($channel is null or channel = $channel)
        group by user_id, t
    ),

    attempts as (
        select s.user_id, any_value(s.segment) as segment, count(distinct c.step) as reached,
            s.t as t_1{"".join(f", cast(null as timestamp) as t_{k}" for k in range(2, n + 1))}
        from starts as s
        join scoped as c on c.user_id = s.user_id and c.t >= s.t and c.t <= s.t + $window
        group by s.user_id, s.t
    )"""


def _best_sql(n: int) -> str:
    completed = "coalesce(" + ", ".join(f"t_{k}" for k in range(n, 0, -1)) + ")"
    steps = "".join(f", t_{k} as step_{k}_at" for k in range(2, n + 1))
    return f""",

    best as (
        -- each user's furthest attempt; among equals the one that got there first
        select * from attempts
        qualify row_number() over (partition by user_id order by reached desc, {completed}, t_1) = 1
    )

    select user_id, segment, reached, t_1 as entered_at{steps}
    from best"""


def funnel(con: duckdb.DuckDBPyConnection, query: FunnelQuery | None = None) -> FunnelResult:
    """Compute a funnel; see the module docstring for the rules.

    Returns
    -------
    FunnelResult
        ``steps``: one row per segment and step with ``users``, ``step_conversion`` (from the
        previous step), ``overall_conversion`` (from step 1), ``dropped`` (reached the previous step
        but not this one) and ``median_hours`` (from the previous step, users who got here).
        ``users``: each entered user's best attempt, with ``step_k_at`` times.
    """
    query = query or FunnelQuery()
    body = {"strict": _strict_sql, "unordered": _unordered_sql}.get(query.order, _sequential_sql)(query)
    n = len(query.steps)
    sql = body + _best_sql(n)
    if query.count_by == "session":
        sql = sql.replace("with ", "with " + _sessions_sql(), 1)
    users = read_sql(con, sql, _params(con, query)).df()
    if query.count_by == "session":  # one row per session: its user and which session it is
        parts = users["user_id"].str.split(_UNIT, n=1, expand=True).reindex(columns=[0, 1])
        users.insert(1, "session", parts[1])
        users["user_id"] = parts[0]
    for k in range(2, n + 1):  # strict attempts carry the next actions' times even when they missed
        users[f"step_{k}_at"] = pd.to_datetime(users[f"step_{k}_at"]).where(users["reached"] >= k)
    users = _drop_excluded(con, users, query)
    users["segment"] = _breakdown_values(con, users, query)
    users = users.sort_values(["reached", "user_id"], ascending=[False, True]).reset_index(drop=True)
    return FunnelResult(_summarise(users, query), users, query)


def _breakdown_values(con: duckdb.DuckDBPyConnection, users: pd.DataFrame, query: FunnelQuery) -> pd.Series:
    """Each user's breakdown value: the top values by entrants, then Other, and (none) when missing."""
    from engine.store.filters import USER_PROPERTIES

    if query.breakdown == "none":
        return pd.Series("All users", index=users.index)
    if query.breakdown == "segment":
        from engine.customers.segments import OUTSIDE_SEGMENT, load_segment, segment_users

        inside = set(segment_users(con, load_segment(con, query.segment))["user_id"])
        return users["user_id"].map(lambda u: query.segment if u in inside else OUTSIDE_SEGMENT)
    values = users["segment"]
    if query.breakdown in USER_PROPERTIES:
        known = dict(con.execute(f"select u.user_id, cast({USER_PROPERTIES[query.breakdown][0]} as varchar) "
                                 "from users as u").fetchall())
        values = users["user_id"].map(known)
    values = values.where(values.notna(), "(none)").astype(str)
    ranked = values[values != "(none)"].value_counts()
    ranked = ranked.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    top = set(ranked.index[:query.breakdown_limit])
    return values.map(lambda v: v if v in top or v == "(none)" else "Other")


def funnel_trend(con: duckdb.DuckDBPyConnection, result: FunnelResult, *, period: str = "week") -> pd.DataFrame:
    """Conversion over time: per period of entry (business days, Monday weeks or months) and segment,
    the users who entered then and the share of them who completed the funnel.

    A user belongs to the period of the entry of their best attempt. A period is ``complete`` when it
    lies inside the funnel's range and its last entrant has had the whole window by the last day of
    data; averages and verdicts should read complete periods only (PostHog's funnel trends do the same).

    Columns: ``period, segment, entered, converted, conversion, complete``.
    """
    from engine.behaviour.retention import period_last_day

    if period not in ("day", "week", "month"):
        raise PondError(f"period must be day, week or month, not {period!r}")
    columns = ["period", "segment", "entered", "converted", "conversion", "complete"]
    users = result.users
    if users.empty:
        return pd.DataFrame(columns=columns)
    zone = ZoneInfo(business_timezone(con))
    local = pd.to_datetime(users["entered_at"]).dt.tz_localize("UTC").dt.tz_convert(zone)
    days = local.dt.tz_localize(None).dt.normalize()
    first = days.dt.to_period({"day": "D", "week": "W-SUN", "month": "M"}[period]).dt.start_time.dt.date
    frame = pd.DataFrame({"period": first, "segment": users["segment"],
                          "done": users["reached"] == len(result.query.steps)})
    out = frame.groupby(["period", "segment"], as_index=False).agg(entered=("done", "size"),
                                                                  converted=("done", "sum"))
    out["conversion"] = out["converted"] / out["entered"]
    start, end = _bounds(con, result.query)
    last_day = con.execute("select max(day) from daily_events").fetchone()[0]
    window = timedelta(days=result.query.window_days)

    def complete(first_day: date) -> bool:
        last = period_last_day(first_day, period)
        closes = datetime.combine(last + timedelta(days=1), time()) + window  # the last entrant's window
        return first_day >= start and last <= end and closes <= datetime.combine(last_day + timedelta(days=1), time())

    out["complete"] = out["period"].map(complete).astype(bool)
    return out[columns].astype({"entered": "int64", "converted": "int64"})


def _drop_excluded(con: duckdb.DuckDBPyConnection, users: pd.DataFrame, query: FunnelQuery) -> pd.DataFrame:
    """Leave out users whose best attempt has an exclusion event between its two steps."""
    if not query.exclusions or users.empty:
        return users
    params = _params(con, query)
    window = timedelta(days=query.window_days)
    entered = pd.to_datetime(users["entered_at"])
    dropped = pd.Series(False, index=users.index)
    for event, after, before in query.exclusions:
        times = read_sql(con, "select user_id, event_time from events where event_type = $event "
                         "and event_time >= $lo and event_time < $hi",
                         {"event": event, "lo": params["lo"], "hi": params["hi"]}).df()
        if times.empty:
            continue
        frm = entered if after == 1 else pd.to_datetime(users[f"step_{after}_at"])
        to = pd.to_datetime(users[f"step_{before}_at"]).where(users["reached"] >= before, entered + window)
        spans = pd.DataFrame({"user_id": users["user_id"], "frm": frm, "to": to, "row": users.index})
        spans = spans[users["reached"] >= after]
        hits = spans.merge(times, on="user_id")
        hits = hits[(hits["event_time"] > hits["frm"]) & (hits["event_time"] < hits["to"])]
        dropped |= users.index.isin(hits["row"])
    return users[~dropped].reset_index(drop=True)


def _summarise(users: pd.DataFrame, query: FunnelQuery) -> pd.DataFrame:
    rows = []
    segments = ["All users"] if users.empty else list(dict.fromkeys(users["segment"].sort_values()))
    for segment in segments:
        mine = users[users["segment"] == segment]
        entered = len(mine)
        previous = entered
        for k, step in enumerate(query.steps, start=1):
            reached = int((mine["reached"] >= k).sum())
            hours = mean = None
            if k > 1 and reached and query.order != "unordered":  # no step order, no time between steps
                got = mine[mine["reached"] >= k]
                before = got["entered_at"] if k == 2 else got[f"step_{k - 1}_at"]
                taken = (got[f"step_{k}_at"] - before).dt.total_seconds() / 3600
                hours, mean = float(taken.median()), float(taken.mean())
            label = step if query.order != "unordered" else f"any {k} of the {len(query.steps)} steps"
            rows.append({
                "segment": segment, "step": k, "event_type": label, "users": reached,
                "step_conversion": reached / previous if previous else 0.0,
                "overall_conversion": reached / entered if entered else 0.0,
                "dropped": previous - reached, "median_hours": hours, "mean_hours": mean,
            })
            previous = reached
    return pd.DataFrame(rows)
