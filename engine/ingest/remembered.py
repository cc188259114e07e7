"""Mappings an operator chose, remembered per header signature and applied to the next such file.

When an import's mapping differs from what detection proposed (edited on the Upload page, or
``--map`` / ``--event-type`` on the command line), it is kept in the table ``mappings`` under the
file's header signature: its kind and its normalised column names, in order. The next file with the
same signature is inspected with that mapping, and the preview says "mapping from upload N", so a
weekly export imports with no clicks beyond Import. Files without a header have no signature (their
columns are only positions) and are never remembered.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from datetime import datetime

import duckdb
import pandas as pd

from engine.errors import PondError
from engine.ingest.formats import ImportPlan
from engine.ingest.vocabulary import normalise_header

#: the parts of a plan an operator edits, and so the parts that are remembered
REMEMBERED = ("mapping", "event_type_rule", "event_type_constant", "conversion_event_type", "pseudonymise")
#: and the reading of slash dates (ImportPlan.date_order)


def header_signature(plan: ImportPlan) -> str | None:
    """The file's kind and normalised header, as a short hash; None for a file without a header."""
    if not plan.has_header or plan.is_assignments:
        return None
    text = json.dumps([plan.kind, [normalise_header(c) for c in plan.columns]], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def choices(plan: ImportPlan) -> dict:
    """The remembered parts of a plan, with columns by normalised name (so 'User ID' meets 'user_id')."""
    data = {k: getattr(plan, k) for k in REMEMBERED}
    data["mapping"] = {f: [normalise_header(c) for c in cs] for f, cs in sorted(plan.mapping.items())}
    data["pseudonymise"] = sorted(plan.pseudonymise)
    data["date_order"] = plan.date_order  # 01/02/2024 as month/day or day/month, when the file has such dates
    return data


def _has_mappings(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has the table (a connection opened by an older schema's code has not)."""
    return bool(con.execute("select count(*) from information_schema.tables where table_name = 'mappings' "
                            "and table_catalog = current_database()").fetchone()[0])


def apply_remembered(con: duckdb.DuckDBPyConnection, plan: ImportPlan) -> int | None:
    """Apply the mapping remembered for the plan's header signature; returns its upload id, or None."""
    signature = header_signature(plan)
    if signature is None or not _has_mappings(con):
        return None
    row = con.execute("select plan, upload_id from mappings where signature = ?", [signature]).fetchone()
    if row is None:
        return None
    stored, upload_id = json.loads(row[0]), row[1]
    by_name = {normalise_header(c): c for c in plan.columns}
    mapping = {f: [by_name[c] for c in cs if c in by_name] for f, cs in stored["mapping"].items()}
    before_time = (plan.source("event_time"), plan.source("conversion_time"))
    plan.mapping = {f: cs for f, cs in mapping.items() if cs}
    if plan.source("event_time") != before_time[0]:
        plan.time_kind, plan.time_patterns = "text", []
    if plan.source("conversion_time") != before_time[1]:
        plan.conversion_time_kind, plan.conversion_time_patterns = "text", []
    plan.event_type_rule = stored["event_type_rule"]
    plan.event_type_constant = stored["event_type_constant"]
    plan.conversion_event_type = stored["conversion_event_type"]
    plan.pseudonymise = list(stored["pseudonymise"])
    if stored.get("date_order") and plan.date_order:
        plan.set_date_order(stored["date_order"])
    plan.notes = [n for n in plan.notes if not n.startswith(("No event type column", "Every row is imported as"))]
    plan.notes.insert(0, f"Mapping from upload {upload_id} (remembered for files with these columns; change it "
                         "here or forget it)")
    plan.remembered_from = upload_id
    return upload_id


def remember(con: duckdb.DuckDBPyConnection, plan: ImportPlan, detected: ImportPlan, upload_id: int,
             who: str | None = None) -> bool:
    """Keep the plan's choices for its header signature when they differ from what detection proposed
    and from what is already remembered; returns whether something was saved."""
    signature = header_signature(plan)
    if signature is None or not _has_mappings(con):
        return False
    mine = choices(plan)
    stored = con.execute("select plan from mappings where signature = ?", [signature]).fetchone()
    if stored and json.loads(stored[0]) == mine:
        return False
    if mine == choices(detected):
        if stored:  # the operator went back to what detection proposes: nothing to remember any more
            con.execute("delete from mappings where signature = ?", [signature])
        return False
    con.execute("insert or replace into mappings values (?, ?, ?, ?, ?, ?)",
                [signature, json.dumps(plan.columns, ensure_ascii=False), json.dumps(mine, ensure_ascii=False),
                 upload_id, datetime.now(), who or getpass.getuser()])
    return True


def list_mappings(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Remembered mappings, newest first: signature, columns, what they map, upload, when, who."""
    rows = con.execute("select signature, columns, plan, upload_id, saved_at, saved_by from mappings "
                       "order by saved_at desc").fetchall()
    records = []
    for signature, columns, stored, upload_id, saved_at, saved_by in rows:
        data = json.loads(stored)
        mapped = ", ".join(f"{f}={'|'.join(cs)}" for f, cs in data["mapping"].items())
        if data["event_type_rule"] == "constant":
            mapped += f", every row={data['event_type_constant']}"
        records.append({"signature": signature, "columns": ", ".join(json.loads(columns)), "mapping": mapped,
                        "upload_id": upload_id, "saved_at": saved_at, "saved_by": saved_by})
    return pd.DataFrame(records, columns=["signature", "columns", "mapping", "upload_id", "saved_at", "saved_by"])


def forget_mapping(con: duckdb.DuckDBPyConnection, signature: str) -> None:
    """Forget a remembered mapping (by its signature, or the start of it)."""
    found = con.execute("select signature from mappings where starts_with(signature, ?)", [signature]).fetchall()
    if len(found) != 1:
        what = "no remembered mapping" if not found else f"{len(found)} remembered mappings"
        raise PondError(f"{what} with signature {signature!r}; `python -m engine mappings list` shows them")
    con.execute("delete from mappings where signature = ?", [found[0][0]])
