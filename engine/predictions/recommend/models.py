"""Recommenders over :class:`~engine.predictions.recommend.data.Interactions`.

Each model follows scikit-learn's conventions: parameters in ``__init__``, ``fit(X, as_of=None,
items=None) -> self``, learned values end in ``_``. ``score(rows)`` returns a dense
``(len(rows), n_items)`` float32 array of scores for the given user rows; higher is better.
``as_of`` is the day (since 1970) the model is fitted for: recency counts back from it.

- :class:`Popularity`: most users in a recent window, the cold-start answer.
- :class:`BuyAgain`: the user's own items by how often and how recently, filled with popularity.
- :class:`ALS`: implicit's alternating least squares on intent-weighted confidence.
- :class:`ItemKNN`: implicit's item-item neighbours (BM25 or cosine).
- :class:`ContentBased`: item categories and tags against the user's own tag profile.
- :class:`Hybrid`: a logistic-regression blend of all of them, learned on a validation period
  cut from the end of the training data, one blend for new items and one for repeats.

Default parameters come from ``bench/tune_recs.py`` (validation splits of the demo and of the Taobao
sample, never their test periods; BENCHMARKS.md has the tables).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from engine.errors import ConvergenceError, InsufficientDataError
from engine.predictions.recommend.data import Interactions


def _as_of(X: Interactions, as_of: int | None) -> int:
    return X.next_day if as_of is None else int(as_of)


def _row_max(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1, keepdims=True)
    return np.where(top > 0, top, 1.0)


class Popularity(BaseEstimator):
    """Items ranked by how many users interacted with them in the last ``window_days``."""

    def __init__(self, window_days: int = 30):
        self.window_days = window_days

    def fit(self, X: Interactions, as_of: int | None = None, items: pd.DataFrame | None = None) -> Popularity:
        as_of = _as_of(X, as_of)
        recent = X.window(as_of - self.window_days, as_of)
        if len(recent) == 0:  # an old export: its own last weeks are "recent"
            recent = X.window(X.next_day - self.window_days, None)
        users = np.asarray(recent.seen().sum(axis=0)).ravel()
        self.item_scores_ = np.log1p(users).astype(np.float32)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.item_scores_, (len(rows), 1))


class BuyAgain(BaseEstimator):
    """The user's own items by intent-weighted, recency-decayed count, then popular ones."""

    def __init__(self, half_life_days: float = 30.0, window_days: int = 30):
        self.half_life_days = half_life_days
        self.window_days = window_days

    def fit(self, X: Interactions, as_of: int | None = None, items: pd.DataFrame | None = None) -> BuyAgain:
        as_of = _as_of(X, as_of)
        self.matrix_ = X.matrix(half_life_days=self.half_life_days, as_of=as_of)
        pop = Popularity(self.window_days).fit(X, as_of).item_scores_
        self.fill_ = (pop / max(float(pop.max()), 1e-9) * 1e-6).astype(np.float32)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        return self.matrix_[rows].toarray() + self.fill_


