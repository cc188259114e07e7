"""Segments: a live segment builder (save, compare, export) and RFM with editable segment rules."""

import pandas as pd
import streamlit as st

from engine.customers.rfm import DEFAULT_RULES, rules_frame, rules_from_frame, segment_sizes
from engine.customers.segments import (
    OPERATORS,
    PROPERTIES,
    SCORE_BANDS,
    Condition,
    SegmentDefinition,
    delete_segment,
    save_segment,
)
from engine.errors import PondError
from ui import auth, charts, data, widgets
from ui.page import page_context

RULES_KEY = "pond_rfm_rules"
CONDITIONS_KEY = "pond_segment_conditions"
MATCH_KEY = "seg-match"
KIND_LABELS = {"event": "did an event", "property": "has a property", "rfm": "is in an RFM segment",
               "tag": "is interested in", "churn": "has a churn risk", "propensity": "has a purchase propensity",
               "list": "are in a saved user list"}
#: the next condition id; kept in the session, so that ids (and the widget keys made from them) never
#: repeat across reruns: a reused key would hand a new or loaded condition an old widget's value
NEXT_ID_KEY = "pond_segment_next_id"

st.title("Segments")
page = page_context(action="segments")
path, version, chosen = page.path, page.version, page.filters
types = data.event_types(path, version)
# only the open tab runs (on_change="rerun"): a page's first view pays for one tab's queries
widgets.in_address({"segments-tab": ("tab", ["Segment builder", "RFM", "Portraits"])})
tab_builder, tab_rfm, tab_portraits = st.tabs(["Segment builder", "RFM", "Portraits"], key="segments-tab",
                                              on_change="rerun")


def new_condition(**values) -> dict:
    ident = st.session_state.get(NEXT_ID_KEY, 1)
    st.session_state[NEXT_ID_KEY] = ident + 1
    return {"id": ident, "kind": "event", "event": "purchase" if "purchase" in types else types[0],
            "op": ">=", "count": 1, "days": 30, "category": None, "field": "acquisition_channel",
            "values": [], **values}


def condition_row(item: dict) -> dict:
    """Widgets for one condition; returns its current values (keys are stable per condition id)."""
    key = f"seg-{item['id']}"
    cols = st.columns([1.6, 1.6, 0.8, 0.8, 0.9, 1.6, 0.4])
    kinds = list(KIND_LABELS)
    item["kind"] = cols[0].selectbox("Users who", kinds, index=kinds.index(item["kind"]), key=f"{key}-kind",
                                     format_func=KIND_LABELS.get)
    if item["kind"] == "event":
        item["event"] = cols[1].selectbox("Event", types, key=f"{key}-event",
                                          index=types.index(item["event"]) if item["event"] in types else 0)
        ops = list(OPERATORS)
        item["op"] = cols[2].selectbox("Times", ops, index=ops.index(item["op"]), key=f"{key}-op")
        item["count"] = int(cols[3].number_input("Count", min_value=0, value=int(item["count"]),
                                                 key=f"{key}-count"))
        item["days"] = int(cols[4].number_input("Last days", min_value=1, max_value=3650,
                                                value=int(item["days"]), key=f"{key}-days"))
        options = ["(any category)", *data.categories(path, version)]
        current = item["category"] if item["category"] in options else "(any category)"
        picked = cols[5].selectbox("Category", options, index=options.index(current), key=f"{key}-category")
        item["category"] = None if picked == "(any category)" else picked
    elif item["kind"] == "property":
        fields = list(PROPERTIES)
        item["field"] = cols[1].selectbox("Property", fields, key=f"{key}-field",
                                          index=fields.index(item["field"]) if item["field"] in fields else 0)
        values = data.property_values(path, version, item["field"])
        item["values"] = cols[5].multiselect("Is one of", values, key=f"{key}-values-{item['field']}",
                                             default=[v for v in item["values"] if v in values])
    elif item["kind"] == "tag":
        tags = data.tag_names(path, version)
        item["values"] = cols[5].multiselect("Any of the tags", tags, key=f"{key}-tags",
                                             default=[v for v in item["values"] if v in tags])
    elif item["kind"] in ("churn", "propensity"):
        what = "Risk of no activity" if item["kind"] == "churn" else "Chance of a purchase"
        item["values"] = cols[5].multiselect(f"{what} in the next 30 days is", list(SCORE_BANDS),
                                             key=f"{key}-{item['kind']}",
                                             default=[v for v in item["values"] if v in SCORE_BANDS],
                                             help="Bands: high ≥ 60%, medium 30–60%, low < 30% (see Churn and "
                                                  "propensity). Only currently active users have a band.")
    elif item["kind"] == "list":
        lists = data.user_lists(path, version)
        current = [v for v in item["values"] if v in lists][:1]
        picked = cols[5].selectbox("List", lists or ["(no saved lists)"], key=f"{key}-list",
                                   index=lists.index(current[0]) if current else 0,
                                   help="Static lists of users saved from the Paths page.")
        item["values"] = [picked] if lists else []
    else:
        names = [r.segment for r in DEFAULT_RULES] + ["Other"]
        item["values"] = cols[5].multiselect("Segment is one of", names, key=f"{key}-rfm",
                                             default=[v for v in item["values"] if v in names])
    item["remove"] = cols[6].button("", icon=":material/close:", key=f"{key}-remove", help="Remove this condition")
    return item


