"""Recommendations: per-user picks, similar items and their offline evaluation.

- :mod:`engine.predictions.recommend.data`: interactions per (user, item, day) from the warehouse.
- :mod:`engine.predictions.recommend.models`: popularity, buy-again, ALS, item-item, content and the hybrid.
- :mod:`engine.predictions.recommend.evaluate`: temporal split, protocols ``new`` and ``repeat``, metrics at k.
- :mod:`engine.predictions.recommend.serve`: train once per warehouse version, save beside it, serve and explain.
"""

from engine.predictions.recommend.data import Interactions, load_interactions, load_items
from engine.predictions.recommend.evaluate import DEFAULT_MODEL, evaluate_models
from engine.predictions.recommend.models import ALS, BuyAgain, ContentBased, Hybrid, ItemKNN, Popularity
from engine.predictions.recommend.serve import Recommender, TrainResult, UnknownIdError, model_paths, train

__all__ = ["ALS", "DEFAULT_MODEL", "BuyAgain", "ContentBased", "Hybrid", "Interactions", "ItemKNN", "Popularity",
           "Recommender", "TrainResult", "UnknownIdError", "evaluate_models", "load_interactions", "load_items",
           "model_paths", "train"]
