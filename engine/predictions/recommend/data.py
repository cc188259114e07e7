"""Interactions: who did what with which item on which day, indexed for sparse algebra.

Every model reads the same :class:`Interactions`. Splits for validation and evaluation keep the
user and item index of the whole set, so the matrices of two periods line up column for column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import numpy as np
import pandas as pd
import scipy.sparse as sp

from engine.errors import InsufficientDataError
from engine.store.warehouse import run_query

#: The kinds of interaction, in the column order of :attr:`Interactions.counts`.
KINDS = ("views", "favs", "carts", "purchases")
#: Default intent weights: a view < a favourite < a cart < a purchase.
WEIGHTS = {"views": 1.0, "favs": 2.0, "carts": 3.0, "purchases": 5.0}
EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Interactions:
    """Per (user, item, day) counts of views, favourites, carts and purchases.

    Attributes
    ----------
    users, items
        Ids in index order (``users[k]`` is row ``k`` of every user-item matrix).
    user, item, day
        One entry per (user, item, day): row and column indices and the day as days since 1970.
    counts
        ``(n, 4)`` float32 counts in the order of :data:`KINDS`.
    """

    users: np.ndarray
    items: np.ndarray
    user: np.ndarray
    item: np.ndarray
    day: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, users: np.ndarray | None = None,
                   items: np.ndarray | None = None) -> Interactions:
        """Build from columns user_id, item_id, day (date) and the counts of :data:`KINDS`."""
        if users is None:
            users = np.sort(frame["user_id"].astype(str).unique())
        if items is None:
            items = np.sort(frame["item_id"].astype(str).unique())
        users, items = np.asarray(users, dtype=str), np.asarray(items, dtype=str)
        user = pd.Index(users).get_indexer(frame["user_id"].astype(str))
        item = pd.Index(items).get_indexer(frame["item_id"].astype(str))
        keep = (user >= 0) & (item >= 0)
        day = (pd.to_datetime(frame["day"]).to_numpy().astype("datetime64[D]") - EPOCH).astype(np.int32)
        counts = frame[list(KINDS)].to_numpy(dtype=np.float32)
        return cls(users, items, user[keep].astype(np.int32), item[keep].astype(np.int32), day[keep],
                   counts[keep])

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.user)

    @property
    def first_day(self) -> int:
        return int(self.day.min())

    @property
    def last_day(self) -> int:
        return int(self.day.max())

    def window(self, start: int | None = None, end: int | None = None) -> Interactions:
        """The interactions on days ``start <= day < end``, with the same user and item index."""
        keep = np.ones(len(self), dtype=bool)
        if start is not None:
            keep &= self.day >= start
        if end is not None:
            keep &= self.day < end
        return replace(self, user=self.user[keep], item=self.item[keep], day=self.day[keep],
                       counts=self.counts[keep])

    def matrix(self, weights: dict[str, float] | None = None, *, half_life_days: float | None = None,
               as_of: int | None = None) -> sp.csr_matrix:
        """Users x items confidence: intent-weighted counts, optionally halved every ``half_life_days``."""
        weights = WEIGHTS if weights is None else weights
        value = self.counts @ np.array([weights.get(k, 0.0) for k in KINDS], dtype=np.float32)
        if half_life_days:
            age = (self.next_day if as_of is None else as_of) - self.day
            value = value * np.power(0.5, np.maximum(age, 0) / half_life_days, dtype=np.float32)
        return self._csr(value)

    def kind_matrix(self, kind: str) -> sp.csr_matrix:
        """Users x items count of one kind of interaction (``views``, ``purchases`` ...)."""
        return self._csr(self.counts[:, KINDS.index(kind)])

    def last_day_matrix(self) -> sp.csr_matrix:
        """Users x items: 1 + the last day (since 1970) of any interaction, 0 where none."""
        frame = pd.DataFrame({"u": self.user, "i": self.item, "d": self.day.astype(np.float64) + 1})
        last = frame.groupby(["u", "i"], sort=False)["d"].max().reset_index()
        return sp.csr_matrix((last["d"].to_numpy(), (last["u"].to_numpy(), last["i"].to_numpy())),
                             shape=(self.n_users, self.n_items))

    def seen(self) -> sp.csr_matrix:
        """Users x items, 1 where the user interacted with the item at all."""
        m = self._csr(np.ones(len(self), dtype=np.float32))
        m.data[:] = 1.0
        return m

    def active_users(self) -> np.ndarray:
        return np.unique(self.user)

    @property
    def next_day(self) -> int:
        """The day after the last one: "today" for scores computed at the end of the data."""
        return self.last_day + 1

    def _csr(self, value: np.ndarray) -> sp.csr_matrix:
        m = sp.csr_matrix((value.astype(np.float32), (self.user, self.item)),
                          shape=(self.n_users, self.n_items), dtype=np.float32)
        m.sum_duplicates()
        m.eliminate_zeros()
        return m


def load_interactions(con: duckdb.DuckDBPyConnection) -> Interactions:
    """Every item interaction in the warehouse, with the index of all known users and items.

    Raises
    ------
    InsufficientDataError
        When no event names an item, so there is nothing to recommend from.
    """
    frame = run_query(con, "rec_interactions")
    if frame.empty:
        raise InsufficientDataError(
            "no event names an item, so there is nothing to recommend from; import views, carts or "
            "purchases with an item id column (e.g. item_id, 商品ID, StockCode)")
    known = run_query(con, "rec_known_users")["user_id"].astype(str).to_numpy()
    users = np.union1d(known, frame["user_id"].astype(str).unique())
    return Interactions.from_frame(frame, users=users)


def load_items(con: duckdb.DuckDBPyConnection, items: np.ndarray) -> pd.DataFrame:
    """Category, price, name, brand, tags and stock flag per item, in the order of ``items``."""
    meta = run_query(con, "rec_items")
    meta["item_id"] = meta["item_id"].astype(str)
    frame = pd.DataFrame({"item_id": np.asarray(items, dtype=str)}).merge(meta, on="item_id", how="left")
    for column in ("category", "name", "brand", "tags"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["price"] = pd.to_numeric(frame["price"], errors="coerce")
    frame["in_stock"] = frame["in_stock"].astype("boolean")
    return frame


def interactions_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """Changes when events change (import, undo, demo), not when only segments or settings do."""
    row = run_query(con, "rec_fingerprint").iloc[0]
    return f"{int(row['events'])}-{int(row['uploads'])}-{int(row['undone'])}"

