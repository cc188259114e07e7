"""Share graph: key sharers, their cascades and reach, referral communities and the K-factor."""

import streamlit as st

from engine.social.network import top_subgraph
from ui import charts, data, widgets
from ui.page import page_context

st.title("Share graph")
st.caption("Who brought whom through shared links (the referrer on a user's first referred event). Reach counts "
           "everyone a sharer's referrals led to, through whole cascades, and what they bought. The graph covers "
           "the whole history: the sidebar's dates, channel and property filters do not apply here.")
page = page_context()
path, version = page.path, page.version
share = data.share_graph(path, version)

if share.sharers.empty:
    widgets.empty_state("No referrals yet.", hint="Referrals come from events whose referrer column (分享人, "
                        "referrer_id) names who shared the link.")
    st.stop()

cascades = share.cascades
cards = st.columns(4)
cards[0].metric("Sharers who brought someone", f"{len(share.sharers):,}")
cards[1].metric("Users brought by referral", f"{share.graph.number_of_edges():,}")
cards[2].metric("Largest cascade", f"{int(cascades['size'].max()):,} users")
cards[3].metric("Deepest cascade", f"{int(cascades['depth'].max()):,} steps")

left, right = st.columns([3, 2])
with left:
    top = st.slider("Sharers in the graph", min_value=5, max_value=100, value=30, step=5, key="net-top")
    st.plotly_chart(charts.network_graph(top_subgraph(share, top=int(top)), share.sharers), width="stretch")
    st.caption(f"Colour: community (Louvain over referrals and {share.interactions:,} interaction links in groups). "
               "Size: reach. Lines run from sharer to the user they brought.")
with right:
    st.markdown("**Key sharers** (reward them)")
    st.dataframe(share.sharers.head(100), hide_index=True, height=460, column_config={
        "pagerank": st.column_config.NumberColumn(format="%.4f"),
        "reach_gmv": st.column_config.NumberColumn("reach GMV (¥)", format="%.0f")})
    widgets.csv_download(share.sharers, "pond-key-sharers.csv", label="All sharers as CSV", key="net-sharers-csv")

st.subheader("Viral coefficient")
grain = st.segmented_control("Per", ["day", "week", "month"], default="week", key="net-period",
                             format_func=str.title) or "week"
k = data.k_factor(path, version, grain)
st.plotly_chart(charts.k_factor_lines(k), width="stretch")
st.caption("K-factor = users brought in by referrals in the period ÷ users active in it, by the referrers' "
           "acquisition channel. Above 1, every active user brings more than one new user.")
widgets.csv_download(k, f"pond-k-factor-{grain}.csv", label="K-factor as CSV", key="net-k-csv")

st.subheader("Cascades")
sizes = cascades.groupby("size").size().rename("cascades").reset_index()
st.bar_chart(sizes, x="size", y="cascades", x_label="Users in the cascade", y_label="Cascades")
widgets.csv_download(cascades, "pond-cascades.csv", label="Cascades as CSV", key="net-cascades-csv")
