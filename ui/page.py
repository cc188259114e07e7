"""What every page starts with: the warehouse, its version, summary and the sidebar's filters."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from engine.errors import PondError
from ui import auth, data, filters, widgets
from ui.filters import Filters


@dataclass(frozen=True)
class PageContext:
    path: str
    version: int
    summary: dict
    filters: Filters


def page_context(*, needs_events: bool = True, action: str = "view") -> PageContext:
    """Open the page's view of the warehouse, for a user whose role allows ``action``.

    The role is checked on every run (see :mod:`ui.auth`). A deliberate engine error (e.g. the
    warehouse is busy) is shown and stops the page. With ``needs_events``, an empty warehouse shows
    what to do instead of the page and stops it too.
    """
    auth.require(action)
    try:
        path = data.warehouse_path()
        version = data.current_version(path)
        summary = data.summary(path, version)
        chosen = filters.current_filters(path, version)
    except PondError as exc:
        data.show_pond_error(exc)
    if needs_events and chosen.period is None:
        widgets.empty_state("The warehouse holds no events yet.",
                            hint="Import an export on **Upload data**, or build the demo with "
                                 "`python -m engine demo`.")
        widgets.page_link("views/upload.py", label="Go to Upload data", icon=":material/upload_file:")
        st.stop()
    return PageContext(path, version, summary, chosen)
