"""Upload data: preview exports, adjust the column mapping, import with progress, undo imports."""

import copy

import streamlit as st

from engine.errors import PondError
from engine.ingest import FORMAT_NAMES, describe_time_range
from engine.ingest.vocabulary import FIELDS, REQUIRED_FIELDS
from engine.store.warehouse import EVENT_TYPES
from ui import data, derive, imports, widgets
from ui.page import page_context

NONE = "— not in this file —"
MAIN_FIELDS = ("user_id", "event_time", "event_type", "item_id", "order_id", "amount", "price", "quantity",
               "channel")
RESULTS_KEY = "pond_import_results"

st.title("Upload data")
st.caption("CSV, TSV or blank-separated text (UTF-8, UTF-8 with BOM, GB18030/GBK), Excel .xlsx, Parquet "
           "and JSON lines. Taobao/Tianchi, REES46, RetailRocket, invoice-line and order exports are "
           "recognised, and so are A/B assignment files (user, experiment, variant); other files are mapped by "
           "their headers (English or Chinese). Re-importing the "
           "same file adds nothing, and rows already in the warehouse are skipped as duplicates.")

page = page_context(needs_events=False, action="import")
path, version, summary = page.path, page.version, page.summary

results = st.session_state.setdefault(RESULTS_KEY, {})
#: the last undo's confirmation, kept across the rerun that shows the ledger with it
UNDONE_KEY = "pond_upload_undone"
tab_import, tab_history = st.tabs(["Import files", "Upload history"])


def show_result(name: str, outcome) -> None:
    if isinstance(outcome, str):
        st.error(f"Refused, nothing was changed: {outcome}")
        return
    if outcome.status == "already_imported":
        st.info(f"{name} was already imported as upload {outcome.upload_id}; nothing was added.")
        return
    st.success(f"Imported {name} as upload {outcome.upload_id}.")
    cols = st.columns(4)
    cols[0].metric("Rows read", f"{outcome.rows_read:,}")
    cols[1].metric("Imported", f"{outcome.rows_imported:,}")
    cols[2].metric("Rejected", f"{outcome.rows_rejected:,}")
    cols[3].metric("Duplicates skipped", f"{outcome.rows_duplicate:,}")
    if outcome.reject_reasons:
        st.dataframe([{"reason": r, "rows": n} for r, n in outcome.reject_reasons.items()], hide_index=True)
        widgets.csv_download(data.rejects(path, data.current_version(path), outcome.upload_id),
                             f"rejected-rows-upload-{outcome.upload_id}.csv", label="Rejected rows as CSV",
                             key=f"rejects-{name}-{outcome.upload_id}")
    for note in outcome.notes:
        st.caption(f"ℹ️ {note}")
    if derive.deriving(path):
        st.caption("ℹ️ Interest tags (segment conditions and portraits) are being updated in the background; "
                   "those pages wait for it if opened in the next few seconds. Every other page already shows "
                   "the new data.")


def edit_plan(item, key: str):
    """Mapping editor: one picker per field, prefilled with what was detected."""
    plan = copy.deepcopy(item.plan)
    options = [NONE, *plan.columns]

    def picker(field: str, container) -> None:
        detected = plan.source(field)
        label = field + (" *" if field in REQUIRED_FIELDS else "")
        choice = container.selectbox(label, options, key=f"{key}-map-{field}", help=FIELDS[field],
                                     index=options.index(detected[0]) if detected else 0)
        if choice == NONE:
            plan.set_column(field, None)
        elif not detected or choice != detected[0]:
            plan.set_column(field, choice)

    columns = st.columns(3)
    for i, field in enumerate(MAIN_FIELDS):
        picker(field, columns[i % 3])
    with st.expander("More fields"):
        more = st.columns(3)
        for i, field in enumerate(f for f in FIELDS if f not in MAIN_FIELDS):
            picker(field, more[i % 3])
    if plan.is_assignments:
        return plan  # an assignment file has no event type
    if not plan.source("event_type"):
        default = plan.event_type_constant if plan.event_type_constant in EVENT_TYPES else "view"
        constant = st.selectbox("No event type column: every row is a", EVENT_TYPES,
                                index=EVENT_TYPES.index(default), key=f"{key}-constant")
        if plan.event_type_rule != "invoice" and (plan.event_type_rule, plan.event_type_constant) != (
                "constant", constant):
            plan.set_event_type(constant)
    elif plan.event_type_rule == "constant":
        plan.set_event_type(None)
    if plan.source("converted"):
        default = plan.conversion_event_type if plan.conversion_event_type in EVENT_TYPES else "purchase"
        plan.conversion_event_type = st.selectbox(
            f"A set {plan.source('converted')[0]} adds a second event:", EVENT_TYPES,
            index=EVENT_TYPES.index(default), key=f"{key}-conversion")
    if plan.date_order:
        orders = {"month": "month/day/year (01/02/2024 is 2 January)", "day": "day/month/year (1 February)"}
        picked = st.radio("Dates like 01/02/2024 are", list(orders), format_func=orders.get, horizontal=True,
                          index=list(orders).index(plan.date_order), key=f"{key}-date-order")
        plan.set_date_order(picked)
    if plan.pseudonymise:
        keep = st.checkbox(f"Keep {', '.join(plan.pseudonymise)} as they are (they look like phone numbers, "
                           "e-mails or WeChat ids and are pseudonymised by default)", key=f"{key}-keep")
        if keep:
            plan.pseudonymise, plan.keep_personal = [], True
    return plan