def definition_of(items: list[dict], match: str) -> SegmentDefinition:
    fields = ("kind", "event", "op", "count", "days", "category", "field")
    return SegmentDefinition(tuple(Condition(**{f: i[f] for f in fields}, values=tuple(i["values"]))
                                   for i in items), match)


with tab_builder:
    if tab_builder.open:
        st.caption("Conditions count over the last days of data (ending on the last day with events), over "
                   "every channel: the sidebar's dates, channel and property filters do not apply to segments. "
                   "The count updates "
                   "as you change them.")
        saved = data.saved_segments(path, version)
        load_cols = st.columns([3, 1, 1])
        if not saved.empty:
            pick = load_cols[0].selectbox("Saved segments", saved["name"].tolist(), key="seg-saved")
            if load_cols[1].button("Load", key="seg-load"):
                loaded = SegmentDefinition.from_json(saved.set_index("name").loc[pick, "definition"])
                st.session_state[CONDITIONS_KEY] = [
                    new_condition(**{k: v for k, v in c.__dict__.items() if k != "values"}, values=list(c.values))
                    for c in loaded.conditions]
                st.session_state[MATCH_KEY] = loaded.match
                st.rerun()
            if load_cols[2].button("Delete", key="seg-delete"):
                auth.require("segments")
                data.write(delete_segment, pick)
                auth.record("segment_delete", pick)
                st.rerun()
        items = st.session_state.setdefault(CONDITIONS_KEY, [new_condition()])
        match = st.radio("Match", ["all", "any"], key=MATCH_KEY, horizontal=True,
                         format_func=lambda m: {"all": "all conditions", "any": "any condition"}[m])
        items = [condition_row(item) for item in items]
        if any(i["remove"] for i in items):
            st.session_state[CONDITIONS_KEY] = [i for i in items if not i["remove"]]
            st.rerun()
        if st.button("Add condition", icon=":material/add:", key="seg-add"):
            st.session_state[CONDITIONS_KEY] = [*items, new_condition()]
            st.rerun()
        st.session_state[CONDITIONS_KEY] = items

        definition = definition_of(items, match)
        try:
            definition.check()
            users = data.segment_users(path, version, definition.to_json())
            comparison = data.segment_comparison(path, version, definition.to_json())
        except PondError as exc:
            st.warning(f"Finish the conditions: {exc}")
            st.stop()

        st.markdown(f"**{len(users):,} users** · {definition.describe()}")
        if users.empty:
            widgets.empty_state("No user matches these conditions.",
                                hint="Loosen a condition (fewer times, more days) or match *any condition*; the "
                                     "segment can still be saved, and fills up as new data arrives.")
        left, right = st.columns([3, 2])
        with left:
            st.dataframe(users.head(200), hide_index=True, height=280)
            st.caption("First 200 users; the CSV holds all of them.")
            widgets.csv_download(users, "pond-segment-users.csv", label=f"All {len(users):,} users as CSV",
                                 key="seg-users-csv")
        with right:
            st.markdown("**Compared with everyone** (last 30 days)")
            shown_values = comparison.assign(**{
                who: [widgets.format_value(v, "yuan" if m == "order_value" else "share")
                      for m, v in zip(comparison["metric"], comparison[who], strict=True)]
                for who in ("segment", "everyone")})
            st.dataframe(shown_values.drop(columns=["metric"]), hide_index=True, column_config={
                "label": st.column_config.TextColumn(""),
                "lift": st.column_config.NumberColumn("lift (×)", format="%.2f×"),
            })
            widgets.csv_download(comparison, "pond-segment-comparison.csv", label="Comparison as CSV",
                                 key="seg-compare-csv")
        save_cols = st.columns([3, 1])
        name = save_cols[0].text_input("Save as", key="seg-name",
                                       placeholder="e.g. Skincare browsers who never buy")
        if save_cols[1].button("Save segment", key="seg-save", disabled=not name.strip()):
            try:
                auth.require("segments")
                data.write(save_segment, name, definition)
                auth.record("segment_save", f"{name.strip()}: {definition.describe()}")
                st.session_state["seg-saved-message"] = f"Saved “{name.strip()}”."
                st.rerun()  # so the saved list above includes it
            except PondError as exc:
                st.error(str(exc))
        if "seg-saved-message" in st.session_state:
            st.success(st.session_state.pop("seg-saved-message"))

