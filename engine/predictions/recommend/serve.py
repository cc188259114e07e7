"""The trained recommender: fitted once per warehouse version, saved next to the warehouse, served.

``train(path)`` reads the warehouse (holding it only while reading), evaluates every model on a
temporal split, fits the served hybrid on all the data and writes ``<warehouse>.recs.json`` plus
``<warehouse>.recs-v<version>.npz`` beside the warehouse file. :class:`Recommender` loads them and
answers one user's top-N in a few milliseconds, with a reason per item.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.errors import InsufficientDataError, PondError
from engine.predictions.recommend.data import (
    EPOCH,
    KINDS,
    Interactions,
    interactions_fingerprint,
    load_interactions,
    load_items,
)
from engine.predictions.recommend.evaluate import DEFAULT_MODEL, evaluate_models, top_k
from engine.predictions.recommend.models import FEATURES, Hybrid
from engine.predictions.recommend.store import dump_estimator, load_estimator
from engine.store import warehouse

#: Bumped whenever saved models change shape; an older file is retrained, never half-read.
FORMAT = 2
#: The kinds of evidence a reason names (``reason_kind``).
REASON_KINDS = ("repeat", "neighbour", "similar_shoppers", "interest", "popular")
#: List filters when none is chosen: repeats allowed, every category, price and stock state.
DEFAULT_FILTERS = {"include_seen": True, "exclude_bought": False, "category": None, "min_price": None,
                   "max_price": None, "in_stock_only": False}
_VERBS = {"purchases": "bought", "carts": "put in your cart", "favs": "saved", "views": "viewed"}


class UnknownIdError(PondError):
    """A user or item id the model does not know."""


def model_paths(warehouse_path: str | Path) -> tuple[Path, Callable[[int], Path]]:
    """The description file, and the arrays file of a given data version, beside the warehouse."""
    path = Path(warehouse_path)
    return (path.with_name(path.name + ".recs.json"),
            lambda version: path.with_name(f"{path.name}.recs-v{version}.npz"))


@dataclass
class Recommender:
    """A served model with the index, item attributes and history it needs to explain itself."""

    model: Hybrid
    users: np.ndarray
    items: pd.DataFrame
    history: dict[str, sp.csr_matrix]
    as_of: int
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._user_index = pd.Index(self.users)
        self._item_index = pd.Index(self.items["item_id"].astype(str))
        self._similar_to = self.model.components_["knn"].similarity_.T.tocsr()
        self._similar_to.sort_indices()  # reasons look neighbours up by binary search
        # plain arrays: serving one user must not pay for pandas row access
        self._item_ids = self.items["item_id"].astype(str).to_numpy()
        self._category = self.items["category"].astype(object).to_numpy()
        self._names = self.items["name"].astype(object).to_numpy()
        self._price = self.items["price"].to_numpy(dtype=np.float64, na_value=np.nan)
        self._in_stock = self.items["in_stock"].fillna(True).to_numpy(dtype=bool)

    # --- persistence ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, X: Interactions, items: pd.DataFrame, *, validation_days: int = 30, random_state: int = 0,
            info: dict | None = None) -> Recommender:
        model = Hybrid(validation_days=validation_days, random_state=random_state).fit(X, items=items)
        history = {kind: X.kind_matrix(kind) for kind in KINDS}
        history["last_day"] = X.last_day_matrix()
        return cls(model, X.users, items.reset_index(drop=True), history, X.next_day, dict(info or {}))

    def save(self, warehouse_path: str | Path, version: int) -> Path:
        """Write the arrays, then point the description at them (a reader never sees half a model)."""
        description, arrays_path = model_paths(warehouse_path)
        arrays: dict[str, np.ndarray] = {"users": self.users.astype(str), "items.item_id":
                                         self.items["item_id"].astype(str).to_numpy()}
        for column in ("category", "name", "brand", "tags"):
            values = self.items[column]
            arrays[f"items.{column}"] = values.fillna("").astype(str).to_numpy()
            arrays[f"items.{column}.known"] = values.notna().to_numpy()
        arrays["items.price"] = self.items["price"].to_numpy(dtype=np.float64, na_value=np.nan)
        arrays["items.in_stock"] = self.items["in_stock"].map({True: 1, False: 0}).fillna(-1).to_numpy(np.int8)
        for name, matrix in self.history.items():
            for part in ("data", "indices", "indptr"):
                arrays[f"history.{name}.{part}"] = getattr(matrix, part)
        meta = dump_estimator(self.model, "model.", arrays)
        target = arrays_path(version)
        tmp = target.with_name(target.name + ".tmp.npz")
        # strings as fixed-width unicode: object arrays would need pickle to load
        arrays = {k: np.asarray(v, dtype=str) if v.dtype == object else v for k, v in arrays.items()}
        np.savez(tmp, **arrays)
        os.replace(tmp, target)
        payload = {"format": FORMAT, "features": list(FEATURES), "data_version": version, "as_of": int(self.as_of),
                   "arrays": target.name, "model": meta, "history": list(self.history),
                   "shape": [len(self.users), len(self.items)], **self.info}
        tmp_json = description.with_name(description.name + ".tmp")
        tmp_json.write_text(json.dumps(payload, ensure_ascii=False, default=_json_default))
        os.replace(tmp_json, description)
        for old in description.parent.glob(f"{Path(warehouse_path).name}.recs-v*.npz"):
            if old != target:
                old.unlink(missing_ok=True)
        return target

    @classmethod
    def load(cls, warehouse_path: str | Path) -> Recommender | None:
        """The saved model beside the warehouse, or ``None`` when none was trained yet."""
        description, _ = model_paths(warehouse_path)
        if not description.exists():
            return None
        try:
            payload = json.loads(description.read_text())
            if payload.get("format") != FORMAT or payload.get("features") != list(FEATURES):
                return None  # written by another version of Pond: train again
            # found by this warehouse's name, so a copied warehouse with its model files still loads
            with np.load(model_paths(warehouse_path)[1](payload["data_version"]), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, KeyError) as exc:
            raise PondError(f"the saved recommender beside the warehouse cannot be read ({exc}); "
                            "train it again with `python -m engine train recs`") from exc
        items = pd.DataFrame({"item_id": arrays["items.item_id"]})
        for column in ("category", "name", "brand", "tags"):
            items[column] = pd.Series(arrays[f"items.{column}"], dtype=object).where(
                arrays[f"items.{column}.known"], None)
        items["price"] = arrays["items.price"]
        items["in_stock"] = pd.Series(arrays["items.in_stock"]).map({1: True, 0: False}).astype("boolean")
        n_users, n_items = payload["shape"]
        history = {name: sp.csr_matrix((arrays[f"history.{name}.data"], arrays[f"history.{name}.indices"],
                                        arrays[f"history.{name}.indptr"]), shape=(n_users, n_items))
                   for name in payload["history"]}
        model = load_estimator(payload["model"], "model.", arrays)
        info = {k: v for k, v in payload.items()
                if k not in ("model", "history", "arrays", "shape", "format", "features")}
        return cls(model, arrays["users"], items, history, payload["as_of"], info)

    # --- serving -------------------------------------------------------------------------------
    @property
    def data_version(self) -> int | None:
        return self.info.get("data_version")

    def is_current(self, fingerprint: str) -> bool:
        """Whether the model was trained on the events the warehouse holds now."""
        return self.info.get("fingerprint") == fingerprint

    def knows(self, user_id: str) -> bool:
        """Whether the user was in the data the model was trained on."""
        return str(user_id) in self._user_index

    def user_row(self, user_id: str) -> int:
        k = self._user_index.get_indexer([str(user_id)])[0]
        if k < 0:
            raise UnknownIdError(
                f"no user {user_id!r} in the data the recommender was trained on; check the id "
                "(User 360 finds users by prefix), or retrain if the user was imported since")
        return int(k)

    def item_column(self, item_id: str) -> int:
        k = self._item_index.get_indexer([str(item_id)])[0]
        if k < 0:
            raise UnknownIdError(f"no item {item_id!r} among the items users interacted with")
        return int(k)

    def _mask(self, rows: np.ndarray, *, include_seen: bool, exclude_bought: bool, category: str | None,
              min_price: float | None, max_price: float | None, in_stock_only: bool) -> np.ndarray:
        """True where an item must not be recommended."""
        item_mask = np.zeros(len(self._item_ids), dtype=bool)
        if category:
            item_mask |= self._category != category
        if min_price is not None:
            item_mask |= ~(self._price >= min_price)
        if max_price is not None:
            item_mask |= ~(self._price <= max_price)
        if in_stock_only:
            item_mask |= ~self._in_stock
        mask = np.broadcast_to(item_mask, (len(rows), len(item_mask))).copy()
        if not include_seen:
            mask |= self.model.seen_[rows].toarray() > 0
        if exclude_bought:
            mask |= self.history["purchases"][rows].toarray() > 0
        return mask

    def _top(self, rows: np.ndarray, n: int, filters: dict) -> tuple[np.ndarray, np.ndarray, dict]:
        protocol = "repeat" if filters.get("include_seen", True) else "new"
        feats = self.model.features(rows)
        coef = self.model.coef_[protocol]
        logit = np.full((len(rows), len(self._item_ids)), self.model.intercept_[protocol], dtype=np.float32)
        for name, weight in zip(FEATURES, coef, strict=True):
            if weight:
                logit += weight * np.asarray(feats[name], dtype=np.float32)
        picked = top_k(logit, n, self._mask(rows, **filters))
        at = np.maximum(picked, 0)
        scores = np.take_along_axis(logit, at, axis=1)
        contributions = {name: np.take_along_axis(np.asarray(feats[name], dtype=np.float32), at, axis=1) * weight
                         for name, weight in zip(FEATURES, coef, strict=True)}
        return picked, 1.0 / (1.0 + np.exp(-scores)), contributions

    def recommend(self, user_id: str, n: int = 10, *, include_seen: bool = True, exclude_bought: bool = False,
                  category: str | None = None, min_price: float | None = None, max_price: float | None = None,
                  in_stock_only: bool = False) -> pd.DataFrame:
        """One user's top ``n``: rank, item_id, category, price, score (0-1), reason, reason_kind.

        ``include_seen`` allows repeats of items the user already took (the repeat blend); without it
        only new items are considered (the new-item blend). ``score`` is the blend's estimate of the
        chance the user takes the item within the validation horizon.
        """
        return self.recommend_many([user_id], n, include_seen=include_seen, exclude_bought=exclude_bought,
                                   category=category, min_price=min_price, max_price=max_price,
                                   in_stock_only=in_stock_only).drop(columns="user_id")

    def recommend_many(self, user_ids: Sequence[str], n: int = 10, *, chunk: int = 256,
                       progress: Callable[[float, str], None] | None = None, **filters) -> pd.DataFrame:
        """Top ``n`` for each user (a push list): user_id, rank, item_id, category, price, score, reason."""
        if not 1 <= n <= 200:
            raise PondError("ask for between 1 and 200 recommendations per user")
        filters = {**DEFAULT_FILTERS, **filters}
        rows = np.array([self.user_row(u) for u in user_ids], dtype=np.int64)
        out: dict[str, list] = {"user": [], "rank": [], "col": [], "score": [], "reason": [], "reason_kind": []}
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            picked, scores, contributions = self._top(part, n, filters)
            for j, row in enumerate(part):
                cols = picked[j][picked[j] >= 0]
                if not len(cols):
                    continue
                user = self._user_context(row)
                for k, col in enumerate(cols):
                    reason, kind = self._reason(user, int(col), {f: contributions[f][j, k] for f in FEATURES})
                    out["reason"].append(reason)
                    out["reason_kind"].append(kind)
                out["user"].extend([row] * len(cols))
                out["rank"].extend(range(1, len(cols) + 1))
                out["col"].extend(cols.tolist())
                out["score"].extend(scores[j][: len(cols)].tolist())
            if progress:
                progress(min(1.0, (start + len(part)) / max(len(rows), 1)), f"{start + len(part):,} users")
        cols = np.asarray(out["col"], dtype=np.int64)
        return pd.DataFrame({
            "user_id": self.users[np.asarray(out["user"], dtype=np.int64)], "rank": np.asarray(out["rank"], dtype=int),
            "item_id": self._item_ids[cols], "category": self._category[cols], "price": self._price[cols],
            "score": np.round(np.asarray(out["score"], dtype=np.float64), 4), "reason": out["reason"],
            "reason_kind": out["reason_kind"]})

    def _label(self, col: int) -> str:
        name = self._names[col] if self._names[col] is not None else f"item {self._item_ids[col]}"
        return f"{name} ({self._category[col]})" if self._category[col] is not None else name

    def _user_context(self, row: int) -> dict:
        """What the reasons need of one user: their history as dense rows and their categories."""
        confidence = self.model.components_["knn"].matrix_[row]
        dense = {kind: self.history[kind][row].toarray().ravel() for kind in (*KINDS, "last_day")}
        return {"row": row, "history": dense, "taken": confidence.indices, "confidence": confidence.data,
                "categories": set(self._category[confidence.indices]) - {None}}

    def _reason(self, user: dict, col: int, contribution: dict[str, float]) -> tuple[str, str]:
        """Why this item: the evidence behind the blend's largest contribution."""
        history = user["history"]
        for kind in ("purchases", "carts", "favs", "views"):
            times = int(history[kind][col])
            if times:
                days_ago = int(self.as_of - (history["last_day"][col] - 1))
                return _repeat_reason(kind, times, days_ago), "repeat"
        # popularity lifts almost every pick; the reason names the personal evidence when there is any
        personal = {k: contribution[k] for k in ("knn", "als", "content")}
        driver = max(personal, key=personal.get)
        if personal[driver] < 0.05:
            driver = "popularity"
        if driver in ("knn", "als"):
            source = self._neighbour(user, col, driver)
            if source is not None:
                kind, h = source
                if driver == "knn":
                    return f"because you {_VERBS[kind]} {self._label(h)}", "neighbour"
                return f"shoppers who {_VERBS[kind]} {self._label(h)} also took it", "similar_shoppers"
        category = self._category[col]
        if driver != "popularity" and category is not None and category in user["categories"]:
            return f"matches your interest in {category}", "interest"
        return "popular in the last 30 days", "popular"

    def _neighbour(self, user: dict, col: int, driver: str) -> tuple[str, int] | None:
        """The item in the user's history that contributed most to ``col``, and what the user did."""
        taken = user["taken"]
        if not len(taken):
            return None
        if driver == "knn":
            similar = self._similar_to[col]
            sim = np.zeros(len(taken), dtype=np.float32)
            where = np.searchsorted(similar.indices, taken)
            found = (where < len(similar.indices)) & (similar.indices[np.minimum(where, len(similar.indices) - 1)]
                                                      == taken)
            sim[found] = similar.data[where[found]]
        else:
            factors = self.model.components_["als"].item_factors_
            target = factors[col] / max(float(np.linalg.norm(factors[col])), 1e-9)
            mine = factors[taken]
            sim = mine @ target / np.maximum(np.linalg.norm(mine, axis=1), 1e-9)
        weighted = sim * user["confidence"]
        if not (weighted > 0).any():
            return None
        h = int(taken[int(np.argmax(weighted))])
        for kind in ("purchases", "carts", "favs", "views"):
            if user["history"][kind][h] > 0:
                return kind, h
        return "views", h

    def similar_items(self, item_id: str, n: int = 10) -> pd.DataFrame:
        """Items most similar to one item (item-item neighbours, then ALS factors to fill up)."""
        col = self.item_column(item_id)
        row = self._similar_to[col]
        sims = pd.Series(row.data, index=row.indices, dtype=float).drop(col, errors="ignore")
        top = sims.sort_values(ascending=False, kind="stable").head(n)
        frame = self.items.iloc[top.index][["item_id", "category", "price"]].reset_index(drop=True)
        # BM25 similarities have no natural unit: show them relative to the closest item
        frame["similarity"] = np.round(top.to_numpy() / max(float(top.max()), 1e-9), 4) if len(top) else []
        frame["source"] = "bought or viewed together"
        if len(frame) < n:
            factors = self.model.components_["als"].item_factors_
            norms = np.maximum(np.linalg.norm(factors, axis=1), 1e-9)
            cos = factors @ factors[col] / norms / norms[col]
            cos[[col, *top.index]] = -np.inf
            extra = np.argsort(-cos, kind="stable")[: n - len(frame)]
            extra = extra[np.isfinite(cos[extra])]
            more = self.items.iloc[extra][["item_id", "category", "price"]].reset_index(drop=True)
            more["similarity"] = np.round(cos[extra], 4)
            more["source"] = "liked by similar shoppers"
            frame = pd.concat([frame, more], ignore_index=True) if len(frame) else more
        frame.insert(0, "rank", np.arange(1, len(frame) + 1))
        return frame

    def history_of(self, user_id: str, limit: int = 20) -> pd.DataFrame:
        """The items the model knows the user took: item_id, category, views ... purchases, days_ago."""
        row = self.user_row(user_id)
        cols = self.model.seen_[row].indices
        frame = self.items.iloc[cols][["item_id", "category", "price"]].reset_index(drop=True)
        for kind in KINDS:
            frame[kind] = self.history[kind][row, cols].toarray().ravel().astype(int)
        frame["days_ago"] = (self.as_of - (self.history["last_day"][row, cols].toarray().ravel() - 1)).astype(int)
        return frame.sort_values(["days_ago", "purchases"], ascending=[True, False], ignore_index=True).head(limit)

    def trained_on(self) -> str:
        return str(EPOCH + np.timedelta64(int(self.as_of) - 1, "D"))


