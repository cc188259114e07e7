"""One filter model for the engine: typed conditions on event and user properties, compiled to SQL.

A :class:`Condition` names a property, an operator and its values, e.g. ``channel in douyin,wechat``
or ``amount between 100,500``. Properties are a fixed list (:data:`EVENT_PROPERTIES`,
:data:`USER_PROPERTIES`): their column names come from this module, never from the user, and every
value is a bound parameter. An unknown property, operator or a value of the wrong type is refused
with a :class:`~engine.errors.PondError` that lists what exists.

The compiled SQL refers to the events as ``e`` and the users table as ``u`` (queries that use user
properties join ``users as u on u.user_id = e.user_id``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from engine.errors import PondError

#: event property -> (column of events, type)
EVENT_PROPERTIES = {
    "event_type": ("e.event_type", "text"),
    "item": ("e.item_id", "text"),
    "category": ("e.category", "text"),
    "channel": ("e.channel", "text"),
    "campaign": ("e.campaign_id", "text"),
    "content": ("e.content_id", "text"),
    "community": ("e.community_id", "text"),
    "referrer": ("e.referrer_id", "text"),
    "order": ("e.order_id", "text"),
    "amount": ("e.amount", "number"),
    "quantity": ("e.quantity", "number"),
}
#: user property -> (column of users, type)
USER_PROPERTIES = {
    "acquisition_channel": ("u.acquisition_channel", "text"),
    "gender": ("u.gender", "text"),
    "age_band": ("u.age_band", "text"),
    "city": ("u.city", "text"),
    "user": ("u.user_id", "text"),
    # a tag among the user's interest tags (engine.customers.tags): "interest_tag = category:skincare"
    "interest_tag": ("t.tag", "tag"),
    # members of a saved segment, or of an RFM segment as of the last day: resolved to user ids by
    # engine.store.scope.applied before the filter runs
    "segment": ("u.user_id", "members"),
    "rfm_segment": ("u.user_id", "members"),
    # the bands of the latest derived scores (engine.predictions.churn): high, medium or low
    "churn_risk": ("(select s.churn_band from user_scores as s where s.user_id = u.user_id)", "text"),
    "purchase_propensity": ("(select s.propensity_band from user_scores as s where s.user_id = u.user_id)", "text"),
    # the business day of the user's first event (first_seen is stored in UTC, like every time)
    "first_seen": ("cast((u.first_seen at time zone 'UTC') at time zone "
                   "(select value from meta where key = 'business_timezone') as date)", "date"),
}
PROPERTIES = {**EVENT_PROPERTIES, **USER_PROPERTIES}

#: operator -> how many values it takes (None: one or more)
OPERATORS = {"=": 1, "!=": 1, "in": None, "not in": None, "contains": 1, "between": 2, "is set": 0,
             "is not set": 0, ">": 1, ">=": 1, "<": 1, "<=": 1}
_COMPARISONS = {"=", "!=", ">", ">=", "<", "<="}


@dataclass(frozen=True)
class Condition:
    """``property operator values``; see the module docstring."""

    property: str
    op: str = "="
    values: tuple = ()

    def __post_init__(self) -> None:
        if self.property not in PROPERTIES:
            raise PondError(f"there is no property {self.property!r}; filter on one of {', '.join(PROPERTIES)}")
        if self.op not in OPERATORS:
            raise PondError(f"{self.op!r} is not an operator; use one of {', '.join(OPERATORS)}")
        wanted = OPERATORS[self.op]
        if wanted is None and not self.values:
            raise PondError(f"{self.property} {self.op} needs at least one value")
        if wanted is not None and len(self.values) != wanted:
            raise PondError(f"{self.property} {self.op} takes {wanted} value{'s' if wanted != 1 else ''}, "
                            f"not {len(self.values)}")
        kind = PROPERTIES[self.property][1]
        if kind in ("tag", "members") and self.op not in ("=", "!=", "in", "not in"):
            raise PondError(f"{self.property} takes =, !=, in or not in")
        if self.op == "contains" and kind != "text":
            raise PondError(f"contains works on text properties; {self.property} is a {kind}")
        object.__setattr__(self, "values", tuple(_typed(self.property, kind, v) for v in self.values))

    @property
    def is_user_property(self) -> bool:
        return self.property in USER_PROPERTIES

    def describe(self) -> str:
        shown = ", ".join(str(v) for v in self.values)
        return f"{self.property} {self.op}" + (f" {shown}" if shown else "")


def _typed(prop: str, kind: str, value):
    if kind == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            raise PondError(f"{prop} is a number; {value!r} is not one") from None
    if kind == "date":
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise PondError(f"{prop} is a date (YYYY-MM-DD); {value!r} is not one") from None
    return str(value)


def compile_conditions(conditions: tuple[Condition, ...] | list[Condition], *, prefix: str = "f"
                       ) -> tuple[str, dict]:
    """SQL that is true when every condition holds (``true`` for none), and its bound parameters,
    named ``$<prefix><n>_<k>``."""
    clauses, params = [], {}
    for n, condition in enumerate(conditions):
        column, kind = PROPERTIES[condition.property]
        if kind == "members":
            raise PondError(f"a {condition.property} filter is resolved to its users first: use it in the "
                            "page's property filters (the sidebar) or with --where")
        if kind == "tag" or len(condition.values) > _LISTED:
            clauses.append(_listed(condition, column, kind, f"{prefix}{n}", params))
            continue
        names = []
        for k, value in enumerate(condition.values):
            name = f"{prefix}{n}_{k}"
            params[name] = value
            names.append(f"${name}")
        op = condition.op
        if op in _COMPARISONS:
            sql = f"{column} {'<>' if op == '!=' else op} {names[0]}"
            if op == "!=":  # a missing value is not equal to anything either: keep it
                sql = f"({column} is null or {sql})"
        elif op == "in":
            sql = f"{column} in ({', '.join(names)})"
        elif op == "not in":
            sql = f"({column} is null or {column} not in ({', '.join(names)}))"
        elif op == "contains":
            sql = f"contains(lower({column}), lower({names[0]}))"
        elif op == "between":
            sql = f"{column} between {names[0]} and {names[1]}"
        elif op == "is set":
            sql = f"{column} is not null"
        else:
            sql = f"{column} is null"
        clauses.append(f"({sql})")
    return (" and ".join(clauses) or "true"), params


#: more values than this are bound as one list (a segment's thousands of user ids)
_LISTED = 20


def _listed(condition: Condition, column: str, kind: str, name: str, params: dict) -> str:
    """``in``/``not in`` (and ``=``/``!=`` for tags) against one bound list of values."""
    params[name] = [str(v) for v in condition.values]
    if kind == "tag":
        held = f"exists (select 1 from user_tags as t where t.user_id = u.user_id and list_contains(${name}, {column}))"
        return f"({'not ' if condition.op in ('!=', 'not in') else ''}{held})"
    if condition.op in ("!=", "not in"):
        return f"({column} is null or not list_contains(${name}, {column}))"
    return f"(list_contains(${name}, {column}))"


_PARSE = re.compile(r"^\s*(?P<prop>[a-z_]+)\s+(?P<op>is not set|is set|not in|in|contains|between|!=|>=|<=|=|>|<)"
                    r"\s*(?P<rest>.*)$", re.IGNORECASE)


def parse_condition(text: str) -> Condition:
    """``"channel in douyin,wechat"``, ``"amount between 100,500"``, ``"city is set"`` -> Condition."""
    match = _PARSE.match(text)
    if not match:
        raise PondError(f"cannot read the filter {text!r}: write PROPERTY OPERATOR VALUE, e.g. "
                        f"'channel = douyin' or 'amount between 100,500'; operators: {', '.join(OPERATORS)}")
    op = match["op"].lower()
    rest = match["rest"].strip()
    if OPERATORS[op] == 0:
        values: tuple = ()
    elif OPERATORS[op] == 1:
        values = (rest,) if rest else ()
    else:
        values = tuple(v.strip() for v in rest.split(",") if v.strip())
    return Condition(match["prop"].lower(), op, values)


def parse_conditions(text: str) -> tuple[Condition, ...]:
    """Conditions separated by ``;``: ``"channel = douyin; amount > 100"`` (empty text: none)."""
    return tuple(parse_condition(part) for part in (text or "").split(";") if part.strip())