class ALS(BaseEstimator):
    """implicit's AlternatingLeastSquares on ``log1p`` of intent-weighted counts.

    Parameters
    ----------
    factors, regularization, alpha, iterations
        As in :class:`implicit.cpu.als.AlternatingLeastSquares`; confidence is ``1 + alpha * c``.
    half_life_days
        Optional recency decay of the confidence; ``None`` keeps all history at full weight.
    """

    def __init__(self, factors: int = 32, regularization: float = 0.2, alpha: float = 5.0,
                 iterations: int = 15, half_life_days: float | None = None, random_state: int = 0,
                 num_threads: int = 0):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.half_life_days = half_life_days
        self.random_state = random_state
        self.num_threads = num_threads

    def fit(self, X: Interactions, as_of: int | None = None, items: pd.DataFrame | None = None) -> ALS:
        from implicit.cpu.als import AlternatingLeastSquares

        confidence = X.matrix(half_life_days=self.half_life_days, as_of=_as_of(X, as_of))
        confidence.data = np.log1p(confidence.data)
        with threadpool_limits(1, "blas"):  # implicit parallelises itself; BLAS threads only fight it
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            alpha=self.alpha, iterations=self.iterations,
                                            random_state=self.random_state, num_threads=self.num_threads)
            model.fit(confidence, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        if not (np.isfinite(self.user_factors_).all() and np.isfinite(self.item_factors_).all()):
            raise ConvergenceError("ALS diverged (non-finite factors); raise the regularization or lower alpha")
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        return self.user_factors_[rows] @ self.item_factors_.T


class ItemKNN(BaseEstimator):
    """implicit's item-item neighbours: an item scores by its similarity to what the user took.

    Parameters
    ----------
    neighbours
        Similar items kept per item (implicit's ``K``).
    method
        ``"bm25"`` (down-weights very popular items and very active users) or ``"cosine"``.
    """

    def __init__(self, neighbours: int = 50, method: str = "bm25", K1: float = 1.2, B: float = 0.75):
        self.neighbours = neighbours
        self.method = method
        self.K1 = K1
        self.B = B

    def fit(self, X: Interactions, as_of: int | None = None, items: pd.DataFrame | None = None) -> ItemKNN:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
        from implicit.utils import ParameterWarning

        if self.method not in ("bm25", "cosine"):
            raise ValueError(f"method must be 'bm25' or 'cosine', not {self.method!r}")
        self.matrix_ = X.matrix()
        model = (BM25Recommender(K=self.neighbours, K1=self.K1, B=self.B, num_threads=1)
                 if self.method == "bm25" else CosineRecommender(K=self.neighbours, num_threads=1))
        with warnings.catch_warnings():  # implicit converts its own BM25 weights from COO and says so
            warnings.simplefilter("ignore", category=ParameterWarning)
            model.fit(self.matrix_, show_progress=False)
        self.similarity_ = sp.csr_matrix(model.similarity, dtype=np.float32)
        return self

    def score(self, rows: np.ndarray) -> np.ndarray:
        return (self.matrix_[rows] @ self.similarity_).toarray()


def item_features(items: pd.DataFrame | None, n_items: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Items x features (``category:...``, ``tag:...``), rows L2-normalised, and the feature names."""
    if items is None or items.empty:
        return sp.csr_matrix((n_items, 0), dtype=np.float32), np.array([], dtype=str)
    rows, names = [], []
    for k, (category, tags) in enumerate(zip(items["category"], items["tags"], strict=True)):
        if category is not None and category == category:
            rows.append(k)
            names.append(f"category:{category}")
        if isinstance(tags, str):
            for tag in sorted({t.strip() for t in tags.split(",") if t.strip()}):  # a fixed order, fixed sums
                rows.append(k)
                names.append(f"tag:{tag}")
    vocab, cols = np.unique(np.asarray(names, dtype=str), return_inverse=True)
    F = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (np.asarray(rows, dtype=np.int64), cols)),
                      shape=(n_items, len(vocab)))
    norm = np.sqrt(np.asarray(F.multiply(F).sum(axis=1)).ravel())
    F = sp.diags(np.where(norm > 0, 1.0 / np.maximum(norm, 1e-12), 0.0).astype(np.float32)) @ F
    return F.tocsr(), vocab


class ContentBased(BaseEstimator):
    """Items whose categories and tags match the user's own (recency-weighted) tag profile."""

    def __init__(self, half_life_days: float = 180.0, popularity_tiebreak: float = 1e-3):
        self.half_life_days = half_life_days
        self.popularity_tiebreak = popularity_tiebreak

    def fit(self, X: Interactions, as_of: int | None = None, items: pd.DataFrame | None = None
            ) -> ContentBased:
        as_of = _as_of(X, as_of)
        self.features_, self.feature_names_ = item_features(items, X.n_items)
        self.matrix_ = X.matrix(half_life_days=self.half_life_days, as_of=as_of)
        pop = Popularity().fit(X, as_of).item_scores_
        self.tiebreak_ = (pop / max(float(pop.max()), 1e-9) * self.popularity_tiebreak).astype(np.float32)
        return self

    def profile(self, rows: np.ndarray) -> np.ndarray:
        """Each user's L2-normalised weight per feature."""
        prof = np.asarray((self.matrix_[rows] @ self.features_).todense(), dtype=np.float32)
        norm = np.linalg.norm(prof, axis=1, keepdims=True)
        return prof / np.where(norm > 0, norm, 1.0)

    def score(self, rows: np.ndarray) -> np.ndarray:
        if self.features_.shape[1] == 0:
            return np.tile(self.tiebreak_, (len(rows), 1))
        return np.asarray((self.features_ @ self.profile(rows).T).T, dtype=np.float32) + self.tiebreak_


#: What the hybrid's blend sees of each (user, item), all scaled per user to about [0, 1].
FEATURES = ("als", "knn", "content", "popularity", "seen", "again", "again_share", "recent", "bought")
PROTOCOLS = ("new", "repeat")
#: Used when the data is too short to learn a blend: collaborative signals first, repeats strong.
DEFAULT_BLEND = {
    "new": ({"als": 2.0, "knn": 2.0, "content": 1.0, "popularity": 1.0}, -6.0),
    "repeat": ({"als": 1.5, "knn": 1.5, "content": 0.5, "popularity": 1.0, "seen": 1.0, "again": 1.0,
                "again_share": 2.0, "bought": 1.0}, -6.0),
}


class Hybrid(BaseEstimator):
    """A learned blend of ALS, item-item, content, popularity and the user's own history.

    ``fit`` first fits every component on the data before the last ``validation_days``, learns a
    logistic regression that predicts which candidate items a user takes in those days (one for
    new items, one with repeats allowed), then refits the components on all the data. The blend
    therefore learns how much a repeat is worth against a collaborative pick on this shop's data,
    without ever looking at a test period.
    """

    def __init__(self, als: ALS | None = None, knn: ItemKNN | None = None,
                 content: ContentBased | None = None, buy_again: BuyAgain | None = None,
                 popularity: Popularity | None = None, validation_days: int = 30, candidates: int = 50,
                 max_users: int = 3000, C: float = 1.0, random_state: int = 0):
        self.als = als
        self.knn = knn
        self.content = content
        self.buy_again = buy_again
        self.popularity = popularity
        self.validation_days = validation_days
        self.candidates = candidates
        self.max_users = max_users
        self.C = C
        self.random_state = random_state

    def _components(self) -> dict[str, BaseEstimator]:
        return {"als": clone(self.als) if self.als is not None else ALS(random_state=self.random_state),
                "knn": clone(self.knn) if self.knn is not None else ItemKNN(),
                "content": clone(self.content) if self.content is not None else ContentBased(),
                "buy_again": clone(self.buy_again) if self.buy_again is not None else BuyAgain(),
                "popularity": clone(self.popularity) if self.popularity is not None else Popularity()}

    def _fit_components(self, X: Interactions, as_of: int, items: pd.DataFrame | None) -> dict:
        comps = self._components()
        for model in comps.values():
            model.fit(X, as_of, items)
        state = {"comps": comps, "seen": X.seen(), "bought": X.kind_matrix("purchases"),
                 "recent": X.last_day_matrix()}
        state["bought"].data = np.log1p(state["bought"].data)
        # last touch halved every week: "looked at it yesterday" is the strongest repeat signal
        state["recent"].data = np.power(0.5, np.maximum(as_of - state["recent"].data, 0) / 7.0).astype(np.float32)
        return state

    def fit(self, X: Interactions, as_of: int | None = None, items: pd.DataFrame | None = None) -> Hybrid:
        as_of = _as_of(X, as_of)
        span = as_of - X.first_day
        validation = int(min(self.validation_days, max(1, span // 4)))
        inner, later = X.window(end=as_of - validation), X.window(as_of - validation, as_of)
        blend = {}
        self.blend_source_ = "default"
        if len(inner) and len(later):
            state = self._fit_components(inner, as_of - validation, items)
            try:
                blend = {p: self._learn(state, inner, later, p) for p in PROTOCOLS}
                self.blend_source_ = "learned"
            except InsufficientDataError:
                blend = {}
        if not blend:
            blend = {p: (np.array([w.get(f, 0.0) for f in FEATURES], dtype=np.float32), b)
                     for p, (w, b) in DEFAULT_BLEND.items()}
        self.validation_days_used_ = validation
        state = self._fit_components(X, as_of, items)
        self.components_ = state["comps"]
        self.seen_, self.bought_, self.recent_ = state["seen"], state["bought"], state["recent"]
        self.coef_ = {p: c for p, (c, _) in blend.items()}
        self.intercept_ = {p: float(b) for p, (_, b) in blend.items()}
        return self

    @staticmethod
    def _features(state: dict, rows: np.ndarray) -> dict[str, np.ndarray]:
        comps = state["comps"]
        als = comps["als"].score(rows)
        low = als.min(axis=1, keepdims=True)
        span = als.max(axis=1, keepdims=True) - low
        feats = {"als": (als - low) / np.where(span > 0, span, 1.0)}
        for name in ("knn", "content"):
            s = comps[name].score(rows)
            feats[name] = s / _row_max(s)
        pop = comps["popularity"].item_scores_
        feats["popularity"] = np.broadcast_to(pop / max(float(pop.max()), 1e-9), (len(rows), len(pop)))
        feats["seen"] = state["seen"][rows].toarray()
        again = comps["buy_again"].matrix_[rows].toarray()
        feats["again"] = np.log1p(again)
        feats["again_share"] = again / _row_max(again)
        feats["bought"] = state["bought"][rows].toarray()
        feats["recent"] = state["recent"][rows].toarray()
        return feats

    def _learn(self, state: dict, inner: Interactions, later: Interactions, protocol: str
               ) -> tuple[np.ndarray, float]:
        seen = state["seen"]
        truth = later.seen()
        if protocol == "new":
            truth = truth - truth.multiply(seen)
            truth.eliminate_zeros()
        users = np.intersect1d(inner.active_users(), np.flatnonzero(np.diff(truth.indptr) > 0))
        if len(users) < 10:
            raise InsufficientDataError("too few users active before and during the validation days")
        rng = np.random.default_rng(self.random_state)
        if len(users) > self.max_users:
            users = np.sort(rng.choice(users, self.max_users, replace=False))
        xs, ys = [], []
        for start in range(0, len(users), 256):
            rows = users[start:start + 256]
            feats = self._features(state, rows)
            pool = ("als", "knn", "content", "popularity") + (("again",) if protocol == "repeat" else ())
            mask = np.zeros((len(rows), seen.shape[1]), dtype=bool)
            n = min(self.candidates, seen.shape[1])
            for name in pool:
                top = np.argpartition(-np.asarray(feats[name]), n - 1, axis=1)[:, :n]
                np.put_along_axis(mask, top, True, axis=1)
            if protocol == "new":
                mask &= feats["seen"] == 0
            xs.append(np.column_stack([np.asarray(feats[f])[mask] for f in FEATURES]))
            ys.append(truth[rows].toarray()[mask] > 0)
        x, y = np.vstack(xs), np.concatenate(ys)
        if y.sum() < 5 or y.all():
            raise InsufficientDataError("too few validation hits among the candidates to learn a blend")
        model = LogisticRegression(C=self.C, max_iter=2000)
        with threadpool_limits(1, "blas"):  # one summation order, so a refit gives the same blend
            model.fit(x, y)
        return model.coef_[0].astype(np.float32), float(model.intercept_[0])

    def blend_weights(self, protocol: str = "repeat") -> dict[str, float]:
        """The learned weight of each feature in one protocol's blend."""
        return {f: float(w) for f, w in zip(FEATURES, self.coef_[protocol], strict=True)}

    def features(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return self._features({"comps": self.components_, "seen": self.seen_, "bought": self.bought_,
                               "recent": self.recent_}, rows)

    def score(self, rows: np.ndarray, protocol: str = "repeat") -> np.ndarray:
        feats = self.features(rows)
        total = np.full((len(rows), self.seen_.shape[1]), self.intercept_[protocol], dtype=np.float32)
        for name, weight in zip(FEATURES, self.coef_[protocol], strict=True):
            if weight:
                total += weight * np.asarray(feats[name], dtype=np.float32)
        return total
