"""Recommenders: known answers on tiny matrices, exact metrics, evaluation protocols, persistence, serving."""

from __future__ import annotations

import io
import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from engine.errors import InsufficientDataError, PondError
from engine.ingest.demo import build_demo
from engine.predictions.recommend import (
    ALS,
    BuyAgain,
    ContentBased,
    Hybrid,
    Interactions,
    ItemKNN,
    Popularity,
    Recommender,
    UnknownIdError,
    evaluate_models,
    load_interactions,
    load_items,
    model_paths,
    train,
)
from engine.predictions.recommend.evaluate import ranking_metrics, temporal_split, top_k
from engine.predictions.recommend.serve import REASON_KINDS
from engine.store import warehouse

DAY0 = date(2026, 1, 1)


def frame(rows) -> pd.DataFrame:
    """rows: (user, item, day offset, views, favs, carts, purchases)."""
    out = pd.DataFrame(rows, columns=["user_id", "item_id", "day", "views", "favs", "carts", "purchases"])
    out["day"] = pd.to_datetime(DAY0) + pd.to_timedelta(out["day"], unit="D")
    return out


def checkerboard() -> Interactions:
    """Eight users, eight items: even users take even items, odd users odd items; u0 never took i6."""
    rows = [(f"u{u}", f"i{i}", 0, 1, 0, 0, 1) for u in range(8) for i in range(8)
            if u % 2 == i % 2 and not (u == 0 and i == 6)]
    return Interactions.from_frame(frame(rows))


def test_interactions_keep_one_index_across_windows():
    X = Interactions.from_frame(frame([("a", "x", 0, 2, 0, 0, 0), ("a", "x", 3, 0, 0, 1, 1),
                                       ("b", "y", 5, 1, 0, 0, 0)]))
    assert list(X.users) == ["a", "b"] and list(X.items) == ["x", "y"]
    early = X.window(end=X.first_day + 2)
    assert early.n_items == 2 and early.matrix().toarray().tolist() == [[2.0, 0.0], [0.0, 0.0]]
    # view 1, cart 3, purchase 5 -> 2 + 3 + 5
    assert X.matrix().toarray().tolist() == [[10.0, 0.0], [0.0, 1.0]]
    # halved every 2 days, as of day 6: the purchase day (age 3) counts 2^-1.5, the views (age 6) 2^-3
    decayed = X.matrix(half_life_days=2, as_of=X.first_day + 6).toarray()
    assert decayed[0, 0] == pytest.approx(2 * 2 ** -3 + 8 * 2 ** -1.5, rel=1e-6)
    assert X.last_day_matrix().toarray()[0, 0] - 1 == X.first_day + 3


@pytest.mark.parametrize("model", [ALS(factors=4, regularization=0.01, iterations=30, random_state=0),
                                   ItemKNN(neighbours=8, method="cosine"), ItemKNN(neighbours=8)])
def test_the_missing_checkerboard_item_is_recommended_first(model):
    X = checkerboard()
    model.fit(X)
    picked = top_k(model.score(np.array([0])), 1, exclude=X.seen()[[0]].toarray() > 0)
    assert X.items[picked[0, 0]] == "i6"


def test_popularity_counts_users_in_the_recent_window_only():
    X = Interactions.from_frame(frame([("a", "old", 0, 5, 0, 0, 0), ("b", "old", 1, 5, 0, 0, 0),
                                       ("a", "new", 40, 1, 0, 0, 0), ("b", "new", 41, 1, 0, 0, 0),
                                       ("c", "new", 41, 1, 0, 0, 0), ("c", "mid", 41, 1, 0, 0, 0)]))
    model = Popularity(window_days=30).fit(X)
    assert dict(zip(X.items, np.round(np.expm1(model.item_scores_)), strict=True)) == {"mid": 1, "new": 3, "old": 0}


