"""Pond's router: page config, navigation, global sidebar filters and the warehouse badge.

Start it with ``streamlit run app.py``; on first start it builds a demo warehouse.
"""

from __future__ import annotations

import logging

import streamlit as st

from engine.errors import PondError
from ui import data, filters

log = logging.getLogger("pond")

st.set_page_config(page_title="Pond", page_icon=":material/water:", layout="wide")

# Page files live in views/, not pages/: Streamlit treats a folder named pages/ as a legacy
# multipage app and would run a bookmarked page without this router on a session's first request.
pages = {
    "Dashboards": [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("views/retention.py", title="Retention", icon=":material/event_repeat:",
                url_path="retention"),
        st.Page("views/funnels.py", title="Funnels", icon=":material/filter_alt:", url_path="funnels"),
        st.Page("views/content.py", title="Content and campaigns", icon=":material/ads_click:",
                url_path="content"),
        st.Page("views/communities.py", title="Communities and lifecycle", icon=":material/groups:",
                url_path="communities"),
        st.Page("views/experiments.py", title="Experiments and campaigns", icon=":material/science:",
                url_path="experiments"),
        st.Page("views/network.py", title="Share graph", icon=":material/share:", url_path="share-graph"),
    ],
    "Customers": [
        st.Page("views/segments.py", title="Segments", icon=":material/donut_small:", url_path="segments"),
        st.Page("views/user360.py", title="User 360", icon=":material/person_search:", url_path="user"),
    ],
    "Predictions": [
        st.Page("views/recommendations.py", title="Recommendations", icon=":material/recommend:",
                url_path="recommendations"),
        st.Page("views/churn.py", title="Churn and propensity", icon=":material/person_remove:", url_path="churn"),
        st.Page("views/growth.py", title="Growth", icon=":material/trending_up:", url_path="growth"),
    ],
    "Data": [
        st.Page("views/upload.py", title="Upload data", icon=":material/upload_file:", url_path="upload"),
    ],
}
navigation = st.navigation(pages, expanded=True)  # every page listed, none behind "View more"

try:
    data.ensure_warehouse()
    path = data.warehouse_path()
    version = data.current_version(path)
    summary = data.summary(path, version)
    with st.sidebar:
        st.markdown("### :material/water: Pond")
        events = f"{summary['events']:,} events" if summary["events"] else "empty"
        st.caption(f"Warehouse `{path}` · {events} · version {version} · {summary['timezone']}")
    filters.render_sidebar_filters(path, version)
    navigation.run()
except PondError as exc:
    data.show_pond_error(exc)
except Exception:  # last resort: log the traceback, show a calm message
    log.exception("unexpected error while rendering %s", navigation.title)
    st.error("Something went wrong on this page. The details were written to the server log; "
             "please report them. Other pages still work.")
