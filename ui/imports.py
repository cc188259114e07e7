"""Upload-page helpers: keep uploaded files on disk, inspect them, import and undo with progress.

After an import or an undo the derived data (interest tags, the churn models' results) is computed
again in a thread of the server: see :mod:`ui.derive`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from engine.errors import PondError, WarehouseError, WarehouseLockedError
from engine.ingest import ImportPlan, ImportResult, import_file, inspect_file, undo_upload
from engine.ingest.sniff import FileSample
from engine.store import warehouse
from ui import auth
from ui.derive import WRITE_LOCK_TIMEOUT, derive_in_background

log = logging.getLogger("pond.ui")

UPLOAD_DIR = Path(tempfile.gettempdir()) / "pond-uploads"
UPLOAD_KEEP_SECONDS = 24 * 3600
#: how long a preview waits for the warehouse (for remembered mappings) before going without them
INSPECT_LOCK_TIMEOUT = 2.0
COMMON_ZONES = ("UTC", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo",
                "Asia/Seoul", "Europe/London", "Europe/Berlin", "America/New_York", "America/Los_Angeles")


@dataclass
class Inspected:
    path: Path
    name: str
    sample: FileSample
    plan: ImportPlan


def _prune_old_uploads() -> None:
    cutoff = time.time() - UPLOAD_KEEP_SECONDS
    for old in UPLOAD_DIR.glob("*"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()


def save_upload(uploaded) -> Path:
    """Write an uploaded file to a private temp folder once; the same bytes reuse the same file.

    Copies older than a day are removed, so the folder does not grow without bound. The copy is
    remembered per upload for the session, so that a rerun (any widget change on the page) does
    not hash the whole file again (about a second per GB here, on every rerun).
    """
    remembered = ("pond_saved", getattr(uploaded, "file_id", None))
    if remembered[1] is not None and remembered in st.session_state and st.session_state[remembered].exists():
        return st.session_state[remembered]
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    UPLOAD_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    _prune_old_uploads()
    # our own name on disk: the browser's file name never becomes a path
    path = UPLOAD_DIR / f"{digest}{Path(uploaded.name).suffix.lower()[:10]}"
    if not path.exists():
        path.write_bytes(data)
    if remembered[1] is not None:
        st.session_state[remembered] = path
    return path


def inspect_upload(uploaded, *, format: str, timezone: str | None) -> Inspected:
    """Sniff and detect an uploaded file once per (file, format, zone); cached in the session."""
    path = save_upload(uploaded)
    key = ("pond_inspected", path.name, format, timezone)
    if key not in st.session_state:
        try:  # with the warehouse, a mapping remembered for these columns is applied
            # briefly: while another process imports, the preview comes without them rather than late
            with warehouse.connect(warehouse.default_warehouse_path(), timeout=INSPECT_LOCK_TIMEOUT) as con:
                sample, plan = inspect_file(path, name=uploaded.name, format=format, timezone=timezone, con=con)
        except (WarehouseError, WarehouseLockedError):
            log.warning("warehouse busy: %s inspected without remembered mappings", uploaded.name)
            sample, plan = inspect_file(path, name=uploaded.name, format=format, timezone=timezone)
        st.session_state[key] = Inspected(path, uploaded.name, sample, plan)
    return st.session_state[key]


def forget_remembered(item: Inspected) -> None:
    """Forget the mapping remembered for this file's columns; the file is inspected afresh."""
    from engine.ingest import forget_mapping
    from engine.ingest.remembered import header_signature

    auth.require("import")
    signature = header_signature(item.plan)
    with warehouse.connect(warehouse.default_warehouse_path(), timeout=WRITE_LOCK_TIMEOUT) as con:
        forget_mapping(con, signature)
    auth.record("import", f"{item.name}: forgot the mapping remembered from upload {item.plan.remembered_from}")
    # session-state keys may come back as text, so match on the text of the inspection key's start
    start = str(("pond_inspected", item.path.name))[:-1]
    for key in [k for k in st.session_state if str(k).startswith(start)]:
        del st.session_state[key]


def run_import(item: Inspected, plan: ImportPlan, *, demo: str = "replace") -> ImportResult:
    """Import with a progress bar; raises PondError for a refused file (warehouse unchanged)."""
    bar = st.progress(0.0, text=f"Importing {item.name} ...")

    def progress(fraction: float, message: str) -> None:
        bar.progress(min(fraction, 1.0), text=message)

    user = auth.require("import")
    try:
        with warehouse.connect(warehouse.default_warehouse_path(), timeout=WRITE_LOCK_TIMEOUT) as con:
            result = import_file(con, item.path, plan=plan, name=item.name, imported_by=user.name,
                                 progress=progress, derive=False, demo=demo)
            version = warehouse.data_version(con)
    except PondError as exc:
        if isinstance(exc, WarehouseLockedError):
            auth.record("busy", f"import of {item.name} refused: {exc}", ok=False)
        auth.record("import", f"{item.name}: refused: {exc}", ok=False)
        raise
    finally:
        bar.empty()
    # the import wrote its own audit entry, in its transaction
    if result.status == "imported":
        derive_in_background(str(warehouse.default_warehouse_path()), version)
    return result


def run_undo(upload_id: int):
    user = auth.require("undo")
    with warehouse.connect(warehouse.default_warehouse_path(), timeout=WRITE_LOCK_TIMEOUT) as con:
        done = undo_upload(con, upload_id, derive=False, undone_by=user.name)  # audited in its transaction
        version = warehouse.data_version(con)
    derive_in_background(str(warehouse.default_warehouse_path()), version)
    return done


__all__ = ["COMMON_ZONES", "Inspected", "PondError", "forget_remembered", "inspect_upload", "run_import", "run_undo"]
