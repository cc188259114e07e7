"""Plotly chart builders shared by pages (no Streamlit calls here, only figures)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

EVENT_COLOURS = {
    "impression": "#c7d2fe", "view": "#93c5fd", "click": "#60a5fa", "cart": "#fbbf24", "fav": "#f9a8d4",
    "purchase": "#16a34a", "refund": "#dc2626", "share": "#a855f7", "comment": "#14b8a6", "like": "#f472b6",
    "join_group": "#0ea5e9", "coupon_issue": "#fde68a", "coupon_redeem": "#f59e0b", "signup": "#64748b",
}


def _layout(fig: go.Figure, *, y_title: str) -> go.Figure:
    fig.update_layout(margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text="",
                      hovermode="x unified", yaxis_title=y_title, xaxis_title=None, height=360)
    return fig


def events_by_day(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars of events per day and event type."""
    fig = px.bar(frame, x="day", y="events", color="event_type", color_discrete_map=EVENT_COLOURS,
                 labels={"events": "Events", "event_type": "Event type", "day": "Day"})
    return _layout(fig, y_title="Events per day")


def activity_by_day(frame: pd.DataFrame) -> go.Figure:
    """Active users and buyers per day as lines."""
    long = frame.melt(id_vars="day", value_vars=["active_users", "buyers"], var_name="series",
                      value_name="users")
    long["series"] = long["series"].map({"active_users": "Active users", "buyers": "Buyers"})
    fig = px.line(long, x="day", y="users", color="series", markers=len(frame) < 40,
                  labels={"users": "Users", "day": "Day"})
    return _layout(fig, y_title="Users per day")


def gmv_by_day(frame: pd.DataFrame) -> go.Figure:
    fig = px.bar(frame, x="day", y="gmv", labels={"gmv": "GMV (¥)", "day": "Day"},
                 color_discrete_sequence=["#16a34a"])
    return _layout(fig, y_title="GMV per day (¥)")
