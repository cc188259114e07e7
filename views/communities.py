"""Communities and lifecycle: group leaderboard and trend, lifecycle of active users, stickiness."""

import streamlit as st

from engine.behaviour.lifecycle import average_per_period
from ui import charts, data, widgets
from ui.page import page_context

st.title("Communities and lifecycle")

page = page_context()
path, version, chosen = page.path, page.version, page.filters

start, end, channel = chosen.period.start, chosen.period.end, chosen.channel
st.caption(f"{chosen.label}. Active = did something themselves (being shown a post or pushed a coupon "
           "does not count).")

# only the open tab runs (on_change="rerun"): a page's first view pays for one tab's queries
GRAINS = ["day", "week", "month"]
widgets.in_address({"communities-tab": ("tab", ["Communities", "Lifecycle and stickiness"]),
                    "com-period": ("trend", GRAINS), "life-period": ("period", GRAINS)},
                   **{"com-period": "week", "life-period": "week"})
tab_groups, tab_lifecycle = st.tabs(["Communities", "Lifecycle and stickiness"], key="communities-tab",
                                    on_change="rerun")

with tab_groups:
    if tab_groups.open:
        board = data.community_leaderboard(path, version, start, end, channel, chosen.where)
        if board.empty and chosen.where:
            widgets.empty_state(f"No community has members who match the property filters ({chosen.label}).",
                                hint="Remove or loosen a property filter in the sidebar.")
        elif board.empty:
            widgets.empty_state("No community has members yet.",
                                hint="Members come from join_group events that carry a community id (群ID).")
        else:
            cards = st.columns(4)
            cards[0].metric("Communities", f"{len(board):,}")
            cards[1].metric("Members", f"{int(board['members'].sum()):,}",
                            help="Summed over groups: a user in two groups counts twice.")
            cards[2].metric("Active members", f"{int(board['active_members'].sum()):,}")
            cards[3].metric("Member GMV", f"¥{board['member_gmv'].sum():,.0f}")
            st.markdown("**Leaderboard**")
            st.dataframe(board, hide_index=True, column_config={
                "retention": st.column_config.NumberColumn("retention (active ÷ members)", format="percent"),
                "activity": st.column_config.NumberColumn("activity (interactions ÷ members)", format="%.2f"),
                "member_gmv": st.column_config.NumberColumn("member GMV (¥)", format="%.0f"),
            })
            widgets.csv_download(board, f"pond-communities-{start}-{end}.csv", label="Leaderboard as CSV",
                                 key="com-board-csv")
            grain = st.segmented_control("Trend by", GRAINS, key="com-period",
                                         format_func=str.title) or "week"
            trend = data.community_trend(path, version, grain, start, end, channel, chosen.where)
            top = board["community_id"].head(8).tolist()
            names = dict(zip(board["community_id"], board["name"], strict=True))
            if trend.empty:
                st.caption("No member was active in the chosen days.")
            else:
                st.plotly_chart(charts.community_lines(trend[trend["community_id"].isin(top)], names,
                                                       period=grain), width="stretch")
                st.caption(f"The eight groups with the most active members. A shaded {grain} is partial: it "
                           "reaches outside the chosen days, so it holds fewer days than the others.")
                widgets.csv_download(trend, f"pond-community-trend-{grain}-{start}-{end}.csv",
                                     label="Trend of every group as CSV", key="com-trend-csv")

with tab_lifecycle:
    if tab_lifecycle.open:
        grain = st.segmented_control("Period", GRAINS, key="life-period",
                                     format_func=str.title) or "week"
        frame = data.lifecycle(path, version, grain, start, end, channel, chosen.where)
        if frame.empty:
            widgets.empty_state("No user was active in the chosen days.",
                                hint="Widen the date range , choose All channels or remove a property filter.")
        else:
            st.markdown("**Lifecycle of active users**")
            st.plotly_chart(charts.lifecycle_bars(frame, period=grain), width="stretch")
            st.caption("New: first active period ever. Returning: active the period before too. Resurrecting: "
                       "back after a gap. Dormant (below zero): active the period before, not in this one. "
                       f"A shaded {grain} is partial (it reaches outside the chosen days) and is left out "
                       "of the averages.")
            averages = average_per_period(frame, "users", "status").set_index("status")
            if averages.empty:
                st.caption(f"No complete {grain} in the chosen days: choose a longer range for averages.")
            else:
                cells = st.columns(len(averages))
                for cell, (status, row) in zip(cells, averages.iterrows(), strict=True):
                    cell.metric(f"{status.title()} per {grain}", f"{abs(row['average']):,.0f}",
                                help=f"Average over the {int(row['periods'])} complete {grain}s.")
            widgets.csv_download(frame, f"pond-lifecycle-{grain}-{start}-{end}.csv", label="Lifecycle as CSV",
                                 key="life-csv")
        sticky = data.stickiness(path, version, start, end, channel, chosen.where)
        st.markdown("**Stickiness (DAU / MAU)**")
        if sticky["mau"].sum() == 0:
            st.caption("Nobody was active in the 30 days before these days.")
        else:
            st.metric("Average DAU / MAU", f"{sticky['stickiness'].mean():.1%}",
                      help="How many of the month's active users come on a typical day.")
            st.plotly_chart(charts.stickiness_line(sticky), width="stretch")
            widgets.csv_download(sticky, f"pond-stickiness-{start}-{end}.csv", label="Stickiness as CSV",
                                 key="sticky-csv")