with tab_rfm:
    if tab_rfm.open:
        as_of, channel = chosen.period.end, chosen.channel
        through = f", purchases through {channel}" if channel else ""
        st.caption(f"RFM as of {as_of:%Y-%m-%d} (the end of the sidebar's date range){through}. "
                   "Scores run 1-5, 5 being the most recent, most frequent and highest spending; customers "
                   "with equal values share a score.")
        controls = st.columns([1, 3])
        lookback = controls[0].number_input("Lookback (days)", min_value=30, max_value=3650, value=365, step=30,
                                            key="rfm-lookback", help="Only purchases in these days count.")
        with controls[1].expander("Segment rules (first match wins)"):
            edited = st.data_editor(st.session_state.get(RULES_KEY, rules_frame()), num_rows="dynamic",
                                    hide_index=True, key="rfm-rules-editor", column_config={
                                        c: st.column_config.NumberColumn(c, min_value=1, max_value=5, step=1)
                                        for c in rules_frame().columns[1:]})
            buttons = st.columns(2)
            if buttons[0].button("Apply rules", key="rfm-apply"):
                try:
                    rules_from_frame(edited)
                    st.session_state[RULES_KEY] = pd.DataFrame(edited)
                    st.rerun()
                except PondError as exc:
                    st.error(str(exc))
            if buttons[1].button("Reset to the standard eleven segments", key="rfm-reset"):
                st.session_state.pop(RULES_KEY, None)
                st.rerun()

        rules = rules_from_frame(st.session_state[RULES_KEY]) if RULES_KEY in st.session_state else DEFAULT_RULES
        scores = data.rfm_scores(path, version, as_of, int(lookback), channel, rules, chosen.where)
        if scores.empty:
            widgets.empty_state(f"Nobody bought in the {int(lookback):,} days up to {as_of:%Y-%m-%d}.",
                                hint="Lengthen the lookback, move the sidebar's date range or choose All "
                                     "channels.")
        else:
            sizes = segment_sizes(scores)
            cards = st.columns(4)
            cards[0].metric("Customers", f"{len(scores):,}")
            cards[1].metric("Segments", f"{len(sizes):,}")
            cards[2].metric("Value", f"¥{scores['monetary'].sum():,.0f}",
                            help="Purchases minus refunds in the lookback.")
            cards[3].metric("Median days since last order", f"{scores['recency_days'].median():.0f}")
            left, right = st.columns([3, 2])
            with left:
                st.plotly_chart(charts.segment_treemap(sizes), width="stretch")
            with right:
                st.dataframe(sizes, hide_index=True, height=420, column_config={
                    "share": st.column_config.NumberColumn(format="percent"),
                    "monetary": st.column_config.NumberColumn("value (¥)", format="%.0f"),
                    "avg_monetary": st.column_config.NumberColumn("avg value (¥)", format="%.0f"),
                    "avg_recency_days": st.column_config.NumberColumn("avg days since order", format="%.0f"),
                    "avg_frequency": st.column_config.NumberColumn("avg orders", format="%.1f"),
                })
                widgets.csv_download(sizes, f"pond-rfm-segments-{as_of}.csv", label="Segments as CSV",
                                     key="rfm-sizes-csv")
            st.subheader("Customers")
            pick = st.multiselect("Segments", list(sizes["segment"]), default=[], key="rfm-pick",
                                  placeholder="All segments")
            shown = scores[scores["segment"].isin(pick)] if pick else scores
            widgets.capped_table(shown, f"{len(shown):,} customers", height=300)
            widgets.csv_download(shown, f"pond-rfm-customers-{as_of}.csv", label="These customers as CSV",
                                 key="rfm-customers-csv")
            days = chosen.period.days
            st.subheader(f"How customers moved in the last {widgets.plural(days, 'day')}")
            moved = data.rfm_transitions(path, version, as_of, days, int(lookback), channel, rules, chosen.where)
            st.plotly_chart(charts.transition_heatmap(moved), width="stretch")
            st.caption(f"Rows: segment {widgets.plural(days, 'day')} before {as_of:%Y-%m-%d}; columns: segment "
                       "now. The period is the length of the sidebar's date range.")
            widgets.csv_download(moved, f"pond-rfm-transitions-{as_of}.csv", label="Transitions as CSV",
                                 key="rfm-moved-csv")