def test_buy_again_ranks_by_frequency_and_recency_then_fills_with_popular_items():
    X = Interactions.from_frame(frame([("a", "often", 0, 0, 0, 0, 5), ("a", "lately", 59, 0, 0, 0, 1),
                                       ("b", "hit", 58, 1, 0, 0, 0), ("c", "hit", 59, 1, 0, 0, 0)]))
    model = BuyAgain(half_life_days=30).fit(X)
    ranked = X.items[top_k(model.score(np.array([0])), 3)[0]]
    # 5 purchases 60 days before "today" (25 * 2^-2 = 6.25) beat 1 purchase a day ago (5 * 2^(-1/30) = 4.9),
    # which beats the same purchase 60 days ago; then the item other users took
    assert list(ranked) == ["often", "lately", "hit"]


def test_content_scores_the_users_own_categories_first():
    X = Interactions.from_frame(frame([("a", "lip1", 0, 1, 0, 0, 1), ("b", "dog1", 0, 1, 0, 0, 0),
                                       ("b", "lip2", 0, 1, 0, 0, 0)]))
    items = pd.DataFrame({"item_id": X.items, "category": ["pet", "beauty", "beauty"],
                          "tags": [None, "matte,red", "red"]})
    scores = ContentBased().fit(X, items=items).score(np.array([0]))[0]
    assert scores[list(X.items).index("lip2")] > scores[list(X.items).index("dog1")]


def test_ranking_metrics_on_a_hand_worked_example():
    import scipy.sparse as sp

    truth = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0]]))
    recommended = np.array([[1, 2, 3], [4, 2, -1]])  # user 1's list is short: -1 pads it
    m = ranking_metrics(recommended, truth, 3)
    assert m["precision"].tolist() == pytest.approx([2 / 3, 0.0])
    assert m["recall"].tolist() == pytest.approx([1.0, 0.0])
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg"].tolist() == pytest.approx([(1 + 1 / math.log2(4)) / ideal, 0.0])
    assert m["hit_rate"].tolist() == [1.0, 0.0]


def test_top_k_never_returns_an_excluded_item_even_when_too_few_are_left():
    picked = top_k(np.array([[0.1, 0.9, 0.5]]), 3, exclude=np.array([[False, True, False]]))
    assert picked.tolist() == [[2, 0, -1]]


def test_a_holdout_longer_than_the_data_says_what_to_choose():
    X = checkerboard()
    with pytest.raises(InsufficientDataError, match="choose a shorter holdout"):
        temporal_split(X, 30)


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("recs") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=1500, days=90, seed=3, end=date(2026, 6, 1))
    return path


@pytest.fixture(scope="module")
def demo_data(demo_file):
    with warehouse.connect(demo_file) as con:
        X = load_interactions(con)
        return X, load_items(con, X.items)


@pytest.fixture(scope="module")
def evaluation(demo_data):
    X, items = demo_data
    return evaluate_models(X, items, holdout_days=21, k=10)


def test_evaluation_reports_every_model_in_the_documented_shape(evaluation):
    for protocol in ("new", "repeat"):
        result = evaluation[protocol]
        assert result["k"] == 10 and result["protocol"] == protocol and result["users_evaluated"] >= 100
        assert set(result["models"]) == {"popularity", "buy_again", "als", "item_knn", "content", "hybrid"}
        assert result["default"] == "hybrid"
        for figures in result["models"].values():
            assert set(figures) == {"precision", "recall", "ndcg", "hit_rate", "coverage", "fit_seconds"}
            assert all(0 <= figures[m] <= 1 for m in ("precision", "recall", "ndcg", "hit_rate", "coverage"))


def test_new_items_protocol_makes_buy_again_fall_back_to_popularity(evaluation):
    models = evaluation["new"]["models"]
    assert models["buy_again"]["ndcg"] == models["popularity"]["ndcg"]


@pytest.mark.parametrize("protocol", ["new", "repeat"])
def test_the_served_hybrid_beats_the_best_baseline(evaluation, protocol):
    models = evaluation[protocol]["models"]
    best_baseline = max(models["popularity"]["ndcg"], models["buy_again"]["ndcg"])
    assert models["hybrid"]["ndcg"] > best_baseline * 1.2


