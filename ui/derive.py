"""Derived data after a write, in a thread of the server rather than in the request.

After an upload or an undo the interest tags (segments, portraits) are derived again: about 3 s at
10M events however small the file, so a weekly upload returns in about half the time. The same
thread then computes the churn models' results for the new version (about 2 s each at 10M events,
kept beside the warehouse), so that the Churn page's tabs load them instead of fitting. A page that
needs either meanwhile waits for that thread (the engine runs one derivation of each at a time) and
finds them current.

A version made elsewhere (a command-line import or undo, a demo build) starts the same thread on
the first page view that sees it (``derive_when_new``), so that the first look at the Churn page
after a command-line import loads its results too. ``$POND_BACKGROUND_DERIVE=0`` turns that off.

This module sits below the pages' data and upload helpers (:mod:`ui.data`, :mod:`ui.imports`),
which both wait for it; it imports neither.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from engine.customers.tags import GIVE_WAY_SECONDS, derive_interest_tags_in_turns
from engine.errors import PondError
from engine.store import backend, warehouse

log = logging.getLogger("pond.ui")

#: Writers wait longer than readers: an import should queue behind a short CLI job.
WRITE_LOCK_TIMEOUT = 30.0

#: What the Churn page shows first on its model tabs (engine.predictions.churn functions, default horizons).
CHURN_RESULTS = ("stored_churn_risk", "stored_purchase_propensity", "stored_churn_evaluation")
_derivations: dict[str, threading.Thread] = {}
#: the newest warehouse version of each path this server has started a derivation for
_derived_versions: dict[str, int] = {}
_derivations_lock = threading.Lock()


def derive_when_new(path: str, version: int) -> threading.Thread | None:
    """Start :func:`derive_in_background` once for each warehouse version this server sees, whatever
    made it; the app calls this on every rerun (a dictionary look-up when nothing changed)."""
    if os.environ.get("POND_BACKGROUND_DERIVE", "").strip() == "0" or backend.name() == "clickhouse":
        return None  # switched off; on ClickHouse the writers (the Upload page, the CLI) derive after writing
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
        from engine.predictions import churn  # scikit-learn and lifelines load here, not with the Upload page

        try:
            # a read, the file left to any waiting writer, a short write (engine.customers.tags)
            derive_interest_tags_in_turns(path, timeout=WRITE_LOCK_TIMEOUT)
        except PondError:
            log.exception("could not derive interest tags in the background; they will be derived on use")
        except Exception:  # noqa: BLE001 - derived data must not fail a committed import
            log.exception("interest tags failed in the background; they will be derived on use")
        if backend.name() == "clickhouse":
            # the churn results are kept in files beside a DuckDB warehouse (engine.store.results); on
            # ClickHouse the Churn page computes them when it is opened
            return
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
