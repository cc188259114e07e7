"""Pond's router: page config, navigation, global sidebar filters and the warehouse badge.

Start it with ``streamlit run app.py``; on first start it builds a demo warehouse.
"""

from __future__ import annotations

import logging

import streamlit as st

from engine.errors import PondError
from engine.store import warehouse
from ui import auth, data, derive, filters, menu

log = logging.getLogger("pond")

st.set_page_config(page_title="Pond", page_icon=":material/water:", layout="wide")
# the warehouse, its log and spill files, results, backups, keys and uploads are the server user's only
warehouse.private_files()

# Tables and chart data views get no download or copy button of their own: exports go through Pond's
# csv_download (role, audit, formula-safe). .streamlit/config.toml sets this; a server started from
# another folder does not read that file, so set it here and run again, so that the browser is told
# before it draws a table.
if not st.get_option("client.disableDataExport"):
    st.set_option("client.disableDataExport", True)
    st.rerun()

# The page list, with the role each page needs, is ui/menu.py (page files live in views/).
try:
    data.ensure_warehouse()
    user = auth.current_user()
    if user is None:
        st.navigation([st.Page(auth.sign_in_form, title="Sign in", icon=":material/lock:")]).run()
        st.stop()
    # the menu sits in the top bar, one drop-down per section, so that the sidebar's filters are in view
    # on a laptop screen without scrolling past twelve page links
    navigation = st.navigation(menu.navigation_for(user), position="top")
    path = data.warehouse_path()
    version = data.current_version(path)
    # tags and churn results of a version made outside this server (a command-line import, a demo
    # build) are derived in a server thread from the first view that sees it, as after an upload
    derive.derive_when_new(str(path), version)
    summary = data.summary(path, version)
    with st.sidebar:
        st.markdown("### :material/water: Pond")
        events = f"{summary['events']:,} events" if summary["events"] else "empty"
        st.caption(f"Warehouse `{path}` · {events} · version {version} · {summary['timezone']}")
        auth.sidebar_badge()
    filters.render_sidebar_filters(path, version)
    navigation.run()
except PondError as exc:
    data.show_pond_error(exc)
except Exception:  # last resort: log the traceback, show a calm message
    log.exception("unexpected error while rendering %s", getattr(globals().get("navigation"), "title", "a page"))
    st.error("Something went wrong on this page. The details were written to the server log; "
             "please report them. Other pages still work.")
