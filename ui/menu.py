"""The dashboard's pages, by section, with the action each needs (see :mod:`engine.admin.access`)."""

from __future__ import annotations

import streamlit as st

from engine.admin.access import User

# Page files live in views/, not pages/: Streamlit treats a folder named pages/ as a legacy
# multipage app and would run a bookmarked page without this router on a session's first request.
PAGES = {  # section: (file, title, icon, url path, the action a user's role must allow)
    "Dashboards": [
        ("views/overview.py", "Overview", ":material/dashboard:", None, "view"),
        ("views/trends.py", "Trends", ":material/show_chart:", "trends", "view"),
        ("views/retention.py", "Retention", ":material/event_repeat:", "retention", "view"),
        ("views/funnels.py", "Funnels", ":material/filter_alt:", "funnels", "view"),
        ("views/paths.py", "Paths", ":material/route:", "paths", "view"),
        ("views/content.py", "Content and campaigns", ":material/ads_click:", "content", "view"),
        ("views/communities.py", "Communities and lifecycle", ":material/groups:", "communities", "view"),
        ("views/experiments.py", "Experiments and campaigns", ":material/science:", "experiments", "view"),
        ("views/network.py", "Share graph", ":material/share:", "share-graph", "view"),
    ],
    "Customers": [
        ("views/segments.py", "Segments", ":material/donut_small:", "segments", "segments"),
        ("views/user360.py", "User 360", ":material/person_search:", "user", "view"),
    ],
    "Predictions": [
        ("views/recommendations.py", "Recommendations", ":material/recommend:", "recommendations", "view"),
        ("views/churn.py", "Churn and propensity", ":material/person_remove:", "churn", "view"),
        ("views/growth.py", "Growth", ":material/trending_up:", "growth", "view"),
    ],
    "Data": [
        ("views/upload.py", "Upload data", ":material/upload_file:", "upload", "import"),
        ("views/admin.py", "Admin", ":material/admin_panel_settings:", "admin", "users"),
    ],
}


def titles_for(user: User) -> set[str]:
    """The page titles this user's role opens."""
    return {title for entries in PAGES.values() for _, title, _, _, action in entries if user.can(action)}


def navigation_for(user: User) -> dict:
    """The pages this user's role opens (each page checks the role again when it runs)."""
    return {section: [st.Page(file, title=title, icon=icon, url_path=url, default=url is None)
                      for file, title, icon, url, action in entries if user.can(action)]
            for section, entries in PAGES.items()
            if any(user.can(action) for *_, action in entries)}
