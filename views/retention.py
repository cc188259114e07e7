"""Retention: cohort heatmap, retention curves, period-N over time, and the users behind a cell."""

from datetime import timedelta

import streamlit as st

from engine.behaviour.retention import (
    ANY_EVENT,
    MATCH_PROPERTIES,
    PROPERTY_BREAKDOWNS,
    RetentionQuery,
    cohort_label,
    cohorts_beyond_range,
    period_n_over_time,
    retention_average,
)
from engine.errors import PondError
from ui import charts, data, widgets
from ui.filters import PROPERTY_LABELS
from ui.page import page_context

st.title("Retention")
st.caption("Do users who did the start event come back to do the return event? Cohorts are the "
           "periods of the start event; cohorts come from the sidebar's date range, and the channel "
           "filter keeps users acquired through that channel.")

page = page_context()
path, version, chosen = page.path, page.version, page.filters
types = data.event_types(path, version)

options = [ANY_EVENT, *types]
labels = {ANY_EVENT: "any action"}
default = "purchase" if "purchase" in types else ANY_EVENT

saved = data.saved_segments(path, version)["name"].tolist()
BREAKDOWNS = (["none", "channel", "community", "gender", "age_band", "city"] + (["segment"] if saved else [])
              + list(PROPERTY_BREAKDOWNS))
widgets.in_address({
    "ret-period": ("period", ["hour", "day", "week", "month"]), "ret-start": ("start", options),
    "ret-return": ("return", options), "ret-breakdown": ("by", BREAKDOWNS), "ret-segment-name": ("segment", saved),
    "ret-cohorts": ("cohorts", ["first time", "recurring"]), "ret-mode": ("mode", ["on", "on or after"]),
    "ret-week-start": ("week", ["monday", "sunday"]), "ret-min-returns": ("min", widgets.bounded(1, 1000)),
    "ret-clip": ("clip", widgets.flag), "ret-match": ("match", ["(nothing)", *MATCH_PROPERTIES]),
    "ret-start-where": ("start_where", str), "ret-return-where": ("return_where", str),
}, **{"ret-period": "week", "ret-start": default, "ret-return": default, "ret-min-returns": 1})
top = st.columns([1.6, 1.3, 1.3, 1.3])
period = top[0].segmented_control("Period", ["hour", "day", "week", "month"], key="ret-period",
                                  format_func=str.title,
                                  help="Hours: up to 72 hours after each hourly cohort, over at most the last 3 "
                                       "days of the chosen range.") or "week"
start_event = top[1].selectbox("Start event", options, key="ret-start",
                               format_func=lambda v: labels.get(v, v))
return_event = top[2].selectbox("Return event", options, key="ret-return",
                                format_func=lambda v: labels.get(v, v))
breakdown = top[3].selectbox("Breakdown", BREAKDOWNS, key="ret-breakdown",
                             format_func=lambda b: "saved segment" if b == "segment" else
                             "event channel" if b == "event_channel" else PROPERTY_LABELS.get(b, b),
                             help="Channel: the user's acquisition channel. Community: the first group "
                                  "they joined. Gender, age band, city: the user's, from imported profiles. Saved "
                                  "segment: its users against everyone else. Event properties (category, item, event "
                                  "channel ...): the value on the cohort's first start event. Churn risk, propensity, "
                                  "acquisition channel: the user's. The top 5 values, then Other, then (none).")
second = st.columns([1.6, 1.3, 1.2, 1, 2])
cohort_type = second[0].radio("Cohorts", ["first time", "recurring"], key="ret-cohorts", horizontal=True,
                              help="First time: a user's cohort is the period of their first start event. "
                                   "Recurring: every period with a start event is a cohort.")
mode = second[1].radio("Counted when they return", ["on", "on or after"], key="ret-mode", horizontal=True,
                       help="On: did the return event in that exact period. On or after: in that period or "
                            "any later one (unbounded retention).")
week_start = second[2].radio("Weeks start on", ["monday", "sunday"], key="ret-week-start", horizontal=True,
                             format_func=str.title, disabled=period != "week")
min_returns = int(second[3].number_input("Return events", min_value=1, max_value=1000, key="ret-min-returns",
                                         help="How many return events a period needs before the user counts as "
                                              "back in it (1: any)."))
clip = second[4].toggle("Only start events on the chosen days", key="ret-clip",
                        help="Off (as in PostHog): cohorts are whole periods, so a weekly cohort of a range "
                             "that starts on a Sunday holds the whole Monday-to-Sunday week. On: only start "
                             "events on the sidebar's days put a user in a cohort.")
segment = st.selectbox("Saved segment", saved, key="ret-segment-name") if breakdown == "segment" else None
with st.expander("Filter the start and return events, or make the return match the start"):
    third = st.columns([1.2, 2, 2])
    match = third[0].selectbox("Return must match the start's", ["(nothing)", *MATCH_PROPERTIES], key="ret-match",
                               help="Returned to the same category, campaign, item ...: a return counts only when it "
                                    "carries the start event's value (first-time cohorts: the first start event's; "
                                    "recurring: any start event's of the cohort's period). A missing value never "
                                    "matches. PostHog has no such option; Amplitude and Mixpanel do.")
    start_where = widgets.where_input("Start event where", key="ret-start-where", container=third[1])
    return_where = widgets.where_input("Return event where", key="ret-return-where", container=third[2],
                                       placeholder="e.g. category = 3")