def test_the_hybrid_learns_its_blend_on_a_validation_period(demo_data):
    X, items = demo_data
    model = Hybrid(validation_days=21).fit(X, items=items)
    assert model.blend_source_ == "learned"
    assert all(np.isfinite(list(model.blend_weights("repeat").values())))
    assert model.blend_weights("repeat") != model.blend_weights("new")
    new = model.blend_weights("new")  # no seen item is ever a candidate for new items
    assert new["seen"] == new["again"] == new["again_share"] == new["recent"] == new["bought"] == 0


@pytest.fixture(scope="module")
def trained(demo_file, tmp_path_factory):
    path = tmp_path_factory.mktemp("trained") / "demo.duckdb"
    path.write_bytes(demo_file.read_bytes())
    result = train(path, holdout_days=21)
    return path, result


def test_training_saves_a_model_that_serves_exactly_like_the_fitted_one(trained, demo_data):
    path, result = trained
    description, arrays = model_paths(path)
    assert description.exists() and arrays(result.data_version).exists() and result.path == arrays(1)
    loaded = Recommender.load(path)
    X, items = demo_data
    fresh = Recommender.fit(X, items, validation_days=21)
    user = X.users[np.argmax(np.diff(X.seen().indptr))]
    pd.testing.assert_frame_equal(loaded.recommend(user, 10), fresh.recommend(user, 10))
    pd.testing.assert_frame_equal(loaded.similar_items(X.items[0]), fresh.similar_items(X.items[0]))
    assert loaded.data_version == 1 and json.loads(description.read_text())["evaluation"]["new"]["k"] == 10


def test_a_model_file_that_needs_pickle_is_refused(trained, tmp_path):
    path, result = trained
    copy = tmp_path / "copy.duckdb"
    description, _ = model_paths(path)
    payload = json.loads(description.read_text())
    np.savez(model_paths(copy)[1](payload["data_version"]), users=np.array([object()], dtype=object))
    model_paths(copy)[0].write_text(json.dumps(payload))
    with pytest.raises(PondError, match="cannot be read"):
        Recommender.load(copy)


def test_recommendations_carry_reasons_and_respect_filters(trained):
    path, _ = trained
    model = Recommender.load(path)
    user = model.users[np.argmax(np.diff(model.model.seen_.indptr))]
    picks = model.recommend(user, 10)
    assert list(picks.columns) == ["rank", "item_id", "category", "price", "score", "reason", "reason_kind"]
    assert picks["rank"].tolist() == list(range(1, 11)) and picks["score"].is_monotonic_decreasing
    assert set(picks["reason_kind"]) <= set(REASON_KINDS)
    repeats = picks[picks["reason_kind"] == "repeat"]
    assert repeats["reason"].str.match(r"you (bought|viewed|saved|added)").all()

    seen = set(model.items["item_id"].iloc[model.model.seen_[model.user_row(user)].indices])
    new_only = model.recommend(user, 10, include_seen=False)
    assert not set(new_only["item_id"]) & seen
    bought = set(model.items["item_id"].iloc[model.history["purchases"][model.user_row(user)].indices])
    assert not set(model.recommend(user, 10, exclude_bought=True)["item_id"]) & bought

    category = picks["category"].iloc[0]
    assert (model.recommend(user, 10, category=category)["category"] == category).all()
    cheap = model.recommend(user, 10, max_price=50)
    assert len(cheap) and (cheap["price"] <= 50).all()


def plain_items(X: Interactions, **columns) -> pd.DataFrame:
    n = X.n_items
    base = {"item_id": X.items, "category": ["c"] * n, "price": np.arange(1.0, n + 1), "name": [None] * n,
            "brand": [None] * n, "tags": [None] * n, "in_stock": pd.array([None] * n, "boolean")}
    return pd.DataFrame({**base, **columns})


