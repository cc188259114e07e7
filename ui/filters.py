"""Global sidebar filters (date range, channel) that every page reads the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import streamlit as st

from engine.metrics import Period
from ui import data

DATE_KEY = "pond_date_range"
CHANNEL_KEY = "pond_channel"
ALL_CHANNELS = "All channels"
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Filters:
    period: Period | None  # None when the warehouse holds no events
    channel: str | None  # None means all channels

    @property
    def label(self) -> str:
        if self.period is None:
            return "no data"
        where = self.channel or "all channels"
        return f"{self.period.start:%Y-%m-%d} – {self.period.end:%Y-%m-%d}, {where}"


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


def current_filters(path: str, version: int) -> Filters:
    """The filters chosen in the sidebar, or the defaults when a page runs on its own."""
    bounds = _bounds(data.summary(path, version))
    if bounds is None:
        return Filters(None, None)
    chosen = st.session_state.get(DATE_KEY) or _default_range(*bounds)
    if len(chosen) == 1:  # the date picker is half-way through choosing a range
        chosen = (chosen[0], chosen[0])
    channel = st.session_state.get(CHANNEL_KEY, ALL_CHANNELS)
    return Filters(Period(*chosen), None if channel == ALL_CHANNELS else channel)
