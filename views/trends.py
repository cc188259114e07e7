"""Trends: one or more event series over time, filtered, broken down, combined by a formula.

Every choice lives in the URL's query string too, so a chart can be bookmarked or sent to a colleague.
"""

import streamlit as st

from engine.behaviour.trends import ANY_EVENT, INTERVALS, LETTERS, MEASURES, Series, TrendQuery
from engine.errors import PondError
from engine.store.filters import OPERATORS, PROPERTIES, USER_PROPERTIES, parse_condition
from ui import charts, data, widgets
from ui.page import page_context

MAX_SERIES = 4
FILTER_HELP = ("Conditions separated by “;”, each PROPERTY OPERATOR VALUE, e.g. `channel = douyin; amount > 100`. "
               f"Properties: {', '.join(PROPERTIES)} (user properties: {', '.join(USER_PROPERTIES)}). "
               f"Operators: {', '.join(OPERATORS)}; `in` and `between` take values separated by commas.")

st.title("Trends")
st.caption("Any event over time: count events or unique users, or sum or average the amount, by day, week or "
           "month in the business time zone. The sidebar's dates, channel and property filters apply. A shaded "
           "period is partial: "
           "it reaches outside the chosen days.")
page = page_context()
path, version, chosen = page.path, page.version, page.filters
types = data.event_types(path, version)
events = [ANY_EVENT, *types]


def from_url(key: str, default: str) -> str:
    """A choice from the query string (a shared link), else the default."""
    return st.query_params.get(key, default)


def conditions(text: str) -> tuple:
    return tuple(parse_condition(part) for part in text.split(";") if part.strip())


count = int(from_url("n", "1")) if from_url("n", "1").isdigit() else 1
count = st.session_state.setdefault("trend-count", min(max(count, 1), MAX_SERIES))
series, problems = [], []
for i in range(count):
    letter = LETTERS[i]
    cols = st.columns([0.3, 1.4, 1.3, 3])
    cols[0].markdown(f"**{letter}**")
    event = cols[1].selectbox("Event", events, key=f"trend-event-{i}",
                              index=events.index(from_url(f"e{i}", "any")) if from_url(f"e{i}", "any") in events else 0,
                              format_func=lambda e: "any action" if e == ANY_EVENT else e)
    measures = list(MEASURES)
    measure = cols[2].selectbox("Measured as", measures, key=f"trend-measure-{i}", format_func=MEASURES.get,
                                index=measures.index(from_url(f"m{i}", "events")) if from_url(f"m{i}", "events")
                                in measures else 0)
    where = cols[3].text_input("Where", key=f"trend-where-{i}", value=from_url(f"w{i}", ""),
                               placeholder="e.g. channel = douyin; amount > 100", help=FILTER_HELP)
    try:
        series.append(Series(event, measure, conditions(where)))
    except PondError as exc:
        problems.append(f"Series {letter}: {exc}")
    st.query_params.update({f"e{i}": event, f"m{i}": measure, f"w{i}": where})

buttons = st.columns([1, 1.2, 3])
if buttons[0].button("Add a series", icon=":material/add:", key="trend-add", disabled=count >= MAX_SERIES):
    st.session_state["trend-count"] = count + 1
    st.query_params["n"] = str(count + 1)
    st.rerun()
if buttons[1].button(f"Remove series {LETTERS[count - 1]}", icon=":material/remove:", key="trend-remove",
                     disabled=count <= 1):
    st.session_state["trend-count"] = count - 1
    st.query_params["n"] = str(count - 1)
    for key in (f"e{count - 1}", f"m{count - 1}", f"w{count - 1}"):
        st.query_params.pop(key, None)
    st.rerun()

options = st.columns([1.6, 1.6, 0.8, 1.6])
interval = options[0].segmented_control("By", list(INTERVALS), key="trend-interval", format_func=str.title,
                                        default=from_url("i", "day") if from_url("i", "day") in INTERVALS else "day"
                                        ) or "day"
breakdowns = ["none", *PROPERTIES]
breakdown = options[1].selectbox("Breakdown", breakdowns, key="trend-breakdown",
                                 index=breakdowns.index(from_url("b", "none")) if from_url("b", "none") in breakdowns
                                 else 0, help="Event properties take each event's value; user properties the user's.")
limit = int(options[2].number_input("Top", min_value=1, max_value=20, value=int(from_url("l", "5")) if
                                    from_url("l", "5").isdigit() else 5, key="trend-limit",
                                    help="Breakdown values shown; the rest are summed as Other."))
more = st.columns([1.6, 2.4, 1.6])
formula = more[0].text_input("Formula", key="trend-formula", value=from_url("f", ""),
                                placeholder="e.g. B / A" if count > 1 else "add a series first",
                                help="Combine the series per period: letters, numbers, + - * / and brackets.")
compare = more[1].toggle("Previous period", key="trend-compare", value=from_url("c", "0") == "1",
                            help="Each point beside the same position of the period of equal length just before.")
shape = options[3].segmented_control("Show as", ["line", "bar", "table"], key="trend-shape",
                                     default=from_url("s", "line") if from_url("s", "line") in ("line", "bar", "table")
                                     else "line") or "line"
st.query_params.update({"n": str(count), "i": interval, "b": breakdown, "l": str(limit), "f": formula,
                        "c": "1" if compare else "0", "s": shape})

global_where = []
if chosen.channel:
    global_where.append(parse_condition(f"channel = {chosen.channel}"))
try:
    if problems:
        raise PondError(" ".join(problems))
    query = TrendQuery(tuple(series), interval=interval, start=chosen.period.start, end=chosen.period.end,
                       breakdown=None if breakdown == "none" else breakdown, limit=limit,
                       formula=formula.strip() or None, compare=compare, where=tuple(global_where))
    result = data.trends(path, version, query, chosen.where)
except PondError as exc:
    st.warning(f"Check the choices above: {exc}", icon=":material/tune:")
    st.stop()

frame = result.frame
for letter, label in result.labels.items():
    st.caption(f"**{letter}** · {label}")
empty = [letter for letter in LETTERS[:len(series)]
         if frame.loc[frame["series"] == letter, "value"].fillna(0).eq(0).all()]
if empty:
    widgets.empty_state(f"Nothing matches series {', '.join(empty)} in the chosen days ({chosen.label}).",
                        hint="Widen the date range, choose All channels, remove a property filter or loosen the "
                             "series' conditions.")
if shape == "table":
    st.dataframe(frame, hide_index=True, column_config={"period": st.column_config.DateColumn(interval.title())})
else:
    # with a formula the chart shows its result (as in PostHog); the table and the CSV keep every series
    drawn = frame[frame["series"] == "formula"] if query.formula else frame
    st.plotly_chart(charts.trend_lines(drawn, result.labels, period=interval, bars=shape == "bar"), width="stretch")
widgets.csv_download(frame, f"pond-trends-{interval}-{chosen.period.start}-{chosen.period.end}.csv",
                     label="Trend as CSV", key="trend-csv")