with tab_import:
    files = st.file_uploader("Drop export files here", accept_multiple_files=True,
                             type=["csv", "tsv", "txt", "xlsx", "parquet", "jsonl", "json", "ndjson"])
    if not files:
        widgets.empty_state("No file chosen yet.", hint="Drop one or more exports above; you will see a "
                            "preview and the detected columns before anything is imported.")
    history_now = data.uploads(path, version)
    imported_now = history_now[history_now["status"] == "imported"] if not history_now.empty else history_now
    demo_only = len(imported_now) == 1 and imported_now["format"].iloc[0] == "demo"
    demo_choice = "replace"
    if files and demo_only:
        demo_choice = st.radio(
            "This warehouse holds only the demo data. Your first import", ["replace", "add"], horizontal=True,
            format_func={"replace": "replaces the demo (recommended)", "add": "is added beside the demo"}.get,
            key="demo-choice", help="Added beside it, your events mix with generated ones on every page. "
                                    "The command line does the same (`--add-to-demo` keeps the demo).")
    zones = list(imports.COMMON_ZONES)
    if summary["timezone"] not in zones:
        zones.insert(0, summary["timezone"])
    for number, uploaded in enumerate(files or []):
        key = f"file-{number}-{uploaded.name}"
        with st.container(border=True):
            st.markdown(f"#### {uploaded.name}")
            top = st.columns([2, 2, 3])
            fmt = top[0].selectbox("Format", ["auto", *FORMAT_NAMES], key=f"{key}-format",
                                   help="auto recognises the common exports; pick one to force it.")
            zone = top[1].selectbox("Time zone of times without one", zones, key=f"{key}-tz",
                                    index=zones.index(summary["timezone"]),
                                    help="Unix timestamps and times that name their zone are not shifted. "
                                         "The default is the warehouse's business time zone, as for "
                                         "`python -m engine ingest` without --tz.")
            top[1].caption(f"Default: {summary['timezone']}, the warehouse's business time zone "
                           "(also the command line's)")
            try:
                item = imports.inspect_upload(uploaded, format=fmt, timezone=zone)
            except PondError as exc:
                st.error(f"Cannot import this file: {exc}")
                continue
            top[2].markdown(f"**Detected:** {item.plan.format} · {item.sample.format_label} · "
                            f"header {'yes' if item.sample.has_header else 'no'}")
            st.dataframe(item.sample.rows.head(10), hide_index=True, height=230)
            plan = edit_plan(item, key)
            describe_time_range(item.sample, plan)  # the notes and dates of the plan as edited
            for note in plan.notes:
                top[2].caption(f"ℹ️ {note}")
            if plan.time_range_text:
                top[2].caption(f"📅 {plan.time_range_text}")
            if item.plan.remembered_from and top[2].button(
                    "Forget this remembered mapping", key=f"{key}-forget",
                    help="Files with these columns are then mapped by detection again"):
                try:
                    imports.forget_remembered(item)
                    for widget in [k for k in st.session_state if str(k).startswith(f"{key}-")]:
                        del st.session_state[widget]  # the pickers show detection's choices again
                except PondError as exc:
                    st.error(str(exc))
                st.rerun()
            try:
                plan.check(uploaded.name)
                refusal = None
            except PondError as exc:
                refusal = str(exc)
                st.warning(f"Import would be refused: {refusal}")
            if st.button("Import", key=f"{key}-import", type="primary", disabled=refusal is not None):
                try:
                    results[key] = imports.run_import(item, plan, demo=demo_choice)
                except PondError as exc:
                    results[key] = str(exc)
                st.rerun()  # so the history, the badge and the filters show the new version
            if key in results:
                show_result(uploaded.name, results[key])

with tab_history:
    history = data.uploads(path, version)
    if history.empty:
        widgets.empty_state("No imports yet.", hint="Imports made here or with `python -m engine ingest` "
                            "are listed with their counts and can be undone.")
    else:
        st.dataframe(history.drop(columns=["message"]), hide_index=True, column_config={
            "sha256": st.column_config.TextColumn("sha256", width="small"),
            "started_at": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm"),
            "finished_at": st.column_config.DatetimeColumn("finished", format="YYYY-MM-DD HH:mm"),
        })
        widgets.csv_download(history, "pond-upload-history.csv", label="History as CSV")
        st.markdown("##### Undo an import or get its rejected rows")
        labels = {f"#{r.upload_id} · {r.file_name} · {r.status} · {r.rows_imported:,} events": r.upload_id
                  for r in history.itertuples()}
        picked = labels[st.selectbox("Upload", list(labels), key="history-upload")]
        row = history.set_index("upload_id").loc[picked]
        cols = st.columns(2)
        with cols[0]:
            if row.rows_rejected:
                widgets.csv_download(data.rejects(path, version, picked),
                                     f"rejected-rows-upload-{picked}.csv", key="history-rejects",
                                     label=f"{row.rows_rejected:,} rejected rows as CSV")
            else:
                st.caption("No rejected rows in this upload.")
        with cols[1]:
            if row.status == "imported":
                # the confirmation belongs to one upload: picking another starts unchecked
                sure = st.checkbox(f"Remove the {row.rows_imported:,} events upload #{picked} added",
                                   key=f"history-confirm-{picked}")
                if st.button("Undo this import", disabled=not sure, key="history-undo"):
                    try:
                        done = imports.run_undo(picked)
                        # shown after the rerun that refreshes the ledger (a message before it is wiped)
                        st.session_state[UNDONE_KEY] = (f"Undid upload {done.upload_id} ({done.file_name}): "
                                                        f"removed {done.rows_removed:,} events.")
                        st.rerun()
                    except PondError as exc:
                        st.error(str(exc))
            else:
                st.caption(f"This upload is {row.status}.")
            if UNDONE_KEY in st.session_state:
                st.success(st.session_state.pop(UNDONE_KEY))
