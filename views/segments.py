"""Segments: RFM scores, named segments from editable rules, sizes and value, and movement between them."""

import pandas as pd
import streamlit as st

from engine.errors import PondError
from engine.rfm import DEFAULT_RULES, rules_frame, rules_from_frame, segment_sizes
from ui import charts, data, widgets
from ui.page import page_context

RULES_KEY = "pond_rfm_rules"

st.title("Segments")
page = page_context()
path, version, chosen = page.path, page.version, page.filters
as_of, channel = chosen.period.end, chosen.channel
through = f", purchases through {channel}" if channel else ""
st.caption(f"RFM as of {as_of:%Y-%m-%d} (the end of the sidebar's date range){through}. "
           "Scores run 1-5, 5 being the most recent, most frequent and highest spending; customers with "
           "equal values share a score.")

controls = st.columns([1, 3])
lookback = controls[0].number_input("Lookback (days)", min_value=30, max_value=3650, value=365, step=30,
                                    key="rfm-lookback", help="Only purchases in these days count.")
with controls[1].expander("Segment rules (first match wins)"):
    edited = st.data_editor(st.session_state.get(RULES_KEY, rules_frame()), num_rows="dynamic",
                            hide_index=True, key="rfm-rules-editor", column_config={
                                c: st.column_config.NumberColumn(c, min_value=1, max_value=5, step=1)
                                for c in rules_frame().columns[1:]})
    buttons = st.columns(2)
    if buttons[0].button("Apply rules", key="rfm-apply"):
        try:
            rules_from_frame(edited)
            st.session_state[RULES_KEY] = pd.DataFrame(edited)
            st.rerun()
        except PondError as exc:
            st.error(str(exc))
    if buttons[1].button("Reset to the standard eleven segments", key="rfm-reset"):
        st.session_state.pop(RULES_KEY, None)
        st.rerun()

try:
    rules = rules_from_frame(st.session_state[RULES_KEY]) if RULES_KEY in st.session_state else DEFAULT_RULES
    scores = data.rfm_scores(path, version, as_of, int(lookback), channel, rules)
except PondError as exc:
    data.show_pond_error(exc)

if scores.empty:
    widgets.empty_state(f"Nobody bought in the {int(lookback):,} days up to {as_of:%Y-%m-%d}.",
                        hint="Lengthen the lookback, move the sidebar's date range or choose All channels.")
    st.stop()

sizes = segment_sizes(scores)
cards = st.columns(4)
cards[0].metric("Customers", f"{len(scores):,}")
cards[1].metric("Segments", f"{len(sizes):,}")
cards[2].metric("Value", f"¥{scores['monetary'].sum():,.0f}", help="Purchases minus refunds in the lookback.")
cards[3].metric("Median days since last order", f"{scores['recency_days'].median():.0f}")

left, right = st.columns([3, 2])
with left:
    st.plotly_chart(charts.segment_treemap(sizes), width="stretch")
with right:
    st.dataframe(sizes, hide_index=True, height=420, column_config={
        "share": st.column_config.NumberColumn(format="percent"),
        "monetary": st.column_config.NumberColumn("value (¥)", format="%.0f"),
        "avg_monetary": st.column_config.NumberColumn("avg value (¥)", format="%.0f"),
        "avg_recency_days": st.column_config.NumberColumn("avg days since order", format="%.0f"),
        "avg_frequency": st.column_config.NumberColumn("avg orders", format="%.1f"),
    })
    widgets.csv_download(sizes, f"pond-rfm-segments-{as_of}.csv", label="Segments as CSV",
                         key="rfm-sizes-csv")

st.subheader("Customers")
pick = st.multiselect("Segments", list(sizes["segment"]), default=[], key="rfm-pick",
                      placeholder="All segments")
shown = scores[scores["segment"].isin(pick)] if pick else scores
st.caption(f"{len(shown):,} customers")
st.dataframe(shown, hide_index=True, height=300)
widgets.csv_download(shown, f"pond-rfm-customers-{as_of}.csv", label="These customers as CSV",
                     key="rfm-customers-csv")

days = chosen.period.days
st.subheader(f"How customers moved in the last {days} days")
moved = data.rfm_transitions(path, version, as_of, days, int(lookback), channel, rules)
st.plotly_chart(charts.transition_heatmap(moved), width="stretch")
st.caption(f"Rows: segment {days} days before {as_of:%Y-%m-%d}; columns: segment now. The period is the "
           "length of the sidebar's date range.")
widgets.csv_download(moved, f"pond-rfm-transitions-{as_of}.csv", label="Transitions as CSV",
                     key="rfm-moved-csv")
