"""Shared widgets: CSV downloads safe for spreadsheets, KPI cards, empty states."""

from __future__ import annotations

import contextlib
import math

import pandas as pd
import streamlit as st

from engine.store.export import to_csv_bytes

#: rows a user list shows on a page (the browser slows down past this); its CSV download has them all
TABLE_ROWS = 1_000

def csv_download(frame: pd.DataFrame, file_name: str, *, label: str = "Download CSV", key: str | None = None
                 ) -> None:
    """A CSV download for users whose role may export; every download is written to the audit trail."""
    from ui import auth

    if not auth.can("export"):
        st.button(f"⬇ {label}", key=key or f"download-{file_name}", disabled=True,
                  help="Exports need the marketer or admin role.")
        return
    st.download_button(f"⬇ {label}", to_csv_bytes(frame), file_name=file_name, mime="text/csv",
                       key=key or f"download-{file_name}", disabled=frame.empty,
                       on_click=auth.record, args=("export", file_name), kwargs={"rows": len(frame)})


def format_value(value: float, kind: str) -> str:
    """A figure as people read it: ``share`` as a percentage, ``yuan`` as ¥ with thousands separators,
    ``count`` as a whole number; a missing value as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if kind == "share":
        return f"{value:.1%}"
    if kind == "yuan":
        return f"¥{value:,.2f}"
    return f"{value:,.0f}"


def plural(count: int, unit: str) -> str:
    """``1 day``, ``2 days``."""
    return f"{count:,} {unit}" + ("" if count == 1 else "s")


def format_kpi(kpi: str, value: float) -> str:
    if kpi == "conversion_rate":
        return f"{value:.1%}"
    if kpi == "gmv":
        return f"¥{value:,.0f}"
    if kpi == "dau":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


KPI_HELP = {
    "dau": "Average over the period's days of each day's distinct active users (a user is active on a day "
           "when they did something themselves; impressions and coupon pushes do not count).",
    "wau": "Distinct active users in the 7 business days ending on the period's last day, whatever the "
           "period's length.",
    "mau": "Distinct active users in the 30 business days ending on the period's last day, whatever the "
           "period's length.",
    "new_users": "Users first seen in the period (by acquisition channel when a channel is chosen).",
    "orders": "Distinct orders (a purchase without an order id counts as one order).",
    "gmv": "Sum of purchase amounts, before refunds.",
    "conversion_rate": "Users who purchased ÷ users active in the period.",
}


#: KPI cards per row: four fit a laptop screen with the sidebar open, values such as ¥1,769,037 included
KPI_CARDS_PER_ROW = 4


def kpi_cards(table: pd.DataFrame) -> None:
    """One st.metric per KPI, with the change against the previous period as its delta (none when the
    previous period is not covered by data: ``compared_with`` then says why)."""
    rows = [table.iloc[i:i + KPI_CARDS_PER_ROW] for i in range(0, len(table), KPI_CARDS_PER_ROW)]
    for part in rows:
        columns = st.columns(KPI_CARDS_PER_ROW)
        for column, row in zip(columns, part.itertuples(), strict=False):
            compared = row.compared_with
            if math.isnan(row.previous):
                delta, before = None, compared[0].upper() + compared[1:] + "."
            else:
                delta = None if math.isnan(row.change) else f"{row.change:+.1%}"
                before = f"Previous period ({compared}): {format_kpi(row.kpi, row.previous)}."
            column.metric(row.label, format_kpi(row.kpi, row.value), delta=delta,
                          help=f"{KPI_HELP[row.kpi]} {before}", border=True)


def empty_state(message: str, *, hint: str | None = None) -> None:
    st.info(message + (f"\n\n{hint}" if hint else ""), icon=":material/inbox:")


def page_link(page: str, **kwargs) -> None:
    """A link to another page, left out when that page is not open to this user (or run alone)."""
    from streamlit.errors import StreamlitPageNotFoundError

    with contextlib.suppress(StreamlitPageNotFoundError):
        st.page_link(page, **kwargs)


FILTER_HELP = ("Conditions separated by “;”, each PROPERTY OPERATOR VALUE, e.g. `channel = douyin; amount > 100`. "
               "Properties: {properties} (user properties: {user_properties}). Operators: {operators}; `in` and "
               "`between` take values separated by commas.")


def where_input(label: str, *, key: str, container=None, value: str = "", placeholder: str = "", help: str = ""
                ) -> tuple:
    """A text box of filter conditions (engine.store.filters); a condition it cannot read is shown as an error
    under it and the filters left out, so the page still runs."""
    from engine.errors import PondError
    from engine.store.filters import OPERATORS, PROPERTIES, USER_PROPERTIES, parse_conditions

    place = container or st
    text = place.text_input(label, key=key, value=value, placeholder=placeholder or "e.g. category = 3; amount > 100",
                            help=(help + " " if help else "") + FILTER_HELP.format(
                                properties=", ".join(PROPERTIES), user_properties=", ".join(USER_PROPERTIES),
                                operators=", ".join(OPERATORS)))
    try:
        return parse_conditions(text)
    except PondError as exc:
        place.error(str(exc))
        return ()


def capped_table(frame: pd.DataFrame, caption: str, **options) -> None:
    """``caption`` and the first :data:`TABLE_ROWS` rows of a user list (say so when there are more:
    the page's CSV download has them all)."""
    shown = min(len(frame), TABLE_ROWS)
    st.caption(caption + (f"; the first {shown:,} shown, the CSV has them all" if shown < len(frame) else ""))
    st.dataframe(frame.head(shown), hide_index=True, **options)


BREAKDOWN_HELP = ("The 5 values with the most events in the chosen days, then Other and (none). An event property "
                  "splits events: a user active through two channels counts in both rows, so user counts of the "
                  "rows can add up to more than All. A user property splits users: the rows add up.")


def breakdown_choice(label: str, *, key: str, url_key: str, container=st) -> str | None:
    """A property to break a page's figures down by (None for none), kept in the address as ``url_key``."""
    from engine.behaviour.breakdowns import BREAKDOWN_PROPERTIES
    from ui.filters import PROPERTY_LABELS

    options = ["none", *BREAKDOWN_PROPERTIES]
    if key not in st.session_state and st.query_params.get(url_key) in options:
        st.session_state[key] = st.query_params[url_key]
    by = container.selectbox(label, options, key=key, help=BREAKDOWN_HELP,
                             format_func=lambda p: "Nothing" if p == "none" else PROPERTY_LABELS[p])
    if by == "none":
        st.query_params.pop(url_key, None)
        return None
    st.query_params[url_key] = by
    return by


def in_address(spec: dict[str, tuple], **defaults) -> None:
    """Keep widgets' values in the address, so that a link opens the same view.

    ``spec`` maps a widget key to ``(name in the address, kind)`` where kind is ``str``, ``int``,
    ``float`` or a list/tuple of the allowed values. Call it before the widgets are drawn: a key the
    session does not hold yet takes the address's value when it is valid (else ``defaults[key]``),
    and every key the session holds is written back to the address. Widgets named here take their
    default from ``defaults`` (through the session), not from a ``value=``/``index=`` argument, which
    Streamlit would warn about.
    """
    for key, (name, kind) in spec.items():
        if key not in st.session_state:
            value = _from_address(st.query_params.get(name), kind)
            if value is not None:
                st.session_state[key] = value
            elif key in defaults:
                st.session_state[key] = defaults[key]
        if st.session_state.get(key) not in (None, ""):
            st.query_params[name] = str(st.session_state[key])
        else:
            st.query_params.pop(name, None)


def bounded(low: int, high: int):
    """A whole number from the address between ``low`` and ``high`` (for :func:`in_address`)."""
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value
    return parse


def flag(text: str) -> bool:
    """A yes/no from the address (for :func:`in_address`)."""
    if text not in ("True", "False"):
        raise ValueError(f"{text!r} is not True or False")
    return text == "True"


def _from_address(text: str | None, kind):
    if text is None:
        return None
    if isinstance(kind, (list, tuple)):
        return text if text in kind else None
    try:
        return kind(text)
    except (TypeError, ValueError):
        return None
