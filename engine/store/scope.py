"""The global filter: one set of conditions that every analysis of a page (or a CLI call) reads through.

The dashboard's filter bar and ``python -m engine query ... --filter "PROPERTY OP VALUE"`` describe
conditions with :mod:`engine.store.filters`. Rather than every analysis taking and compiling them, the
conditions are *applied* around a block of reads::

    with scope.applied(conditions):
        kpis = metrics.kpi_comparison(con, period)

and every read query run through :mod:`engine.store.warehouse` inside the block sees filtered tables: the
query is given common table expressions named like the tables it reads (``events``, ``users`` and
the rollups ``user_day``, ``user_day_type``, ``daily_events``, ``content_day``), which shadow them
(the filtered events keep their ``rowid``, the import order that breaks ties).

- Event conditions (event type, item, category, channel, amount ...) keep the matching events; the
  rollups are then recounted from those events (raw events only when the filter must: a rollup
  cannot tell which of a day's events had amount over 100). Conditions on the channel alone read
  the rollups' rows of that channel, which is as fast as the sidebar's channel picker.
- User conditions (city, gender, acquisition channel ...) keep the matching users' rows; the
  rollups that carry a user id are read as they are, restricted to those users.
- With event conditions, ``users`` holds only users with at least one matching event.

Writes (inserts, deletes, table creation) never see the filter. Values stay bound parameters; the
column names come from :mod:`engine.store.filters`. A query that names a scoped table only in a comment or
a string is scoped needlessly but correctly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from engine.errors import PondError
from engine.store.filters import Condition, compile_conditions

_current: ContextVar[tuple[Condition, ...]] = ContextVar("pond_scope", default=())

#: what a shopper did themselves; impressions and pushed coupons are not activity (as in user_day)
_PASSIVE = "('impression', 'coupon_issue')"
#: conditions on membership, resolved to user ids before they reach a query
SEGMENT_PROPERTIES = ("segment", "rfm_segment")
_DAY = "cast((e.event_time at time zone 'UTC') at time zone $pond_scope_tz as date)"


@contextmanager
def applied(conditions: tuple[Condition, ...] | list[Condition] | None) -> Iterator[None]:
    """Reads inside the block see only what ``conditions`` keep (nothing changes for none).

    Segment conditions (``segment = NAME``, ``rfm_segment = Champions``) name members that only the
    customers' side of the engine can list: apply those with
    :func:`engine.customers.filtering.applied`, which resolves them to user ids first.
    """
    unresolved = [c for c in conditions or () if c.property in SEGMENT_PROPERTIES]
    if unresolved:
        raise PondError(f"a {unresolved[0].property} filter needs the warehouse to find its users "
                        "(apply it with engine.customers.filtering.applied)")
    token = _current.set(tuple(conditions or ()))
    try:
        yield
    finally:
        _current.reset(token)


def current() -> tuple[Condition, ...]:
    return _current.get()


_READ = re.compile(r"^\s*(?:(?:--[^\n]*\n)|\s)*(?P<head>with\s+recursive\s+|with\s+|select\b|from\b)",
                   re.IGNORECASE)


def _tables_read(sql: str) -> set[str]:
    names = "|".join(_BODIES)
    return {m.group(1).lower() for m in re.finditer(rf"\b(?:from|join)\s+({names})\b(?!\s*\()", sql,
                                                  re.IGNORECASE)}


def _event_filter(user_sql: str, event_sql: str) -> str:
    users = f" and e.user_id in (select u.user_id from main.users as u where {user_sql})" if user_sql else ""
    return f"select e.*, e.rowid as rowid from main.events as e where ({event_sql}){users}"


def _bodies(events: list[Condition], users: list[Condition], params: dict) -> dict[str, str]:
    """Each scoped table's replacement, given the event and the user conditions."""
    event_sql, event_params = compile_conditions(events, prefix="pond_scope_e")
    user_sql, user_params = compile_conditions(users, prefix="pond_scope_u")
    params.update(event_params)
    params.update(user_params)
    if not users:
        user_sql = ""
    keep_users = f"user_id in (select u.user_id from main.users as u where {user_sql})" if user_sql else "true"
    # the rollups carry the channel: a filter on it alone reads them as they are (rows of that channel)
    on_rollups = all(c.property == "channel" for c in events)
    bodies = {"events": _event_filter(user_sql, event_sql) if events else
              f"select *, rowid as rowid from main.events where {keep_users}"}
    if not events:
        bodies["users"] = f"select * from main.users as u where {user_sql or 'true'}"
    else:
        active = "main.user_day" if on_rollups else "main.events"
        bodies["users"] = (f"select * from main.users as u where {user_sql or 'true'} and u.user_id in "
                           f"(select e.user_id from {active} as e where {event_sql})")
    if on_rollups:  # rows of the users kept (and of the channel kept)
        for table in ("user_day", "user_day_type"):
            bodies[table] = f"select * from main.{table} as e where {event_sql} and {keep_users}"
    else:
        bodies["user_day"] = f"""select
            {_DAY} as day, e.user_id, e.channel,
            count(*) as events,
            count(*) filter (where e.event_type not in {_PASSIVE}) as actions,
            count(*) filter (where e.event_type = 'impression') as impressions,
            count(*) filter (where e.event_type = 'view') as views,
            count(*) filter (where e.event_type = 'click') as clicks,
            count(*) filter (where e.event_type = 'cart') as carts,
            count(*) filter (where e.event_type = 'fav') as favs,
            count(*) filter (where e.event_type = 'purchase') as purchases,
            count(*) filter (where e.event_type = 'refund') as refunds,
            count(*) filter (where e.event_type = 'share') as shares,
            count(*) filter (where e.event_type = 'comment') as comments,
            count(*) filter (where e.event_type = 'purchase' and e.order_id is null)
                + count(distinct e.order_id) filter (where e.event_type = 'purchase') as orders,
            coalesce(cast(sum(cast(e.amount as decimal(18, 4))) filter (where e.event_type = 'purchase')
                as double), 0) as gmv,
            coalesce(cast(sum(cast(e.amount as decimal(18, 4))) filter (where e.event_type = 'refund')
                as double), 0) as refund_amount
        from pond_scope_events as e
        group by all"""
        bodies["user_day_type"] = f"""select {_DAY} as day, e.user_id, e.channel, e.event_type, count(*) as events
        from pond_scope_events as e
        group by all"""
    if on_rollups and not users:
        for table in ("daily_events", "content_day"):
            bodies[table] = f"select * from main.{table} as e where {event_sql}"
        return bodies
    bodies["daily_events"] = f"""select
            {_DAY} as day, e.channel, e.event_type,
            count(*) as events, count(distinct e.user_id) as users,
            coalesce(cast(sum(cast(e.amount as decimal(18, 4))) as double), 0) as amount
        from pond_scope_events as e
        group by all"""
    bodies["content_day"] = f"""select
            {_DAY} as day, e.content_id, e.campaign_id, e.channel,
            count(*) filter (where e.event_type = 'impression') as impressions,
            count(*) filter (where e.event_type = 'click') as clicks,
            count(*) filter (where e.event_type = 'share') as shares,
            count(*) filter (where e.event_type = 'comment') as comments,
            count(*) filter (where e.event_type = 'like') as likes
        from pond_scope_events as e
        where e.event_type in ('impression', 'click', 'share', 'comment', 'like')
        group by all"""
    return bodies


