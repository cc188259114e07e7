"""Paths: what users do after a start event or before an end event, as a Sankey diagram and a table."""

import streamlit as st

from engine.behaviour.paths import PathQuery
from engine.customers.segments import save_user_list
from engine.errors import PondError
from ui import auth, charts, data, widgets
from ui.page import page_context

st.title("Paths")
st.caption("Each user's own actions in time order (impressions and coupon pushes are left out), a run of one "
           "action counted as one step, within the sidebar's days. Each user counts once: from their first "
           "start event, or up to their last end event.")
page = page_context()
path, version, chosen = page.path, page.version, page.filters
types = [t for t in data.event_types(path, version) if t not in ("impression", "coupon_issue")]
if not types:
    widgets.empty_state("No user did anything themselves yet.", hint="Paths follow views, clicks, carts and buys.")
    st.stop()

widgets.in_address({
    "paths-direction": ("paths", ["after", "before"]), "paths-steps": ("steps", widgets.bounded(2, 8)),
    "paths-top": ("top", widgets.bounded(5, 100)), "paths-collapse": ("collapse", widgets.flag),
    "paths-grouping": ("names", ["type", "category"]), "paths-nodes": ("nodes", widgets.bounded(2, 50)),
}, **{"paths-steps": 4, "paths-top": 20, "paths-collapse": True, "paths-nodes": 8})
cols = st.columns([1.4, 1.4, 1.6, 1])
options = st.columns([1.2, 1.6, 1])
direction = cols[0].radio("Paths", ["after", "before"], key="paths-direction", horizontal=True,
                          format_func={"after": "after a start event", "before": "before an end event"}.get)
default = "view" if direction == "after" else "purchase"
widgets.in_address({f"paths-event-{direction}": ("event", types)},
                   **{f"paths-event-{direction}": default if default in types else types[0]})
event = cols[1].selectbox("Start event" if direction == "after" else "End event", types, key=f"paths-event-{direction}")
steps = cols[2].slider("Steps", min_value=2, max_value=8, key="paths-steps")
top = int(cols[3].number_input("Top paths", min_value=5, max_value=100, step=5, key="paths-top"))
collapse = options[0].toggle("Repeats as one step", key="paths-collapse",
                             help="On: view, view, view is one step. Off: every event is a step.")
grouping = options[1].radio("Steps named by", ["type", "category"], key="paths-grouping", horizontal=True,
                            format_func={"type": "event type", "category": "type and item category"}.get)
nodes = int(options[2].number_input("Nodes per step", min_value=2, max_value=50, key="paths-nodes",
                                    help="The most common names of each step; the rest are summed as “other”."))

try:
    result = data.paths(path, version, PathQuery(event, direction, steps, chosen.period.start, chosen.period.end,
                                                 chosen.channel, collapse, grouping, nodes), top,
                         chosen.where)
except PondError as exc:
    data.show_pond_error(exc)

if result.users.empty:
    widgets.empty_state(f"Nobody did “{event}” in the chosen days ({chosen.label}).",
                        hint="Pick another event, widen the date range, choose All channels or remove a property "
                             "filter.")
    st.stop()

st.markdown(f"**{len(result.users):,} users** · {steps} steps {direction} “{event}”")
st.plotly_chart(charts.path_sankey(result.links), width="stretch")
st.caption("Each column is a step; a band's width is the users who made that move. (end): the user did nothing "
           "more in the chosen days; (start): nothing before.")
st.markdown("**Drop-off by step**")
st.dataframe(result.steps, hide_index=True, column_config={
    "users": st.column_config.NumberColumn("users on their path"),
    "dropped": st.column_config.NumberColumn("stopped before this step"),
    "share_of_start": st.column_config.NumberColumn("share of the users", format="percent")})
widgets.csv_download(result.steps, f"pond-paths-{direction}-{event}-steps.csv", label="Drop-off as CSV",
                     key="paths-steps-csv")

st.markdown("**Who went through a node**")
node = st.selectbox("Node", result.nodes(), key="paths-node",
                    help="The users whose path passes through this step (its number) and this action.")
through = result.users_through(node)
widgets.capped_table(through, f"{len(through):,} users through {node}", height=220)
widgets.csv_download(through, f"pond-paths-node-{node}.csv", label="These users as CSV", key="paths-node-csv")
save = st.columns([3, 1])
name = save[0].text_input("Save these users as a segment named", value=f"Paths {direction} {event}: {node}",
                          key=f"paths-segment-name-{direction}-{event}-{node}",
                          help="A static list of exactly these users: it does not change with new data. It is "
                               "listed with the saved segments and works wherever a saved segment does.")
if save[1].button("Save as segment", key="paths-save-segment", disabled=through.empty or not auth.can("segments"),
                  help=None if auth.can("segments") else "Saving segments needs the marketer or admin role."):
    try:
        auth.require("segments")
        data.write(save_user_list, name, through["user_id"].tolist())
        auth.record("segment_save", f"{name.strip()}: {len(through):,} users through {node}", rows=len(through))
        st.success(f"Saved “{name.strip()}”: {len(through):,} users.")
    except PondError as exc:
        st.error(str(exc))

st.markdown("**Top paths**")
st.dataframe(result.paths, hide_index=True, column_config={
    "share": st.column_config.NumberColumn("share of users", format="percent")})
widgets.csv_download(result.paths, f"pond-paths-{direction}-{event}.csv", label="Top paths as CSV", key="paths-csv")
widgets.csv_download(result.users, f"pond-paths-{direction}-{event}-users.csv", label="Every user's path as CSV",
                     key="paths-users-csv")