start, end = chosen.period.start, chosen.period.end
if period == "hour" and (end - start).days >= 3:
    start = end - timedelta(days=2)
    st.caption(f"Hourly cohorts of the last 3 chosen days: {start:%b} {start.day} – {end:%b} {end.day}.")

query = RetentionQuery(period=period, start_event=start_event, return_event=return_event,
                       first_time=cohort_type == "first time", mode=mode.replace(" ", "_"),
                       start=start, end=end, channel=chosen.channel,
                       breakdown=breakdown, segment=segment, clip=clip, week_start=week_start,
                       min_returns=min_returns, match_property=None if match == "(nothing)" else match,
                       start_where=start_where, return_where=return_where)
try:
    matrix = data.retention_matrix(path, version, query, chosen.where)
except PondError as exc:
    data.show_pond_error(exc)

if matrix.empty:
    widgets.empty_state(f"No user did “{labels.get(start_event, start_event)}” in the chosen days "
                        f"({chosen.label}).",
                        hint="Pick another start event, widen the date range, choose All channels or remove a "
                             "property filter.")
    st.stop()

beyond = cohorts_beyond_range(matrix, start, end) if period != "hour" else []
if beyond:
    spans = "; ".join(cohort_label(a, b) for a, b in beyond)
    st.warning(f"Cohorts are whole {period}s, so some reach past the chosen days "
               f"({chosen.period.start:%b} {chosen.period.start.day} – {chosen.period.end:%b} "
               f"{chosen.period.end.day}): {spans}. Turn on *Only start events on the chosen days* to "
               "clip them.", icon=":material/date_range:")

average = retention_average(matrix)
segments = list(dict.fromkeys(matrix["segment"]))
segment = segments[0]
if len(segments) > 1:
    segment = st.selectbox("Segment shown in the heatmap", segments, key="ret-segment")
shown = matrix[matrix["segment"] == segment]

head = st.columns([3, 1])
head[0].subheader(f"Cohorts by {period}")
show = head[1].segmented_control("Cells show", ["rate", "users"], default="rate", key="ret-show") or "rate"
st.plotly_chart(charts.retention_heatmap(shown, average[average["segment"] == segment], show=show,
                                         period=period), width="stretch")
st.caption("Rows: the days each cohort's start events lie on, and its users. Average = users retained ÷ "
           "cohort users over the cohorts whose period is over (bigger cohorts weigh more). * = period not "
           "over yet: it may still grow.")

left, right = st.columns(2)
with left:
    st.markdown("**Retention curve**")
    if average.empty:
        st.caption("No period is complete yet.")
    else:
        st.plotly_chart(charts.retention_curves(average, period=period), width="stretch")
with right:
    max_n = int(matrix["period"].max())
    n = st.number_input(f"{period.title()}-N retention over time: N =", min_value=1,
                        max_value=max(1, max_n), value=1, key="ret-n")
    line = period_n_over_time(matrix, int(n))
    if line.empty:
        st.caption(f"No cohort has a complete {period} {n} yet.")
    else:
        st.plotly_chart(charts.period_n_line(line, n=int(n), period=period), width="stretch")

st.subheader("Who is behind a cell")
pick = st.columns(3)
cohorts = sorted(shown["cohort"].drop_duplicates())
spans = shown.drop_duplicates("cohort").set_index("cohort")
cohort = pick[0].selectbox("Cohort", cohorts, index=len(cohorts) - 1 if len(cohorts) < 2 else 0,
                           key="ret-cell-cohort",
                           format_func=lambda c: cohort_label(spans.at[c, "cohort_from"], spans.at[c, "cohort_to"]))
periods = sorted(shown.loc[shown["cohort"] == cohort, "period"].unique())
cell_period = pick[1].selectbox(f"{period.title()}", periods, index=min(1, len(periods) - 1),
                                key="ret-cell-period")
which = pick[2].radio("Users", ["came back", "did not come back", "all"], key="ret-cell-which",
                      horizontal=True)
users = data.retention_cell_users(path, version, query, segment, cohort, int(cell_period), chosen.where)
if which != "all":
    users = users[users["came_back"] == (which == "came back")]
cohort_days = cohort_label(spans.at[cohort, "cohort_from"], spans.at[cohort, "cohort_to"])
widgets.capped_table(users, f"{len(users):,} users · cohort {cohort_days} · {period} {cell_period} · {segment}",
                     height=260)
widgets.csv_download(users, f"pond-retention-{cohort}-{period}{cell_period}-{which.replace(' ', '-')}.csv",
                     label="These users as CSV", key="ret-cell-csv")

with st.expander("Tables"):
    st.dataframe(matrix, hide_index=True)
    widgets.csv_download(matrix, f"pond-retention-{period}.csv", label="Retention matrix as CSV",
                         key="ret-matrix-csv")
    st.dataframe(average, hide_index=True)
    widgets.csv_download(average, f"pond-retention-average-{period}.csv", label="Averages as CSV",
                         key="ret-average-csv")
