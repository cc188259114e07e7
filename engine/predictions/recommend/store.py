"""Fitted models on disk: plain arrays in ``.npz`` (never pickles) plus a JSON description.

A fitted estimator is written as its class name, its simple parameters and its learned
attributes (those ending in ``_``): NumPy arrays, SciPy sparse matrices, dicts of arrays, nested
fitted estimators and JSON values. Loading rebuilds the same objects, so a model read back
scores exactly like the one that was saved. ``np.load(allow_pickle=False)`` means a tampered file
can fail to load but cannot run code.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from engine.predictions.recommend.models import ALS, BuyAgain, ContentBased, Hybrid, ItemKNN, Popularity

CLASSES = {cls.__name__: cls for cls in (Popularity, BuyAgain, ALS, ItemKNN, ContentBased, Hybrid)}


def _simple(value):
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    return None


def dump_estimator(obj: BaseEstimator, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    """Describe ``obj`` as JSON and put its arrays into ``arrays`` under keys starting ``prefix``."""
    meta = {"class": type(obj).__name__,
            "params": {k: _simple(v) for k, v in obj.get_params(deep=False).items()
                       if not isinstance(v, BaseEstimator)},
            "attrs": {}}
    for name, value in vars(obj).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        key = f"{prefix}{name}"
        if isinstance(value, BaseEstimator):
            meta["attrs"][name] = {"estimator": dump_estimator(value, f"{key}.", arrays)}
        elif isinstance(value, dict) and value and all(isinstance(v, BaseEstimator) for v in value.values()):
            meta["attrs"][name] = {"estimators": {k: dump_estimator(v, f"{key}.{k}.", arrays)
                                                  for k, v in value.items()}}
        elif sp.issparse(value):
            csr = sp.csr_matrix(value)
            for part in ("data", "indices", "indptr"):
                arrays[f"{key}.{part}"] = getattr(csr, part)
            meta["attrs"][name] = {"sparse": list(csr.shape)}
        elif isinstance(value, np.ndarray):
            arrays[key] = value
            meta["attrs"][name] = {"array": True}
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            for k, v in value.items():
                arrays[f"{key}.{k}"] = v
            meta["attrs"][name] = {"arrays": list(value)}
        else:
            meta["attrs"][name] = {"value": value}
    return meta


def load_estimator(meta: dict, prefix: str, arrays) -> BaseEstimator:
    """Rebuild what :func:`dump_estimator` wrote."""
    cls = CLASSES.get(meta.get("class"))
    if cls is None:
        raise ValueError(f"unknown model class {meta.get('class')!r}")
    obj = cls()
    obj.set_params(**{k: v for k, v in meta.get("params", {}).items() if k in obj.get_params(deep=False)})
    for name, spec in meta["attrs"].items():
        key = f"{prefix}{name}"
        if "estimator" in spec:
            value = load_estimator(spec["estimator"], f"{key}.", arrays)
        elif "estimators" in spec:
            value = {k: load_estimator(v, f"{key}.{k}.", arrays) for k, v in spec["estimators"].items()}
        elif "sparse" in spec:
            value = sp.csr_matrix((arrays[f"{key}.data"], arrays[f"{key}.indices"], arrays[f"{key}.indptr"]),
                                  shape=tuple(spec["sparse"]))
        elif "array" in spec:
            value = arrays[key]
        elif "arrays" in spec:
            value = {k: arrays[f"{key}.{k}"] for k in spec["arrays"]}
        else:
            value = spec["value"]
        setattr(obj, name, value)
    return obj
