"""Recommendations: per-user picks, similar items and their offline evaluation.

- :mod:`engine.recommend.data`: interactions per (user, item, day) from the warehouse.
- :mod:`engine.recommend.models`: popularity, buy-again, ALS, item-item, content and the hybrid.
- :mod:`engine.recommend.evaluate`: temporal split, protocols ``new`` and ``repeat``, metrics at k.
- :mod:`engine.recommend.serve`: train once per warehouse version, save beside it, serve and explain.
"""

from engine.recommend.data import Interactions, load_interactions, load_items
from engine.recommend.evaluate import DEFAULT_MODEL, evaluate_models
from engine.recommend.models import ALS, BuyAgain, ContentBased, Hybrid, ItemKNN, Popularity
from engine.recommend.serve import Recommender, TrainResult, UnknownIdError, model_paths, train

__all__ = ["ALS", "DEFAULT_MODEL", "BuyAgain", "ContentBased", "Hybrid", "Interactions", "ItemKNN", "Popularity",
           "Recommender", "TrainResult", "UnknownIdError", "evaluate_models", "load_interactions", "load_items",
           "model_paths", "train"]
