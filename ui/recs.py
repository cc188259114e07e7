"""The recommender for pages: background training with progress, and the saved model, cached.

Training runs as a separate process (``python -m engine train recs``), one at a time per
warehouse, watched by a thread of the server: no page waits for it, the fit's memory is returned
to the system when it ends, and the server stays responsive while it runs. Pages poll
:func:`job` for progress. The model is loaded once per saved file (keyed on the file's
modification time) and shared read-only between sessions.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from engine.predictions.recommend import Recommender, model_paths
from engine.predictions.recommend.data import interactions_fingerprint
from engine.predictions.recommend.serve import DEFAULT_FILTERS
from engine.store.warehouse import PROJECT_ROOT

log = logging.getLogger("pond.ui")


@dataclass
class TrainingJob:
    version: int
    fingerprint: str
    fraction: float = 0.0
    message: str = "starting"
    error: str | None = None
    done: bool = False
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return not self.done


_jobs: dict[str, TrainingJob] = {}
_jobs_lock = threading.Lock()


def job(path: str) -> TrainingJob | None:
    """The latest training job of this warehouse in this server process, if any."""
    with _jobs_lock:
        return _jobs.get(path)


def start_training(path: str, version: int, fingerprint: str) -> TrainingJob:
    """Train in the background unless a training of this warehouse is already running."""
    with _jobs_lock:
        current = _jobs.get(path)
        if current is not None and current.running:
            return current
        new = TrainingJob(version, fingerprint)

        def run() -> None:
            try:
                _train_in_a_process(path, new)
            except Exception as exc:  # noqa: BLE001 - a failed background fit must be shown, not lost
                log.exception("training the recommender failed")
                new.error = f"training failed unexpectedly ({type(exc).__name__}); the server log has details"
            finally:
                new.done = True

        new.thread = threading.Thread(target=run, name="pond-train-recs", daemon=True)
        _jobs[path] = new
        new.thread.start()
        return new


def _train_in_a_process(path: str, job: TrainingJob) -> None:
    """Run ``python -m engine train recs`` and follow its progress lines."""
    command = [sys.executable, "-m", "engine", "--warehouse", path, "train", "recs", "--progress-lines"]
    with subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"}) as process:
        for line in process.stdout:
            try:
                update = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(update, dict) and "fraction" in update:
                job.fraction, job.message = float(update["fraction"]), str(update["message"])
        errors = process.stderr.read()
    if process.returncode:
        said = [line[len("pond: "):] for line in errors.splitlines() if line.startswith("pond: ")]
        if said:
            job.error = said[-1]
        else:
            log.error("training the recommender failed:\n%s", errors)
            job.error = f"training stopped with exit code {process.returncode}; the server log has details"


def model_stamp(path: str) -> float:
    """Changes whenever a new model is saved (0 when there is none)."""
    description, _ = model_paths(path)
    try:
        return description.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=4)
def _load(path: str, stamp: float) -> Recommender | None:
    return Recommender.load(path)


def model(path: str) -> Recommender | None:
    """The saved model beside the warehouse (``None`` before the first training)."""
    return _load(path, model_stamp(path))


def filters_key(**chosen) -> tuple:
    """List filters as a hashable cache key, unset ones at their defaults (repeats allowed, no limits)."""
    return tuple(sorted({**DEFAULT_FILTERS, **chosen}.items()))


@st.cache_data(show_spinner=False, max_entries=64)
def recommend(path: str, stamp: float, user_id: str, n: int, filters: tuple) -> pd.DataFrame:
    return _load(path, stamp).recommend(user_id, n, **dict(filters))


@st.cache_data(show_spinner=False, max_entries=64)
def similar_items(path: str, stamp: float, item_id: str, n: int) -> pd.DataFrame:
    return _load(path, stamp).similar_items(item_id, n)


@st.cache_data(show_spinner=False, max_entries=64)
def history(path: str, stamp: float, user_id: str) -> pd.DataFrame:
    return _load(path, stamp).history_of(user_id)


@st.cache_data(show_spinner=False, max_entries=8)
def push_list(path: str, stamp: float, user_ids: tuple[str, ...], n: int, filters: tuple) -> pd.DataFrame:
    recommender = _load(path, stamp)
    known = [u for u in user_ids if recommender.knows(u)]  # users who joined since have no row
    return recommender.recommend_many(known, n, **dict(filters))


def evaluation_table(evaluation: dict, protocol: str) -> pd.DataFrame:
    """One row per model: the metrics of one protocol, the served model first among equals."""
    result = evaluation.get(protocol) or {}
    frame = pd.DataFrame.from_dict(result.get("models", {}), orient="index")
    if frame.empty:
        return frame
    frame = frame.rename_axis("model").reset_index()
    frame["role"] = frame["model"].map({"popularity": "baseline", "buy_again": "baseline"}).fillna("model")
    frame.loc[frame["model"] == result.get("default"), "role"] = "served"
    return frame[["model", "role", "ndcg", "precision", "recall", "hit_rate", "coverage", "fit_seconds"]]


@st.cache_data(show_spinner=False, max_entries=16)
def fingerprint(path: str, version: int) -> str:
    """What the events look like at this version (see :func:`interactions_fingerprint`)."""
    from ui.data import connect

    with connect(path) as con:
        return interactions_fingerprint(con)


def is_stale(recommender: Recommender, path: str, version: int) -> bool:
    """Whether the events changed since the model was trained (segment saves do not count)."""
    return not recommender.is_current(fingerprint(path, version))