def test_a_user_without_item_history_gets_popular_items():
    base = checkerboard()
    rows = frame([(u, i, d, 1, 0, 0, 0) for u, i, d in
                  [("u1", "i1", 0), ("u3", "i1", 1), ("u5", "i1", 2), ("u2", "i2", 3), ("u4", "i2", 3)]])
    X = Interactions.from_frame(pd.concat([frame([(f"u{u}", f"i{i}", 0, 1, 0, 0, 1) for u in range(8)
                                                  for i in range(8) if u % 2 == i % 2 and u]), rows]),
                                users=np.append(base.users, "cold"))
    model = Recommender.fit(X, plain_items(X), validation_days=7)
    picks = model.recommend("cold", 3)
    assert (picks["reason_kind"] == "popular").all()
    popular = model.model.components_["popularity"].item_scores_
    assert picks["item_id"].tolist() == list(X.items[top_k(popular[None, :], 3)[0]])
    assert picks["item_id"].iloc[0] == "i1"  # most users in the last 30 days


def test_a_user_who_has_seen_everything_gets_an_empty_new_items_list(tmp_path):
    X = Interactions.from_frame(frame([(u, i, d, 1, 0, 0, 1) for u in ("a", "b") for i in ("x", "y")
                                       for d in range(0, 60, 7)]))
    model = Recommender.fit(X, plain_items(X), validation_days=7)
    assert model.recommend("a", 5, include_seen=False).empty
    assert sorted(model.recommend("a", 5)["item_id"]) == ["x", "y"]


def test_unknown_ids_are_refused_with_a_clear_message(trained):
    path, _ = trained
    model = Recommender.load(path)
    with pytest.raises(UnknownIdError, match="no user 'nobody' in the data the recommender was trained on"):
        model.recommend("nobody")
    with pytest.raises(UnknownIdError, match="no item 'nothing'"):
        model.similar_items("nothing")


def test_similar_items_are_ranked_and_exclude_the_item_itself(trained):
    path, _ = trained
    model = Recommender.load(path)
    item = model.items["item_id"].iloc[0]
    similar = model.similar_items(item, 8)
    assert len(similar) == 8 and item not in similar["item_id"].tolist()
    assert similar["similarity"].iloc[0] == 1.0 and similar["similarity"].is_monotonic_decreasing


def test_a_push_list_has_n_rows_per_user(trained):
    path, _ = trained
    model = Recommender.load(path)
    users = list(model.users[:30])
    push = model.recommend_many(users, 3, chunk=7)
    assert push.groupby("user_id").size().eq(3).all() and push["user_id"].nunique() == 30


def test_training_without_item_events_says_what_to_import(warehouse_path, write):
    from engine.ingest import import_file

    with warehouse.connect(warehouse_path) as con:
        import_file(con, write("e.csv", "user_id,event_type,event_time\nu1,signup,2026-01-01 10:00:00\n"))
    with pytest.raises(InsufficientDataError, match="no event names an item"):
        train(warehouse_path)


def test_short_data_trains_without_evaluation_and_says_why(warehouse_path, write):
    from engine.ingest import import_file

    lines = ["user_id,item_id,event_type,event_time"] + [
        f"u{u},i{(u + k) % 5},view,2026-01-0{1 + k} 10:00:00" for u in range(6) for k in range(5)]
    with warehouse.connect(warehouse_path) as con:
        import_file(con, write("e.csv", "\n".join(lines) + "\n"))
    result = train(warehouse_path, holdout_days=30)
    assert "choose a shorter holdout" in result.evaluation["error"]
    model = Recommender.load(warehouse_path)
    assert model.model.blend_source_ in ("learned", "default") and len(model.recommend("u1", 3)) == 3