def _repeat_reason(kind: str, times: int, days_ago: int) -> str:
    when = "today" if days_ago <= 0 else "yesterday" if days_ago == 1 else f"{days_ago} days ago"
    if kind == "carts":
        return f"you added it to your cart {when}"
    if kind == "favs":
        return f"you saved it {when}"
    if times > 1:
        return f"you {_VERBS[kind]} it {times}×, the last time {when}"
    return f"you {_VERBS[kind]} it {when}"


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


@dataclass(frozen=True)
class TrainResult:
    data_version: int
    users: int
    items: int
    interactions: int
    seconds: float
    evaluation: dict
    path: Path


def auto_holdout(X: Interactions, longest: int = 30) -> int:
    """30 days, or a quarter of a shorter history (robust to a few stray old timestamps)."""
    span = X.next_day - int(np.percentile(X.day, 1)) if len(X) else 0
    return int(min(longest, max(1, span // 4)))


def train(warehouse_path: str | Path, *, holdout_days: int | None = None, k: int = 10, max_users: int = 5000,
          evaluate: bool = True, random_state: int = 0,
          progress: Callable[[float, str], None] | None = None) -> TrainResult:
    """Evaluate the models, fit the served one on all the data and save it beside the warehouse.

    The warehouse is open only while the interactions are read, so imports are never held up by
    training. ``holdout_days`` (the evaluation's test period and the blend's validation period)
    defaults to :func:`auto_holdout`. The evaluation is skipped, and says why, when the data is too
    short for it.
    """
    progress = progress or (lambda fraction, message: None)
    started = time.perf_counter()
    progress(0.0, "reading interactions")
    with warehouse.connect(warehouse_path, create=False) as con:
        version = warehouse.data_version(con)
        fingerprint = interactions_fingerprint(con)
        X = load_interactions(con)
        items = load_items(con, X.items)
    holdout_days = holdout_days or auto_holdout(X)
    evaluation: dict = {}
    if evaluate:
        try:
            evaluation = evaluate_models(
                X, items, holdout_days=holdout_days, k=k, max_users=max_users, random_state=random_state,
                progress=lambda f, m: progress(0.05 + 0.65 * f, m))
        except InsufficientDataError as exc:
            evaluation = {"error": str(exc)}
    progress(0.7, f"fitting the {DEFAULT_MODEL} model on all {len(X):,} interactions")
    fit_started = time.perf_counter()
    info = {"trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "evaluation": evaluation,
            "fingerprint": fingerprint,
            "interactions": len(X), "holdout_days": holdout_days}
    recommender = Recommender.fit(X, items, validation_days=holdout_days, random_state=random_state, info=info)
    recommender.info["fit_seconds"] = round(time.perf_counter() - fit_started, 3)
    recommender.info["blend_source"] = recommender.model.blend_source_
    progress(0.95, "saving the model beside the warehouse")
    path = recommender.save(warehouse_path, version)
    progress(1.0, "done")
    return TrainResult(version, X.n_users, X.n_items, len(X), round(time.perf_counter() - started, 2),
                       evaluation, path)
