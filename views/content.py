"""Content and campaigns: CTR, share and comment rates with 95% intervals, conversions, top and bottom."""

import streamlit as st

from engine.behaviour.content import ATTRIBUTION_DAYS, top_and_bottom
from engine.errors import PondError
from ui import charts, data, widgets
from ui.filters import PROPERTY_LABELS
from ui.page import page_context

st.title("Content and campaigns")
st.caption(f"Rates are per impression, with Wilson 95% intervals. A conversion is a user whose first click "
           f"in the period was followed by a purchase within {ATTRIBUTION_DAYS} days.")

page = page_context()
path, version, chosen = page.path, page.version, page.filters

start, end, channel = chosen.period.start, chosen.period.end, chosen.channel
RATES = ["ctr", "share_rate", "comment_rate", "conversion_rate"]
widgets.in_address({"ctr-by": ("per", ["content", "campaign", "channel"]), "ctr-metric": ("rank", RATES),
                    "ctr-min": ("min", int)}, **{"ctr-min": 100, "ctr-by": "content"})
controls = st.columns([1.4, 1, 1])
by = controls[0].segmented_control("Per", ["content", "campaign", "channel"],
                                   key="ctr-by", format_func=str.title) or "content"
metric = controls[1].selectbox("Rank by", RATES,
                               key="ctr-metric", format_func=lambda m: m.replace("_", " "))
minimum = controls[2].number_input("Minimum impressions", min_value=0, step=50, key="ctr-min",
                                   help="Rows with fewer impressions are left out of the rankings: their "
                                        "rates are too uncertain.")

try:
    performance = data.content_performance(path, version, by, start, end, channel, chosen.where)
except PondError as exc:
    data.show_pond_error(exc)

if performance.empty or performance["impressions"].sum() == 0:
    widgets.empty_state(f"No impressions in the chosen days ({chosen.label}).",
                        hint="Content impressions, clicks and shares come from exports with a content id; "
                             "widen the date range, choose All channels or remove a property filter.")
    st.stop()

summary = data.content_summary(path, version, by, start, end, channel, chosen.where)
cards = st.columns(5)
cards[0].metric("Impressions", f"{summary['impressions']:,.0f}")
cards[1].metric("CTR", f"{summary['ctr']:.2%}",
                help=f"95% interval {summary['ctr_low']:.2%} – {summary['ctr_high']:.2%}")
cards[2].metric("Share rate", f"{summary['share_rate']:.2%}",
                help=f"95% interval {summary['share_rate_low']:.2%} – {summary['share_rate_high']:.2%}")
cards[3].metric("Comments per post", f"{summary['comments_per_post']:.2f}",
                help=f"{summary['post_comments']:,} comments on the {summary['posts']:,} content items "
                     "(posts, articles, lives) shown at least once in the period, whatever the grouping.")
converted = f"{summary['conversion_rate']:.1%}" if summary["clickers"] else "—"
cards[4].metric("Click-through conversion", converted,
                help="Users who bought within the attribution window ÷ users who clicked.")

by_property = widgets.breakdown_choice("Break the engagement down by", key="ctr-breakdown", url_key="ctr_by",
                                      container=st.columns([1, 2])[0])
if by_property:
    split = data.content_breakdown(path, version, start, end, channel, by_property, chosen.where)
    rate = st.radio("Chart", ["ctr", "share_rate", "comment_rate", "conversion_rate", "impressions"],
                    key="ctr-breakdown-metric", horizontal=True, label_visibility="collapsed",
                    format_func=lambda m: {"ctr": "CTR"}.get(m, m.replace("_", " ").capitalize()))
    st.plotly_chart(charts.breakdown_bars(split, rate, label={"ctr": "CTR"}.get(rate, rate.replace("_", " ")),
                                          by=PROPERTY_LABELS[by_property], percent=rate != "impressions"),
                    width="stretch")
    st.dataframe(split, hide_index=True, column_config={
        "breakdown": PROPERTY_LABELS[by_property],
        **{r: st.column_config.NumberColumn(r.replace("_", " "), format="percent")
           for r in ("ctr", "share_rate", "comment_rate", "conversion_rate")},
        "comments_per_post": st.column_config.NumberColumn("comments per post", format="%.2f")})
    widgets.csv_download(split, f"pond-engagement-by-{by_property}-{start}-{end}.csv", label="Breakdown as CSV",
                         key="ctr-breakdown-csv")

labels = dict(zip(performance["key"], performance["label"], strict=True))  # one lookup per option, not a scan
focus = st.selectbox(f"Daily trend for {by}", ["(all)", *labels], key="ctr-focus",
                     format_func=lambda k: k if k == "(all)" else f"{k} · {labels[k]}")
trend = data.content_trend(path, version, by, None if focus == "(all)" else focus, start, end, channel, chosen.where)
st.plotly_chart(charts.rate_trend(trend), width="stretch")
widgets.csv_download(trend, f"pond-{by}-trend-{start}-{end}.csv", label="Daily trend as CSV",
                     key="ctr-trend-csv")

rate_columns = {
    "ctr": st.column_config.NumberColumn("CTR", format="percent"),
    "ctr_low": st.column_config.NumberColumn("CTR low", format="percent"),
    "ctr_high": st.column_config.NumberColumn("CTR high", format="percent"),
    "share_rate": st.column_config.NumberColumn("share rate", format="percent"),
    "comment_rate": st.column_config.NumberColumn("comment rate", format="percent"),
    "conversion_rate": st.column_config.NumberColumn("conversion rate", format="percent"),
}
shown = ["key", "label", "impressions", "clicks", metric, f"{metric}_low", f"{metric}_high", "shares",
         "comments", "conversions"]
top, bottom = top_and_bottom(performance, metric=metric, min_impressions=int(minimum))
left, right = st.columns(2)
for column, title, frame, name in ((left, "Top 10", top, "top"), (right, "Bottom 10", bottom, "bottom")):
    with column:
        st.markdown(f"**{title}** by {metric.replace('_', ' ')} (≥ {int(minimum):,} impressions)")
        if frame.empty:
            st.caption("Nothing reaches the minimum impressions; lower it.")
        else:
            st.dataframe(frame[shown], hide_index=True, column_config=rate_columns)
            widgets.csv_download(frame, f"pond-{by}-{name}-{metric}.csv", label=f"{title} as CSV",
                                 key=f"ctr-{name}-csv")

with st.expander(f"Every {by} ({len(performance):,})"):
    st.dataframe(performance, hide_index=True, column_config=rate_columns)
    widgets.csv_download(performance, f"pond-{by}-performance-{start}-{end}.csv", label="All as CSV",
                         key="ctr-all-csv")