#: the tables a filter shadows (the keys only; the bodies depend on the conditions)
_BODIES = ("events", "users", "user_day", "user_day_type", "daily_events", "content_day")


def scoped(sql: str, params: dict | None, tz: str) -> tuple[str, dict | None]:
    """``sql`` reading through the current filter, and its parameters (unchanged without a filter,
    for statements other than reads, and for reads of no scoped table)."""
    conditions = current()
    head = _READ.match(sql) if conditions else None
    if head is None:
        return sql, params
    read = _tables_read(sql)
    if not read:
        return sql, params
    events = [c for c in conditions if not c.is_user_property]
    users = [c for c in conditions if c.is_user_property]
    extra: dict = {"pond_scope_tz": tz}
    bodies = _bodies(events, users, extra)
    from_events = any("pond_scope_events" in bodies[table] for table in read)
    ctes = []
    if from_events:
        ctes.append(f"pond_scope_events as ({bodies['events']})")
    for table in _BODIES:
        if table in read:
            body = "select * from pond_scope_events" if table == "events" and from_events else bodies[table]
            ctes.append(f"{table} as ({body})")
    prefix = ",\n".join(ctes)
    word = head.group("head")
    start, end = head.start("head"), head.end("head")
    if word.lower().startswith("with"):
        sql = f"{sql[:start]}{word}{prefix},\n{sql[end:]}"
    else:
        sql = f"{sql[:start]}with {prefix}\n{word}{sql[end:]}"
    merged = dict(params or {})
    merged.update(extra)
    return sql, merged