def test_cli_train_evaluate_and_query(trained, tmp_path, capsys):
    from engine.__main__ import main

    path = tmp_path / "cli.duckdb"
    path.write_bytes(trained[0].read_bytes())
    assert main(["--warehouse", str(path), "query", "recs", "--user", "u000001"]) == 1
    assert "run `python -m engine train recs`" in capsys.readouterr().err
    assert main(["--warehouse", str(path), "train", "recs", "--holdout-days", "21", "--format", "json"]) == 0
    trained_json = json.loads(capsys.readouterr().out)
    assert trained_json["data_version"] == 1 and set(trained_json["evaluation"]) == {"new", "repeat"}

    assert main(["--warehouse", str(path), "evaluate", "recs", "--holdout-days", "21", "--protocol", "repeat",
                 "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["protocol"] == "repeat" and result["k"] == 10 and result["default"] == "hybrid"
    assert result["models"]["hybrid"] == trained_json["evaluation"]["repeat"]["models"]["hybrid"] | {
        "fit_seconds": result["models"]["hybrid"]["fit_seconds"]}

    assert main(["--warehouse", str(path), "query", "recs", "--user", "u000001", "--n", "3", "--new-only"]) == 0
    picks = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert picks["rank"].tolist() == [1, 2, 3] and "reason" in picks
    assert main(["--warehouse", str(path), "query", "similar-items", "--item", "i00001", "--n", "4"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 5
    assert main(["--warehouse", str(path), "query", "recs", "--user", "ghost"]) == 1
    assert "no user 'ghost'" in capsys.readouterr().err


def _one_more_view(folder):
    path = folder / "more.csv"
    path.write_text("user_id,item_id,event_type,event_time\nu000001,i00001,view,2026-05-31 10:00:00\n")
    return path


def test_cli_push_list_for_a_saved_segment(trained, tmp_path, capsys):
    from engine.__main__ import main
    from engine.customers.segments import Condition, SegmentDefinition, save_segment, segment_count
    from engine.ingest import import_file

    path = tmp_path / "push.duckdb"
    path.write_bytes(trained[0].read_bytes())
    for suffix in (".recs.json", ".recs-v1.npz"):
        (tmp_path / f"push.duckdb{suffix}").write_bytes(trained[0].with_name(trained[0].name + suffix).read_bytes())
    buyers = SegmentDefinition(conditions=(Condition(kind="event", event="purchase", days=14),))
    with warehouse.connect(path) as con:
        save_segment(con, "recent buyers", buyers)
        size = segment_count(con, buyers)
    assert main(["--warehouse", str(path), "query", "recs", "--name", "recent buyers", "--n", "2"]) == 0
    printed = capsys.readouterr()
    push = pd.read_csv(io.StringIO(printed.out))
    assert push["user_id"].nunique() == size > 0 and len(push) == 2 * size
    # saving a segment bumps the data version but leaves the events alone: the model is still current
    assert printed.err == ""
    with warehouse.connect(path) as con:
        import_file(con, _one_more_view(tmp_path))
    assert main(["--warehouse", str(path), "query", "recs", "--user", "u000001", "--n", "1"]) == 0
    assert "the events have changed since" in capsys.readouterr().err


@pytest.mark.realdata
def test_taobao_evaluation_runs_end_to_end_with_sane_numbers(con, real_data, warehouse_path):
    from engine.ingest import import_file

    import_file(con, real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", timezone="Asia/Shanghai")
    X = load_interactions(con)
    items = load_items(con, X.items)
    assert X.n_users == 815 and items["category"].notna().all()
    # nine days of data: the last two are the test period
    result = evaluate_models(X, items, holdout_days=2, k=10)
    for protocol in ("new", "repeat"):
        models = result[protocol]["models"]
        assert result[protocol]["users_evaluated"] > 700
        for figures in models.values():
            assert 0 <= figures["ndcg"] <= 1 and 0 <= figures["coverage"] <= 1
        # sparse data: most test items never appear in training, yet the hybrid finds some
        assert models["hybrid"]["hit_rate"] > 0.1
    assert result["new"]["models"]["buy_again"] == result["new"]["models"]["popularity"] | {
        "fit_seconds": result["new"]["models"]["buy_again"]["fit_seconds"]}


def test_a_model_saved_by_another_version_is_retrained_not_half_read(trained, tmp_path):
    path, _ = trained
    copy = tmp_path / "old.duckdb"
    description, arrays = model_paths(path)
    payload = json.loads(description.read_text())
    payload["features"] = payload["features"][:7]  # as an earlier Pond wrote it
    model_paths(copy)[0].write_text(json.dumps(payload))
    model_paths(copy)[1](payload["data_version"]).write_bytes(arrays(payload["data_version"]).read_bytes())
    assert Recommender.load(copy) is None