with tab_portraits:
    if tab_portraits.open:
        saved_names = data.saved_segments(path, version)["name"].tolist()
        who = st.selectbox("Portrait of", ["Everyone", *saved_names], key="portrait-who",
                           help="Save a segment in the builder to see its portrait here.")
        result = data.portrait(path, version, None if who == "Everyone" else who)
        habits = result["habits"]
        cards = st.columns(5)
        cards[0].metric("Users", f"{result['users']:,}")
        cards[1].metric("Buyers", f"{habits['buyers']:,}")
        cards[2].metric("Orders per buyer", f"{habits['orders_per_buyer']:.1f}")
        cards[3].metric("Average order value", f"¥{habits['order_value']:,.0f}")
        repurchase = habits["repurchase_days_median"]
        cards[4].metric("Median days between purchases", "—" if repurchase is None else f"{repurchase:.1f}",
                        help=f"Coupon used on {habits['coupon_share']:.0%} of purchases.")
        profile = result["profile"]
        columns = st.columns(2)
        for i, (field, label) in enumerate((("acquisition_channel", "Acquisition channel"), ("community", "Community"),
                                            ("gender", "Gender"), ("age_band", "Age band"), ("city", "City"))):
            with columns[i % 2]:
                st.markdown(f"**{label}**")
                st.plotly_chart(charts.share_bars(profile, field, label=label), width="stretch")
        st.markdown("**Interest tags** (most common among these users; lift = how much more common than "
                    "among everyone)")
        if result["tags"].empty:
            st.caption("No interest tags: they come from engagement with items that have a category or tags.")
        else:
            st.dataframe(result["tags"].head(30), hide_index=True, column_config={
                "share": st.column_config.NumberColumn(format="percent"),
                "share_all": st.column_config.NumberColumn("share of everyone", format="percent"),
                "lift": st.column_config.NumberColumn("lift (×)", format="%.2f")})
            widgets.csv_download(result["tags"], "pond-portrait-tags.csv", label="Tags as CSV", key="portrait-tags")
        hours, days = st.columns(2)
        with hours:
            st.markdown("**Purchases by hour** (business time zone)")
            st.plotly_chart(charts.count_bars(result["hours"], "hour", label="Hour"), width="stretch")
        with days:
            st.markdown("**Purchases by weekday**")
            st.plotly_chart(charts.count_bars(result["weekdays"], "weekday", label="Weekday",
                                              ticks=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
                            width="stretch")
        widgets.csv_download(profile, "pond-portrait-profile.csv", label="Profile as CSV", key="portrait-profile")
