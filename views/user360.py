"""User 360: look a user up and see their profile, value, RFM segment, interest tags and timeline."""

import streamlit as st

from engine.errors import PondError
from ui import charts, data, recs, widgets
from ui.page import page_context

st.title("User 360")
page = page_context()
path, version = page.path, page.version

widgets.in_address({"u360-prefix": ("user", str)})
prefix = st.text_input("User id (or its beginning)", key="u360-prefix", placeholder="e.g. u00001")
found = data.find_users(path, version, prefix)
if found.empty:
    widgets.empty_state(f"No user id starts with “{prefix}”.", hint="Check the id; ids are case-insensitive.")
    st.stop()
user_id = st.selectbox(f"{len(found):,} matching users (most recently seen first)", found["user_id"].tolist(),
                       key="u360-user")
try:
    view = data.user_profile(path, version, user_id)
except PondError as exc:
    data.show_pond_error(exc)

profile, totals, rfm = view["profile"], view["totals"], view["rfm"]
cards = st.columns(5)
cards[0].metric("Orders", f"{int(totals['orders']):,}")
cards[1].metric("GMV", f"¥{totals['gmv']:,.0f}", help=f"Refunds ¥{totals['refunds']:,.0f}")
cards[2].metric("Active days", f"{int(totals['active_days']):,}")
cards[3].metric("Last active", "—" if totals["last_active_day"] is None else f"{totals['last_active_day']:%Y-%m-%d}")
cards[4].metric("RFM segment", rfm["segment"] if rfm else "not a customer",
                help=(f"R {rfm['r']} · F {rfm['f']} · M {rfm['m']}; last order "
                      f"{widgets.plural(int(rfm['recency_days']), 'day')} ago" if rfm
                      else "No purchase in the last 365 days."))

left, right = st.columns(2)
with left:
    st.markdown("**Profile**")
    rows = [{"property": k, "value": "—" if v is None else str(v)} for k, v in profile.items() if k != "upload_id"]
    st.dataframe(rows, hide_index=True)
with right:
    st.markdown("**Interest tags**")
    if view["tags"].empty:
        st.caption("No tags yet: they come from engagement with categorised items in the last 180 days.")
    else:
        st.dataframe(view["tags"], hide_index=True)

st.subheader("Recommended for this user")
try:
    recommender = recs.model(path)
except PondError:
    recommender = None
if recommender is None:
    st.caption("No trained recommender yet: open Recommendations to train one (it runs in the background).")
elif not recommender.knows(user_id):
    st.caption("This user joined after the recommender was trained; it is retrained when the data changes.")
else:
    picks = recs.recommend(path, recs.model_stamp(path), user_id, 5, recs.filters_key())
    st.dataframe(picks, hide_index=True, column_config={
        "score": st.column_config.ProgressColumn("Score", min_value=0.0, max_value=1.0, format="%.2f"),
        "reason_kind": None})
    if recs.is_stale(recommender, path, version):
        st.caption(f"From the model trained on data version {recommender.data_version}.")
widgets.page_link("views/recommendations.py", label="More recommendations, filters and similar items",
             icon=":material/recommend:", query_params={"user": user_id})

timeline = data.user_timeline(path, version, user_id)
st.subheader("Timeline")
if timeline.empty:
    st.caption("No events.")
else:
    st.plotly_chart(charts.user_activity(timeline), width="stretch")
    st.dataframe(timeline, hide_index=True, height=360)
    st.caption(f"Latest {len(timeline):,} events, newest first (times in UTC).")
    widgets.csv_download(timeline, f"pond-user-{user_id}-timeline.csv", label="Timeline as CSV", key="u360-csv")
