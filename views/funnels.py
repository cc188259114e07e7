"""Funnels: conversion through 2 to 8 steps within a window, time to convert, and who dropped off."""

import streamlit as st

from engine.behaviour.funnels import ANY_STEP, MAX_STEPS, FunnelQuery
from engine.errors import PondError
from engine.store.filters import PROPERTIES
from ui import charts, data, widgets
from ui.page import page_context

st.title("Funnels")
st.caption("Users enter with the first step on a day of the sidebar's date range (through the chosen "
           "channel) and count at the furthest step they reach within the conversion window.")

page = page_context()
path, version, chosen = page.path, page.version, page.filters
types = data.event_types(path, version)

defaults = [t for t in ("view", "cart", "purchase") if t in types] or types[:2]
UNITS = {"minutes": 1 / 1440, "hours": 1 / 24, "days": 1.0}
saved = data.saved_segments(path, version)["name"].tolist()
BREAKDOWNS = ["none", *PROPERTIES] + (["segment"] if saved else [])
# every choice is in the address too, so that a link opens this funnel (see widgets.in_address)
widgets.in_address({
    "fun-count": ("steps", widgets.bounded(2, MAX_STEPS)), "fun-window-unit": ("unit", list(UNITS)),
    "fun-order": ("order", ["sequential", "strict", "unordered"]), "fun-same-item": ("same_item", widgets.flag),
    "fun-breakdown": ("by", BREAKDOWNS), "fun-segment-name": ("segment", saved),
    "fun-count-by": ("count", ["user", "session"]), "fun-where": ("where_all", str),
}, **{"fun-count": max(2, len(defaults)), "fun-window-unit": "days"})
settings = st.columns([0.8, 0.8, 0.9, 1.4, 0.9, 1])
count = settings[0].number_input("Steps", min_value=2, max_value=MAX_STEPS, key="fun-count")
unit = settings[2].selectbox("Unit", list(UNITS), key="fun-window-unit")
widgets.in_address({f"fun-window-{unit}": ("window", widgets.bounded(1, int(90 / UNITS[unit])))},
                   **{f"fun-window-{unit}": {"days": 7, "minutes": 60, "hours": 24}[unit]})
window = settings[1].number_input("Window", min_value=1, max_value=int(90 / UNITS[unit]), step=1,
                                  key=f"fun-window-{unit}",
                                  help="Every step must happen within this time of step 1 (1 minute to 90 days).")
order = settings[3].selectbox("Order", ["sequential", "strict", "unordered"], key="fun-order",
                             help="Sequential: other events may happen between steps. Strict: each step is the "
                                  "user's very next action (being shown content does not count). Unordered: the "
                                  "steps in any order; row k counts users who did k of them within the window.")
same_item = settings[4].checkbox("Same item", key="fun-same-item",
                                 help="Every step concerns the same item (e.g. view, cart and buy one SKU).")
breakdown = settings[5].selectbox("Breakdown", BREAKDOWNS, key="fun-breakdown",
                                  format_func=lambda b: "saved segment" if b == "segment" else b,
                                  help="An event property takes the value on the user's entry event (channel: the "
                                       "channel they entered through); a user property the user's own; the five "
                                       "values with the most entrants, then Other. Or a saved segment against "
                                       "everyone else.")
segment = st.selectbox("Saved segment", saved, key="fun-segment-name") if breakdown == "segment" else None
count_by = st.radio("Count", ["user", "session"], key="fun-count-by", horizontal=True,
                    format_func={"user": "each user once", "session": "each session"}.get,
                    help="Each session: every step must happen in the entry's session, and a user counts once per "
                         "session. A session is the export's session id; events without one are cut into "
                         "sessions by 30 minutes without any event, as Mixpanel and PostHog do. First-time steps "
                         "and exclusions are about users, so they are not applied.")

picked = st.columns(int(count))
steps, step_where = [], []
choices = [*types, ANY_STEP]
widgets.in_address({**{f"fun-step-{k}": (f"s{k + 1}", choices) for k in range(int(count))},
                    **{f"fun-step-where-{k}": (f"w{k + 1}", str) for k in range(int(count))}},
                   **{f"fun-step-{k}": defaults[k] if k < len(defaults) else types[min(k, len(types) - 1)]
                      for k in range(int(count))})
for k, column in enumerate(picked):
    steps.append(column.selectbox(f"Step {k + 1}", choices, key=f"fun-step-{k}",
                                  format_func=lambda t: "any action" if t == ANY_STEP else t))
    with column.expander("Filter", expanded=bool(st.session_state.get(f"fun-step-where-{k}"))):
        step_where.append(widgets.where_input("Where", key=f"fun-step-where-{k}",
                                              placeholder="e.g. amount between 100,500"))
funnel_where = widgets.where_input(
    "Every step where", key="fun-where", placeholder="e.g. category = 3",
    help="A filter on every step's events (the whole funnel, as PostHog's funnel filters). A step's own filter "
         "(under it) applies to that step only: `purchase` where `amount between 100,500`. A first-time step "
         "with a filter is the user's first matching such event.")

first_time = st.multiselect("First time for the user", list(range(1, int(count) + 1)), key="fun-first-time",
                            format_func=lambda k: f"{k}. {steps[k - 1]}", disabled=order == "strict",
                            help="These steps must be the user's first such event ever (a new-customer funnel marks "
                                 "its purchase). Sequential order only.")

