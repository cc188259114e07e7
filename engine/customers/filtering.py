"""The global filter with segment conditions: ``segment = NAME`` and ``rfm_segment = Champions`` are
resolved here to their members' user ids, then applied as :func:`engine.store.scope.applied` applies
any condition (the store knows nothing of segments, so it sits below them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine.customers.rfm import DEFAULT_RULES, rfm_scores
from engine.customers.segments import load_segment, segment_users
from engine.errors import PondError
from engine.store import scope
from engine.store.filters import Condition
from engine.store.warehouse import data_version


@contextmanager
def applied(conditions: tuple[Condition, ...] | list[Condition] | None, *, con) -> Iterator[None]:
    """Reads inside the block see only what ``conditions`` keep; segment conditions are resolved to
    their members with the connection ``con``."""
    with scope.applied(tuple(_resolved(c, con) for c in conditions or ())):
        yield


#: resolved segment conditions by (warehouse file, data version, condition): a page's many reads
#: under one filter find the segment's members once
_RESOLVED: dict[tuple, Condition] = {}


def _resolved(condition: Condition, con) -> Condition:
    """A segment condition as a condition on the members' user ids; others as they are."""
    if condition.property not in scope.SEGMENT_PROPERTIES:
        return condition
    if con is None:
        raise PondError(f"a {condition.property} filter needs the warehouse to find its users")
    database = con.execute("select path from duckdb_databases() where database_name = current_database()"
                           ).fetchone()
    # a saved segment can be edited without new data: its definition is part of the key
    definitions = tuple(con.execute("select name, definition from segments where list_contains(?, name) "
                                    "order by name", [list(condition.values)]).fetchall())
    key = (database[0] if database else None, data_version(con), condition, definitions)
    if key not in _RESOLVED:
        if len(_RESOLVED) > 32:
            _RESOLVED.clear()
        _RESOLVED[key] = _members_condition(condition, con)
    return _RESOLVED[key]


def _members_condition(condition: Condition, con) -> Condition:
    members: set[str] = set()
    with scope.applied(()):  # a segment's members do not depend on the filter in force
        if condition.property == "segment":
            for name in condition.values:
                members.update(segment_users(con, load_segment(con, name))["user_id"])
        else:
            scores = rfm_scores(con)
            named = [r.segment for r in DEFAULT_RULES]
            known = named + sorted(set(scores["segment"]) - set(named))  # "Other": matched by no rule
            unknown = set(condition.values) - set(known)
            if unknown:
                raise PondError(f"there is no RFM segment {sorted(unknown)[0]!r}; use one of {', '.join(known)}")
            members.update(scores.loc[scores["segment"].isin(condition.values), "user_id"])
    inside = condition.op in ("=", "in")
    # nobody in the segment: a user id no one has, so that "in" keeps nobody and "not in" everybody
    return Condition("user", "in" if inside else "not in", tuple(sorted(members)) or ("\x00 nobody",))


