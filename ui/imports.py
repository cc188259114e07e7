"""Upload-page helpers: keep uploaded files on disk, inspect them, import and undo with progress.

After an upload or an undo the interest tags (segments, portraits) are derived again by a thread of the
server rather than in the request: about 3 s at 10M events however small the file, so a weekly
upload returns in about half the time. The same thread then computes the churn models' results
for the new version (about 2 s each at 10M events, kept beside the warehouse), so that the Churn
page's tabs load them instead of fitting. A page that needs either meanwhile waits for that
thread (the engine runs one derivation of each at a time) and finds them current.

A version made elsewhere (a command-line import or undo, a demo build) starts the same thread on
the first page view that sees it (``derive_when_new``), so that the first look at the Churn page
after a command-line import loads its results too. ``$POND_BACKGROUND_DERIVE=0`` turns that off.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from engine import warehouse
from engine.errors import PondError, WarehouseError, WarehouseLockedError
from engine.ingest import ImportPlan, ImportResult, import_file, inspect_file, undo_upload
from engine.ingest.sniff import FileSample
from engine.portraits import GIVE_WAY_SECONDS, derive_interest_tags_in_turns
from ui import auth

log = logging.getLogger("pond.ui")

UPLOAD_DIR = Path(tempfile.gettempdir()) / "pond-uploads"
UPLOAD_KEEP_SECONDS = 24 * 3600
#: Writers wait longer than readers: an import should queue behind a short CLI job.
WRITE_LOCK_TIMEOUT = 30.0
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


#: What the Churn page shows first on its model tabs (engine.churn functions, default horizons).
CHURN_RESULTS = ("stored_churn_risk", "stored_purchase_propensity", "stored_churn_evaluation")
_derivations: dict[str, threading.Thread] = {}
#: the newest warehouse version of each path this server has started a derivation for
_derived_versions: dict[str, int] = {}
_derivations_lock = threading.Lock()


def derive_when_new(path: str, version: int) -> threading.Thread | None:
    """Start :func:`derive_in_background` once for each warehouse version this server sees, whatever
    made it; the app calls this on every rerun (a dictionary look-up when nothing changed)."""
    if os.environ.get("POND_BACKGROUND_DERIVE", "").strip() == "0":
        return None
    with _derivations_lock:  # two sessions seeing the version at once start one thread
        if _derived_versions.get(path) == version:
            return None
        _derived_versions[path] = version
    return derive_in_background(path)


def derive_in_background(path: str, version: int | None = None) -> threading.Thread:
    """Derive the interest tags of the warehouse's current version in a thread of the server, then
    the churn models' results with the Churn page's defaults (each kept per version). ``version`` is
    the version the caller just wrote, so that the next rerun does not start the thread again.

    The thread never holds the warehouse for the whole derivation (about 21 s at 10M events): it
    scores the tags on one opening and writes them on another, copies the rollups the churn models
    read and fits them with the file closed, and leaves the file alone between steps, so that a
    command-line import, undo or backup waiting for it goes first."""

    def run() -> None:
        from engine import churn  # scikit-learn and lifelines load here, not with the Upload page

        try:
            # a read, the file left to any waiting writer, a short write (engine.portraits)
            derive_interest_tags_in_turns(path, timeout=WRITE_LOCK_TIMEOUT)
        except PondError:
            log.exception("could not derive interest tags in the background; they will be derived on use")
        except Exception:  # noqa: BLE001 - derived data must not fail a committed import
            log.exception("interest tags failed in the background; they will be derived on use")
        time.sleep(GIVE_WAY_SECONDS)
        try:
            # the churn models read rollups only: copy them and close the warehouse before fitting
            with warehouse.connect(path, timeout=WRITE_LOCK_TIMEOUT) as con:
                keeping = churn.Keeping.of(con)
                snapshot = churn.rollup_snapshot(con)
        except PondError:
            log.exception("could not open the warehouse to compute churn results; the page computes them")
            return
        try:
            for name in CHURN_RESULTS:
                try:
                    getattr(churn, name)(snapshot, keeping=keeping)
                except PondError as exc:  # too little data, say: the page says so when opened
                    log.info("churn %s not computed in the background: %s", name, exc)
                except Exception:  # noqa: BLE001 - the page computes it again when opened, and shows why
                    log.exception("churn %s failed in the background", name)
        finally:
            snapshot.close()

    thread = threading.Thread(target=run, name="pond-derive", daemon=True)
    with _derivations_lock:
        _derivations[path] = thread
        if version is not None:
            _derived_versions[path] = version
    thread.start()
    return thread


def wait_for_derivation(path: str, timeout: float = 120.0) -> None:
    """Wait (with the warehouse closed) for this server's derivation of ``path`` to finish, so that a
    page then loads its results in milliseconds instead of holding the warehouse while it waits."""
    with _derivations_lock:
        thread = _derivations.get(path)
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)


def deriving(path: str) -> bool:
    """Whether this server is still deriving the interest tags after an upload."""
    with _derivations_lock:
        thread = _derivations.get(path)
    return thread is not None and thread.is_alive()


def run_undo(upload_id: int):
    user = auth.require("undo")
    with warehouse.connect(warehouse.default_warehouse_path(), timeout=WRITE_LOCK_TIMEOUT) as con:
        done = undo_upload(con, upload_id, derive=False, undone_by=user.name)  # audited in its transaction
        version = warehouse.data_version(con)
    derive_in_background(str(warehouse.default_warehouse_path()), version)
    return done


__all__ = ["COMMON_ZONES", "Inspected", "PondError", "derive_in_background", "derive_when_new", "deriving",
           "forget_remembered", "wait_for_derivation", "inspect_upload", "run_import", "run_undo"]
