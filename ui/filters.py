"""Global sidebar filters (date range, channel, property filters) that every page reads the same way.

The property filters are :mod:`engine.store.filters` conditions (``city = 上海``, ``amount > 100``) kept as
their text in the session and in the address (``?where=...``, once per condition); pages hand them
to :mod:`ui.data`, which reads through them with :func:`engine.store.scope.applied`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from engine.behaviour.metrics import Period
from engine.errors import PondError
from engine.store.filters import OPERATORS, PROPERTIES, parse_condition
from ui import data

DATE_KEY = "pond_date_range"
CHANNEL_KEY = "pond_channel"
WHERE_KEY = "pond_where"
ALL_CHANNELS = "All channels"
#: how each property is offered in the filter bar
PROPERTY_LABELS = {
    "event_type": "Event type", "item": "Item", "category": "Item category", "channel": "Event channel",
    "campaign": "Campaign", "content": "Content", "community": "Community", "referrer": "Referrer",
    "order": "Order id", "amount": "Amount (¥)", "quantity": "Quantity",
    "acquisition_channel": "User · acquisition channel", "gender": "User · gender", "age_band": "User · age band",
    "city": "User · city", "first_seen": "User · first seen (YYYY-MM-DD)",
    "churn_risk": "User · churn risk band", "purchase_propensity": "User · purchase propensity band",
    "user": "User · id", "interest_tag": "User · interest tag", "segment": "User · saved segment",
    "rfm_segment": "User · RFM segment",
}
#: the pages whose figures the property filters change (the others say so)
FILTERED_PAGES = "Overview, Trends, Funnels, Retention, Paths, Content, Communities and RFM"
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Filters:
    period: Period | None  # None when the warehouse holds no events
    channel: str | None  # None means all channels
    where: tuple[str, ...] = ()  # property filters, each "PROPERTY OPERATOR VALUE"

    @property
    def label(self) -> str:
        if self.period is None:
            return "no data"
        where = self.channel or "all channels"
        shown = f"{self.period.start:%Y-%m-%d} – {self.period.end:%Y-%m-%d}, {where}"
        return shown + "".join(f"; {w}" for w in self.where)


def _bounds(summary: dict) -> tuple[date, date] | None:
    if summary["first_day"] is None:
        return None
    return summary["first_day"], summary["last_day"]


def _default_range(first: date, last: date) -> tuple[date, date]:
    return max(first, last - timedelta(days=DEFAULT_DAYS - 1)), last


def render_sidebar_filters(path: str, version: int) -> None:
    """Draw the date range and channel pickers in the sidebar (called by the router)."""
    bounds = _bounds(data.summary(path, version))
    st.sidebar.subheader("Filters")
    if bounds is None:
        st.sidebar.caption("Filters appear once the warehouse holds events.")
        return
    first, last = bounds
    chosen = st.session_state.get(DATE_KEY)
    if not chosen:  # a shared link names its days and channel: ?from=2026-11-02&to=2026-12-01&channel=douyin
        chosen = _range_from_url(first, last)
        if chosen:
            st.session_state[DATE_KEY] = chosen
    if not chosen or not all(first <= d <= last for d in chosen):  # new data moved the bounds
        st.session_state[DATE_KEY] = _default_range(first, last)
    st.sidebar.date_input("Date range (business days)", min_value=first, max_value=last, key=DATE_KEY,
                          help="Inclusive range of days in the warehouse's business time zone. "
                               "KPIs compare it with the period of the same length just before it.")
    options = [ALL_CHANNELS, *data.channels(path, version)]
    if CHANNEL_KEY not in st.session_state and st.query_params.get("channel") in options:
        st.session_state[CHANNEL_KEY] = st.query_params["channel"]
    if st.session_state.get(CHANNEL_KEY) not in options:
        st.session_state[CHANNEL_KEY] = ALL_CHANNELS
    st.sidebar.selectbox("Channel", options, key=CHANNEL_KEY,
                         help="Only events that came through this channel.")
    _render_property_filters(path, version)
    days = st.session_state[DATE_KEY]
    if len(days) == 2:  # the address bar always holds the view, so that a link opens exactly this
        st.query_params.update({"from": days[0].isoformat(), "to": days[1].isoformat()})
    if st.session_state[CHANNEL_KEY] == ALL_CHANNELS:
        st.query_params.pop("channel", None)
    else:
        st.query_params["channel"] = st.session_state[CHANNEL_KEY]


def _range_from_url(first: date, last: date) -> tuple[date, date] | None:
    """The ``from``/``to`` days of the address, when both are valid days inside the data."""
    try:
        start = date.fromisoformat(st.query_params.get("from", ""))
        end = date.fromisoformat(st.query_params.get("to", ""))
    except ValueError:
        return None
    return (start, end) if first <= start <= end <= last else None


def active_conditions(path: str, version: int) -> tuple[str, ...]:
    """The property filters in force: the session's, else a shared link's (``?where=``), valid ones only;
    a filter on a saved segment that has since been deleted is dropped."""
    if WHERE_KEY not in st.session_state:
        st.session_state[WHERE_KEY] = [w for w in st.query_params.get_all("where") if _valid(w)]
    where = st.session_state[WHERE_KEY]
    saved = set(data.saved_segments(path, version)["name"])
    kept = [w for w in where if not (parse_condition(w).property == "segment"
                                     and not set(parse_condition(w).values) <= saved)]
    if kept != where:
        st.session_state[WHERE_KEY] = kept
    return tuple(kept)


def _valid(text: str) -> bool:
    try:
        parse_condition(text)
    except PondError:
        return False
    return True


def _problem(text: str, path: str, version: int) -> str | None:
    """Why the filter ``text`` cannot be added, or None."""
    try:
        condition = parse_condition(text)
    except PondError as exc:
        return str(exc)
    if condition.property == "segment":
        saved = data.saved_segments(path, version)["name"].tolist()
        missing = [v for v in condition.values if v not in saved]
        if missing:
            return (f"there is no saved segment named {missing[0]!r}; saved segments: {', '.join(saved)}" if saved
                    else "no segment is saved yet: build and save one on Segments first")
    return None


def _render_property_filters(path: str, version: int) -> None:
    """Property filters for every page: the list in force, each removable, and a form to add one."""
    where = list(active_conditions(path, version))
    if where:  # the address always holds the view (a page switch starts from a clean address)
        st.query_params["where"] = where
    box = st.sidebar.expander(f"Property filters ({len(where)})" if where else "Property filters",
                              expanded=bool(where), icon=":material/filter_alt:")
    box.caption(f"Apply to {FILTERED_PAGES}, on top of the dates and channel. Event properties keep the "
                "matching events; user properties keep the matching users' events.")
    for i, text in enumerate(where):
        left, right = box.columns([5, 1])
        left.markdown(f"`{text}`")
        if right.button("", key=f"pond-where-remove-{i}", icon=":material/close:", help=f"Remove the filter {text}",
                        type="tertiary"):
            where.pop(i)
            _store(where)
            st.rerun()
    props = list(PROPERTIES)
    prop = box.selectbox("Property", props, key="pond-where-prop", format_func=PROPERTY_LABELS.get)
    kind = PROPERTIES[prop][1]
    ops = (["=", "!=", "in", "not in"] if kind in ("tag", "members") else
           [o for o in OPERATORS if not (o == "contains" and kind != "text")
            and not (o in (">", ">=", "<", "<=", "between") and kind == "text")])
    op = box.selectbox("Operator", ops, key="pond-where-op")
    value = ""
    if OPERATORS[op] != 0:
        hint = {None: "one or more, separated by commas", 2: "low, high"}.get(OPERATORS[op], "a value")
        known = _known_values(path, version, prop)
        value = box.text_input("Value", key="pond-where-value", placeholder=hint,
                               help=("Values seen: " + ", ".join(map(str, known[:12]))) if known else None)
    if box.button("Add filter", key="pond-where-add", icon=":material/add:"):
        text = f"{prop} {op} {value}".strip()
        problem = _problem(text, path, version)
        if problem:
            box.error(problem)
        else:
            if text not in where:
                where.append(text)
            _store(where)
            st.rerun()
    if where and box.button("Clear all", key="pond-where-clear"):
        _store([])
        st.rerun()


def _known_values(path: str, version: int, prop: str) -> list[str]:
    """Values to suggest for a property (none for free-text ones such as ids and amounts)."""
    if prop in ("churn_risk", "purchase_propensity"):
        return ["high", "medium", "low"]
    if prop == "segment":
        return data.saved_segments(path, version)["name"].tolist()
    if prop == "rfm_segment":
        from engine.customers.rfm import DEFAULT_RULES

        return [r.segment for r in DEFAULT_RULES]
    if prop == "interest_tag":
        return data.tag_names(path, version)
    if prop in ("acquisition_channel", "gender", "age_band", "city"):
        return data.property_values(path, version, prop)
    return []


def _store(where: list[str]) -> None:
    st.session_state[WHERE_KEY] = list(where)
    if where:
        st.query_params["where"] = list(where)
    else:
        st.query_params.pop("where", None)


def current_filters(path: str, version: int) -> Filters:
    """The filters chosen in the sidebar, or the defaults when a page runs on its own."""
    bounds = _bounds(data.summary(path, version))
    if bounds is None:
        return Filters(None, None)
    chosen = st.session_state.get(DATE_KEY) or _default_range(*bounds)
    if len(chosen) == 1:  # the date picker is half-way through choosing a range
        chosen = (chosen[0], chosen[0])
    channel = st.session_state.get(CHANNEL_KEY, ALL_CHANNELS)
    return Filters(Period(*chosen), None if channel == ALL_CHANNELS else channel,
                   active_conditions(path, version))
