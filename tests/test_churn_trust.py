"""How far the churn models can be trusted: training cuts that can learn, unfitted recency baselines,
refusals that name the longest horizon, and lists that never rank worse than recency."""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date, timedelta

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from engine.errors import InsufficientDataError, PondError
from engine.ingest import import_file
from engine.predictions import churn
from engine.store import warehouse

START = date(2025, 1, 1)


def purchase_history(path, *, customers: int, days: int, seed: int) -> None:
    """Everyone buys at one rate (every 20 days on average) until one exponential lifetime (mean 150
    days) ends; customers arrive over the first 12 weeks. Whether a customer is still alive, all
    there is to know about their next purchase, depends on nothing but the days since their last one."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 84, customers)
    life = rng.exponential(150, customers)
    lines, order = ["user_id,event_type,event_time,amount,order_id"], 0
    for c in range(customers):
        t, end = float(first[c]), min(first[c] + life[c], days - 1)
        while t <= end:
            order += 1
            lines.append(f"c{c:05d},purchase,{START + timedelta(days=int(t))} 12:00:00,20,o{order}")
            t += rng.exponential(20)
    lines.append(f"clock,view,{START + timedelta(days=days - 1)} 12:00:00,,")  # the data runs to the last day
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """360 days of 1,500 customers whose recency is the whole signal."""
    folder = tmp_path_factory.mktemp("trust")
    purchase_history(folder / "year.csv", customers=1500, days=360, seed=1)
    path = folder / "year.duckdb"
    with warehouse.connect(path) as con:
        import_file(con, folder / "year.csv")
    return path


@contextmanager
def small_history(warehouse_path, tmp_path, *, customers: int, days: int, seed: int):
    purchase_history(tmp_path / "small.csv", customers=customers, days=days, seed=seed)
    with warehouse.connect(warehouse_path) as con:
        import_file(con, tmp_path / "small.csv")
        yield con


def test_at_the_longest_horizon_no_fitted_model_ranks_worse_than_recency(year):
    # 120 days is a third of the history: the longest horizon whose training cut still has 120 days before it
    with warehouse.connect(year) as con:
        assert (churn.history_start(con), churn.last_day(con)) == (START, date(2025, 12, 26))
        result = churn.evaluate_churn(con, horizon_days=120)
        test = churn.features(con, date(2025, 8, 29), 120)
    assert (result["cutoff"], result["training_cuts"], result["label_window"]) == (
        "2025-08-29", ["2025-05-01"], ["2025-08-29", "2025-12-26"])
    models = result["models"]
    # recency is not fitted: its AUC is that of the days since the last purchase, as they stand
    buyers = test[test["last_purchase"].notna()]
    assert models["recency"]["auc"] == round(roc_auc_score(~buyers["bought_after"], buyers["purchase_recency"]), 4)
    assert models["recency"]["auc"] == 0.9512
    # nothing else to learn here: the fitted models match recency within noise, never rank backwards,
    # and the evaluation says plainly where they fall short of it
    for name in ("logistic", "cox"):
        assert models[name]["auc"] >= models["recency"]["auc"] - 0.005
        assert result["beats_recency"][name] == (models[name]["auc"] > models["recency"]["auc"])
    assert (models["logistic"]["auc"], models["cox"]["auc"]) == (0.9501, 0.9515)
    assert result["warnings"] == [
        "logistic does not beat ranking by days since the last purchase (AUC 0.950 against 0.951): rank by "
        "recency instead"]


def test_the_lists_at_the_longest_horizon_rank_by_recency_when_their_model_does_not_beat_it(year):
    with warehouse.connect(year) as con:
        risk = churn.churn_risk(con, horizon_days=120)
        propensity = churn.purchase_propensity(con, horizon_days=120)
    for result in (risk, propensity):
        backtest = result.backtest
        assert (backtest.test_cut, backtest.training_cuts, backtest.serving_cuts) == (
            date(2025, 8, 29), [date(2025, 5, 1)], [date(2025, 8, 29)])
        assert backtest.label_window == (date(2025, 8, 29), date(2025, 12, 26))
        assert backtest.served == (backtest.model if backtest.auc > backtest.baseline_auc else "recency")
    assert (risk.backtest.auc, risk.backtest.baseline_auc, risk.backtest.served) == (0.5878, 0.5821, "cox")
    assert (propensity.backtest.auc, propensity.backtest.baseline_auc, propensity.backtest.served) == (
        0.8101, 0.8125, "recency")
    # the propensity model lost by a hair, so the list ranks by days since the last purchase (never
    # bought: last), calibrated: the longer since, the less likely, never the reverse
    with warehouse.connect(year) as con:
        now = churn.features(con, date(2025, 12, 27), 120)
    days = now.set_index("user_id")["purchase_recency"].fillna(np.inf)
    ranked = propensity.scores.assign(days=propensity.scores["user_id"].map(days)).sort_values("days")
    assert ranked["propensity"].is_monotonic_decreasing
    assert ranked["propensity"].iloc[0] > ranked["propensity"].iloc[-1]


def test_the_issues_split_is_refused_naming_the_longest_horizon(year):
    # a 120-day horizon from a cutoff 122 days into the data trains two days after the first purchase:
    # the split that ranked backwards; now refused, with what the data does support at that cutoff
    with warehouse.connect(year) as con:
        with pytest.raises(InsufficientDataError, match=(
                r"a 120-day horizon is learnt at 2025-01-03, which leaves 2 days of history \(from 2025-01-01\), "
                r"fewer than the horizon; the longest horizon the data supports at cutoff 2025-05-03 is 61 days")):
            churn.evaluate_churn(con, date(2025, 5, 3), horizon_days=120)
        supported = churn.evaluate_churn(con, date(2025, 5, 3), horizon_days=61)
        # the lists need three horizons (backtest training, backtest outcome, the list's own window)
        with pytest.raises(InsufficientDataError, match="the longest horizon the data supports for the at-risk "
                                                        "list is 120 days: shorten the horizon"):
            churn.churn_risk(con, horizon_days=121)
        with pytest.raises(InsufficientDataError, match="the longest horizon the data supports for purchase "
                                                        "propensity is 120 days"):
            churn.purchase_propensity(con, horizon_days=121)
    # customers still arriving at that training cut make it a poor guide: both fitted models lose to
    # recency there, and the evaluation says so rather than returning them silently
    assert supported["training_cuts"] == ["2025-03-03"]
    assert supported["beats_recency"] == {"logistic": False, "cox": False}
    assert [w.split(" (")[0] for w in supported["warnings"]] == [
        "logistic does not beat ranking by days since the last purchase",
        "cox does not beat ranking by days since the last purchase"]


def test_a_history_shorter_than_the_horizon_is_refused_naming_the_longest(warehouse_path, tmp_path):
    with small_history(warehouse_path, tmp_path, customers=200, days=20, seed=3) as con:
        for call, what in ((churn.churn_risk, "for the at-risk list"),
                           (churn.purchase_propensity, "for purchase propensity"),
                           (churn.evaluate_churn, "with the latest cutoff")):
            with pytest.raises(InsufficientDataError, match=f"the longest horizon the data supports {what} is 6 "
                                                            "days: shorten the horizon"):
                call(con, horizon_days=30)
        with pytest.raises(InsufficientDataError, match="no horizon fits at cutoff 2025-01-02: choose a later "
                                                        "cutoff or import more history"):
            churn.evaluate_churn(con, date(2025, 1, 2), horizon_days=10)
        with pytest.raises(PondError, match="go past the data"):
            churn.evaluate_churn(con, date(2025, 1, 15), horizon_days=10)


def test_stray_early_stamps_do_not_lengthen_the_history(warehouse_path, tmp_path):
    purchase_history(tmp_path / "h.csv", customers=200, days=60, seed=4)
    with open(tmp_path / "h.csv", "a") as out:  # one test order half a year before the data
        out.write("stray,purchase,2024-07-01 12:00:00,1,o-stray\n")
    with warehouse.connect(warehouse_path) as con:
        import_file(con, tmp_path / "h.csv")
        assert con.execute("select min(day) from user_day").fetchone() == (date(2024, 7, 1),)
        assert churn.history_start(con) == START
        with pytest.raises(InsufficientDataError, match="supports for the at-risk list is 20 days"):
            churn.churn_risk(con, horizon_days=21)


def test_a_cut_with_too_few_churned_buyers_pools_earlier_cuts(warehouse_path, tmp_path):
    with small_history(warehouse_path, tmp_path, customers=30, days=180, seed=2) as con:
        result = churn.evaluate_churn(con, horizon_days=14)
    # the latest training cut alone has fewer than 10 buyers who stayed; a week earlier adds enough
    assert result["cutoff"] == "2025-06-16" and result["training_cuts"] == ["2025-06-02", "2025-05-26"]
    for cut in map(date.fromisoformat, result["training_cuts"]):  # each label window is over by the cutoff
        assert cut + timedelta(days=14) <= date(2025, 6, 16) and (cut - START).days >= 14


def test_a_pool_that_still_cannot_teach_is_refused(warehouse_path, tmp_path):
    message = (r"too little to learn from before 2025-06-02: 19 users churned and 5 did not \(at least 10 of "
               r"each are needed\) pooled over 4 cuts \(2025-06-02, 2025-05-26, 2025-05-19, 2025-05-12\); try "
               r"another horizon \(the history supports at most 57 days\) or import more history")
    with small_history(warehouse_path, tmp_path, customers=6, days=180, seed=2) as con, pytest.raises(
            InsufficientDataError, match=message):
        churn.evaluate_churn(con, horizon_days=14)


@pytest.fixture
def demo_copy(tmp_path):
    from engine.ingest.demo import build_demo

    path = tmp_path / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=1500, days=120, seed=5, end=date(2026, 5, 1))
    return path


def test_a_model_that_loses_to_recency_on_its_backtest_does_not_rank_the_list(demo_copy, monkeypatch):
    with warehouse.connect(demo_copy) as con:
        honest = churn.churn_risk(con, horizon_days=14)
        honest_propensity = churn.purchase_propensity(con, horizon_days=14)
        assert honest.backtest.served == "cox" and honest_propensity.backtest.served == "logistic"
        # a model ranked backwards (what a training cut without history produced) is caught by its backtest
        cox_churn, fit_logistic = churn._cox_churn, churn._fit_logistic

        def backwards_logistic(*args):
            model, scaler = fit_logistic(*args)
            model.coef_, model.intercept_ = -model.coef_, -model.intercept_
            return model, scaler

        monkeypatch.setattr(churn, "_cox_churn", lambda *a: 1 - cox_churn(*a))
        monkeypatch.setattr(churn, "_fit_logistic", backwards_logistic)
        risk = churn.churn_risk(con, horizon_days=14)
        propensity = churn.purchase_propensity(con, horizon_days=14)
    assert risk.backtest.auc == round(1 - honest.backtest.auc, 4) and risk.backtest.served == "recency"
    assert risk.backtest.baseline_auc == honest.backtest.baseline_auc
    ranked = risk.risk.sort_values("days_away")
    assert ranked["risk"].is_monotonic_increasing
    assert propensity.backtest.served == "recency" and propensity.auc < propensity.backtest.baseline_auc
    assert set(risk.risk["user_id"]) == set(honest.risk["user_id"])


def test_evaluate_churn_reports_its_cuts_on_the_command_line(demo_copy, capsys):
    from engine.__main__ import main

    assert main(["--warehouse", str(demo_copy), "evaluate", "churn", "--horizon-days", "14", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert (payload["cutoff"], payload["training_cuts"], payload["label_window"]) == (
        "2026-04-17", ["2026-04-03"], ["2026-04-17", "2026-04-30"])
    assert set(payload["beats_recency"]) == {"logistic", "cox"}
    assert main(["--warehouse", str(demo_copy), "evaluate", "churn", "--horizon-days", "14", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "model,auc,brier,c_index,cutoff,training_cuts,beats_recency"
    assert [line.split(",")[4:6] for line in lines[1:]] == [["2026-04-17", "2026-04-03"]] * 3
    assert main(["--warehouse", str(demo_copy), "evaluate", "churn", "--horizon-days", "60"]) == 1
    assert "the longest horizon the data supports with the latest cutoff is 38 days" in capsys.readouterr().err


def test_a_refusal_is_kept_per_version_like_a_result(warehouse_path, tmp_path):
    from engine.store.results import results_folder

    with small_history(warehouse_path, tmp_path, customers=200, days=20, seed=3) as con:
        with pytest.raises(InsufficientDataError, match="supports for the at-risk list is 6 days"):
            churn.stored_churn_risk(con, horizon_days=30)
        version = warehouse.data_version(con)
        stored = json.loads((results_folder(warehouse_path) / f"churn-risk-h30-i30-v{version}.json").read_text())
        assert stored["values"]["refused"]["kind"] == "InsufficientDataError"
        stored["values"]["refused"]["message"] = "loaded, not computed"
        (results_folder(warehouse_path) / f"churn-risk-h30-i30-v{version}.json").write_text(json.dumps(stored))
        with pytest.raises(InsufficientDataError, match="loaded, not computed"):
            churn.stored_churn_risk(con, horizon_days=30)


def test_results_stored_before_backtests_existed_are_computed_again(demo_copy):
    from engine.store.results import data_stamp, save_result

    with warehouse.connect(demo_copy) as con:
        fresh = churn.purchase_propensity(con, horizon_days=14)
        old = {"auc": 0.5, "horizon_days": 14}  # what an earlier Pond stored: no backtest
        save_result(demo_copy, "propensity-h14", warehouse.data_version(con), old,
                    {"scores": fresh.scores, "calibration": fresh.calibration, "coefficients": fresh.coefficients},
                    stamp=data_stamp(con))
        loaded = churn.stored_purchase_propensity(con, horizon_days=14)
    assert loaded.auc == fresh.auc and loaded.backtest.values() == fresh.backtest.values()


@pytest.mark.realdata
def test_on_the_taobao_sample_no_list_ranks_worse_than_recency(real_data, warehouse_path):
    with warehouse.connect(warehouse_path) as con:
        import_file(con, real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", timezone="Asia/Shanghai")
        # nine days (35 stray stamps before them do not count): three days is the longest horizon
        assert churn.history_start(con) == date(2017, 11, 25)
        for call in (churn.churn_risk, churn.purchase_propensity):
            with pytest.raises(InsufficientDataError, match="supports for .* is 3 days"):
                call(con, horizon_days=4)
        served = []
        for horizon in (1, 2, 3):
            evaluation = churn.evaluate_churn(con, horizon_days=horizon)
            assert evaluation["training_cuts"] and evaluation["label_window"][0] == evaluation["cutoff"]
            assert len(evaluation["warnings"]) == sum(not b for b in evaluation["beats_recency"].values())
            for call in (churn.churn_risk, churn.purchase_propensity):
                try:
                    backtest = call(con, horizon_days=horizon).backtest
                except InsufficientDataError as exc:  # every top Taobao user came back within days
                    assert "had the same outcome" in str(exc)
                    continue
                auc = backtest.auc if backtest.served == backtest.model else backtest.baseline_auc
                assert auc >= backtest.baseline_auc
                served.append(backtest.served)
    assert "recency" in served  # on this sample the propensity model does not beat recency, and says so
