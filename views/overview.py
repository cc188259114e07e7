"""Overview: the warehouse at a glance, KPI cards against the previous period, daily activity."""

import streamlit as st

from engine.behaviour import metrics
from ui import charts, data, widgets
from ui.filters import PROPERTY_LABELS
from ui.page import page_context

st.title("Overview")
page = page_context()
path, version, summary, chosen = page.path, page.version, page.summary, page.filters

glance = st.columns(5)
glance[0].metric("Events", f"{summary['events']:,}")
glance[1].metric("Users", f"{summary['users']:,}")
glance[2].metric("Items", f"{summary['items']:,}")
span = (summary["last_day"] - summary["first_day"]).days + 1
glance[3].metric("Days of data", f"{span:,}", help=f"Business days in {summary['timezone']}.")
glance[3].caption(f"{summary['first_day']:%Y-%m-%d} → {summary['last_day']:%Y-%m-%d}")
if summary["last_upload_at"] is not None:
    at = summary["last_upload_at"]
    glance[4].metric("Last import", f"{at:%b} {at.day}",
                     help=f"{at:%Y-%m-%d %H:%M} (server time); {summary['last_upload_rows'] or 0:,} events added")
    glance[4].caption(f"{at:%H:%M} · {summary['last_upload_file']}")

start, end, channel = chosen.period.start, chosen.period.end, chosen.channel
st.subheader("Key figures")
kpis = data.kpi_table(path, version, start, end, channel, chosen.where)
compared = kpis["compared_with"].iloc[0]
if kpis["previous"].isna().all():
    st.caption(f"{chosen.label}; {compared}. Choose a later or shorter range to see the change.")
else:
    st.caption(f"{chosen.label}; change against the {widgets.plural(chosen.period.days, 'day')} before ({compared}).")
widgets.kpi_cards(kpis)

by = widgets.breakdown_choice("Split these figures by", key="kpi-breakdown", url_key="kpi_by",
                              container=st.columns([1, 2])[0])
if by:
    split = data.kpi_breakdown(path, version, start, end, channel, by, chosen.where)
    label = PROPERTY_LABELS[by]
    shown = st.radio("Chart", list(metrics.KPI_LABELS), key="kpi-breakdown-metric", horizontal=True,
                     format_func=metrics.KPI_LABELS.get, label_visibility="collapsed")
    st.plotly_chart(charts.breakdown_bars(split, shown, label=metrics.KPI_LABELS[shown], by=label,
                                          percent=shown == "conversion_rate"), width="stretch")
    st.dataframe(split, hide_index=True, column_config={
        "breakdown": label, **metrics.KPI_LABELS,
        "gmv": st.column_config.NumberColumn("GMV", format="¥%.2f"),
        "dau": st.column_config.NumberColumn("DAU (average)", format="%.1f"),
        "conversion_rate": st.column_config.NumberColumn("Conversion rate", format="percent"),
        "active_users": "Active users", "buyers": "Buyers"})
    widgets.csv_download(split, f"pond-kpis-by-{by}-{start}-{end}.csv", label="Breakdown as CSV",
                         key="kpi-breakdown-csv")

activity = data.daily_activity(path, version, start, end, channel, chosen.where)
events = data.daily_events(path, version, start, end, channel, chosen.where)
if events.empty:
    widgets.empty_state(f"No events in the chosen days, channel and filters ({chosen.label}).",
                        hint="Widen the date range, pick *All channels* or remove a property filter in the sidebar.")
    st.stop()

left, right = st.columns(2)
with left:
    st.markdown("**Events by type and day**")
    st.plotly_chart(charts.events_by_day(events), width="stretch")
with right:
    st.markdown("**Active users and buyers per day**")
    st.plotly_chart(charts.activity_by_day(activity), width="stretch")
left, right = st.columns(2)
with left:
    st.markdown("**GMV per day**")
    st.plotly_chart(charts.gmv_by_day(activity), width="stretch")
with right:
    st.markdown("**DAU, WAU and MAU per day**",
                help="Each day's distinct active users over that day, the 7 days and the 30 days that end on "
                     "it: the WAU and MAU cards are this chart's last point.")
    windows = data.active_users_by_day(path, version, start, end, channel, chosen.where)
    st.plotly_chart(charts.active_windows_by_day(windows), width="stretch")

with st.expander("Tables"):
    st.markdown("KPIs")
    st.dataframe(kpis, hide_index=True, column_config={
        "change": st.column_config.NumberColumn(format="percent")})
    widgets.csv_download(kpis, f"pond-kpis-{start}-{end}.csv", label="KPIs as CSV")
    st.markdown("Daily activity")
    st.dataframe(activity, hide_index=True)
    widgets.csv_download(activity, f"pond-daily-activity-{start}-{end}.csv", label="Daily activity as CSV")
    st.markdown("DAU, WAU and MAU per day")
    st.dataframe(windows, hide_index=True)
    widgets.csv_download(windows, f"pond-active-users-{start}-{end}.csv", label="DAU/WAU/MAU as CSV")
    st.markdown("Events by type and day")
    st.dataframe(events, hide_index=True)
    widgets.csv_download(events, f"pond-daily-events-{start}-{end}.csv", label="Daily events as CSV")