with st.expander("Exclusions: leave out users who did something between two steps"):
    exclusions = []
    for j in range(3):
        row = st.columns([1.4, 1, 1])
        event = row[0].selectbox("Event", ["(none)", *types], key=f"fun-ex-event-{j}")
        after = row[1].selectbox("after step", list(range(1, int(count))), key=f"fun-ex-after-{j}")
        before = row[2].selectbox("before step", list(range(after + 1, int(count) + 1)), key=f"fun-ex-before-{j}")
        if event != "(none)":
            exclusions.append((event, int(after), int(before)))
    if count_by == "session" and exclusions:
        st.caption("Counting by session: exclusions (about users) are not applied.")
        exclusions = []
    if order == "unordered" and exclusions:
        st.caption("Unordered funnels have no steps in between: the exclusions are not applied.")
        exclusions = []
    st.caption("A user whose best attempt has the event between those steps (or before the window closes, when "
               "they never reached the later step) is left out of every count, as in PostHog.")

try:
    query = FunnelQuery(steps=tuple(steps), window_days=float(window) * UNITS[unit], order=order,
                        same_item=same_item and order != "unordered", start=chosen.period.start, end=chosen.period.end,
                        channel=chosen.channel, breakdown=breakdown, segment=segment, exclusions=tuple(exclusions),
                        first_time=tuple(first_time) if order == "sequential" and count_by == "user" else (),
                        step_where=tuple(step_where), where=funnel_where, count_by=count_by)
    result = data.funnel(path, version, query, chosen.where)
except PondError as exc:
    data.show_pond_error(exc)

if result.users.empty:
    widgets.empty_state(f"Nobody did “{steps[0]}” in the chosen days ({chosen.label}).",
                        hint="Pick another first step, widen the date range, choose All channels or remove a "
                             "property filter.")
    st.stop()

table = result.steps
overall = table.groupby("segment")["overall_conversion"].last()
cards = st.columns(4)
cards[0].metric("Entered" + (" (sessions)" if count_by == "session" else ""),
                f"{int(table[table.step == 1]['users'].sum()):,}")
cards[1].metric("Completed", f"{int(table[table.step == len(steps)]['users'].sum()):,}")
hours = result.time_to_convert()
cards[2].metric("Median time to convert", f"{hours.median():.1f} h" if len(hours) else "—",
                help="From step 1 to the last step, users who completed.")
cards[3].metric("Mean time to convert", f"{hours.mean():.1f} h" if len(hours) else "—",
                help="The average is pulled up by a few slow converters; the median is the typical user.")

st.plotly_chart(charts.funnel_bars(table), width="stretch")
st.dataframe(table, hide_index=True, column_config={
    "step_conversion": st.column_config.NumberColumn("from previous step", format="percent"),
    "overall_conversion": st.column_config.NumberColumn("from step 1", format="percent"),
    "median_hours": st.column_config.NumberColumn("median hours from previous step", format="%.2f"),
    "mean_hours": st.column_config.NumberColumn("mean hours from previous step", format="%.2f"),
})
widgets.csv_download(table, "pond-funnel-steps.csv", label="Steps as CSV", key="fun-steps-csv")

st.markdown("**Conversion over time**")
grain = st.segmented_control("Entry period", ["day", "week", "month"], default="week", key="fun-trend-period",
                             format_func=str.title) or "week"
trend = data.funnel_trend(path, version, query, grain, chosen.where)
done = trend[trend["complete"]]
st.plotly_chart(charts.conversion_over_time(trend, period=grain), width="stretch")
st.caption(f"The share of each {grain}'s entrants who completed the funnel (a user counts in the {grain} of their "
           f"best attempt's entry). A shaded {grain} is not settled: it reaches outside the chosen days, or its "
           "last entrants still have time left in the window." + (
               f" Over the {len(done):,} settled {grain}s: {done['converted'].sum() / done['entered'].sum():.1%}."
               if len(done) and done["entered"].sum() else ""))
widgets.csv_download(trend, f"pond-funnel-conversion-by-{grain}.csv", label="Conversion over time as CSV",
                     key="fun-trend-csv")

left, right = st.columns(2)
with left:
    st.markdown("**Time to convert** (users who completed)")
    if len(hours):
        st.plotly_chart(charts.hours_histogram(hours), width="stretch")
    else:
        st.caption("Nobody completed the funnel in the window.")
with right:
    st.markdown("**Who dropped off**")
    segments = list(dict.fromkeys(table["segment"]))
    segment = st.selectbox("Segment", segments, key="fun-drop-segment") if len(segments) > 1 else segments[0]
    after = st.selectbox("Reached step but not the next", list(range(1, len(steps))),
                         format_func=lambda k: f"{k}. {steps[k - 1]} → not {steps[k]}", key="fun-drop-step")
    dropped = result.dropped_after(int(after), segment)
    widgets.capped_table(dropped, f"{len(dropped):,} {'sessions' if count_by == 'session' else 'users'}", height=240)
    widgets.csv_download(dropped, f"pond-funnel-dropped-after-step-{after}.csv", label="These users as CSV",
                         key="fun-drop-csv")
