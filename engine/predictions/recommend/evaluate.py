"""Offline evaluation on a temporal split: the last ``holdout_days`` are the test period.

Users count when they interacted with items both before and during the test period. Two
protocols:

- ``new``: truth is what the user took in the test period that they had never touched before;
  seen items are removed from every model's list.
- ``repeat``: truth is everything the user took in the test period; lists may repeat seen items
  (shoppers buy the same things again, and a recommender that never repeats leaves that value).

Metrics at ``k``: precision (hits / k), recall (hits / size of the truth), NDCG (binary gains,
ideal over min(k, truth)), hit rate (at least one hit) and catalogue coverage (distinct items
recommended / items with any training interaction), plus each model's fit time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.errors import InsufficientDataError, PondError
from engine.predictions.recommend.data import Interactions
from engine.predictions.recommend.models import ALS, PROTOCOLS, BuyAgain, ContentBased, Hybrid, ItemKNN, Popularity

#: The model the dashboard serves; evaluation reports it as "default".
DEFAULT_MODEL = "hybrid"
METRICS = ("precision", "recall", "ndcg", "hit_rate", "coverage")
#: Fewer evaluated users than this make the figures noise.
MIN_USERS = 10


def default_models(validation_days: int = 30, random_state: int = 0) -> dict:
    """Baselines first, then the single models, then the hybrid the dashboard serves."""
    return {"popularity": Popularity(window_days=30), "buy_again": BuyAgain(),
            "als": ALS(random_state=random_state), "item_knn": ItemKNN(), "content": ContentBased(),
            "hybrid": Hybrid(validation_days=validation_days, random_state=random_state)}


def top_k(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Column indices of the ``k`` best scores per row, best first; ``exclude`` (bool) never picked."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None:
        scores[exclude] = -np.inf
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    picked = np.take_along_axis(part, order, axis=1)
    # an excluded item is never a recommendation, even when fewer than k items are left
    return np.where(np.isfinite(np.take_along_axis(scores, picked, axis=1)), picked, -1)


def ranking_metrics(recommended: np.ndarray, truth: sp.csr_matrix, k: int) -> dict[str, np.ndarray]:
    """Per-user precision, recall, NDCG and hit at ``k``; ``recommended`` rows align with ``truth``."""
    dense = truth.toarray() > 0
    valid = recommended >= 0
    hits = np.take_along_axis(dense, np.where(valid, recommended, 0), axis=1) & valid
    n_truth = dense.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discounts[: hits.shape[1]]).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_truth, k) - 1]
    return {"precision": hits.sum(axis=1) / k, "recall": hits.sum(axis=1) / n_truth,
            "ndcg": dcg / ideal, "hit_rate": hits.any(axis=1).astype(float)}


def temporal_split(X: Interactions, holdout_days: int) -> tuple[Interactions, Interactions, int]:
    """Training data, test data and the first test day."""
    if holdout_days < 1:
        raise PondError("the holdout must be at least 1 day")
    span = X.next_day - X.first_day
    cutoff = X.next_day - holdout_days
    train, test = X.window(end=cutoff), X.window(start=cutoff)
    if len(train) == 0 or len(np.intersect1d(train.active_users(), test.active_users())) == 0:
        raise InsufficientDataError(
            f"no user interacted with items both before and during the last {holdout_days} days "
            f"(the data spans {span} days); choose a shorter holdout, e.g. --holdout-days {max(1, span // 4)}")
    return train, test, cutoff


def _truth(train: Interactions, test: Interactions, protocol: str) -> sp.csr_matrix:
    truth = test.seen()
    if protocol == "new":
        truth = truth - truth.multiply(train.seen())
        truth.eliminate_zeros()
    return truth


def evaluate_models(X: Interactions, items: pd.DataFrame | None = None, *, holdout_days: int = 30,
                    k: int = 10, protocols: tuple[str, ...] = PROTOCOLS, max_users: int = 5000,
                    models: dict | None = None, random_state: int = 0,
                    progress: Callable[[float, str], None] | None = None) -> dict[str, dict]:
    """Fit every model on the training period and score it on the test period, per protocol.

    Returns
    -------
    dict
        ``{protocol: {"k", "protocol", "holdout_days", "users_evaluated", "models": {name:
        {metric: value, "fit_seconds": s}}, "default": name}}``.
    """
    for protocol in protocols:
        if protocol not in PROTOCOLS:
            raise PondError(f"unknown protocol {protocol!r}: use one of {', '.join(PROTOCOLS)}")
    if k < 1:
        raise PondError("k must be at least 1")
    progress = progress or (lambda fraction, message: None)
    train, test, cutoff = temporal_split(X, holdout_days)
    models = models if models is not None else default_models(holdout_days, random_state)
    rng = np.random.default_rng(random_state)
    seen = train.seen()
    catalogue = X.n_items
    users, truths = {}, {}
    for protocol in protocols:
        truth = _truth(train, test, protocol)
        rows = np.intersect1d(train.active_users(), np.flatnonzero(np.diff(truth.indptr) > 0))
        if len(rows) > max_users:
            rows = np.sort(rng.choice(rows, max_users, replace=False))
        if len(rows) < MIN_USERS:
            raise InsufficientDataError(
                f"only {len(rows)} users took {'new ' if protocol == 'new' else ''}items both before and "
                f"during the last {holdout_days} days, too few to evaluate (at least {MIN_USERS}); "
                + ("choose a shorter holdout" if len(train) < len(test) else "choose a longer holdout"))
        users[protocol], truths[protocol] = rows, truth
    results = {p: {"k": k, "protocol": p, "holdout_days": holdout_days, "users_evaluated": int(len(users[p])),
                   "test_start": str(np.datetime64("1970-01-01") + np.timedelta64(cutoff, "D")),
                   "models": {}, "default": DEFAULT_MODEL if DEFAULT_MODEL in models else next(iter(models))}
               for p in protocols}
    for step, (name, model) in enumerate(models.items()):
        progress(step / len(models), f"evaluating {name}: fitting on the training period")
        started = time.perf_counter()
        model.fit(train, cutoff, items)
        fit_seconds = time.perf_counter() - started
        for protocol in protocols:
            rows, truth = users[protocol], truths[protocol]
            sums = dict.fromkeys(METRICS[:-1], 0.0)
            recommended = set()
            for start in range(0, len(rows), 256):
                chunk = rows[start:start + 256]
                scores = model.score(chunk, protocol) if isinstance(model, Hybrid) else model.score(chunk)
                exclude = seen[chunk].toarray() > 0 if protocol == "new" else None
                picked = top_k(scores, k, exclude)
                for metric, values in ranking_metrics(picked, truth[chunk], k).items():
                    sums[metric] += float(values.sum())
                recommended.update(np.unique(picked[picked >= 0]).tolist())
            figures = {m: round(v / len(rows), 5) for m, v in sums.items()}
            figures["coverage"] = round(len(recommended) / catalogue, 5)
            figures["fit_seconds"] = round(fit_seconds, 3)
            results[protocol]["models"][name] = figures
    progress(1.0, "evaluation done")
    return results
