"""Churn: exact lifetimes, a known hazard recovered, models that beat recency, risk lists and bands."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest

from engine.errors import PondError
from engine.ingest import import_file
from engine.predictions.churn import (
    churn_risk,
    ensure_scores,
    evaluate_churn,
    features,
    purchase_propensity,
)
from engine.predictions.survival import lifetimes, survival
from engine.store import warehouse


def test_lifetimes_are_exact_on_a_hand_made_history(warehouse_path, write):
    csv = write("l.csv", "user_id,event_type,event_time\n"
                         "gone,view,2026-01-01 10:00:00\ngone,view,2026-01-05 10:00:00\n"
                         "here,view,2026-01-10 10:00:00\nhere,view,2026-02-20 10:00:00\n"
                         "late,view,2026-02-25 10:00:00\n")
    with warehouse.connect(warehouse_path) as con:
        import_file(con, csv)
        frame = lifetimes(con, inactivity_days=30).set_index("user_id")
    # last day of data: Feb 25. "gone" left 51 days ago: churned after a 5-day life
    assert frame.loc["gone", ["churned", "duration"]].tolist() == [True, 5]
    # "here" was last seen 5 days ago: still active, censored at 47 days (Jan 10 .. Feb 25)
    assert frame.loc["here", ["churned", "duration"]].tolist() == [False, 47]
    assert frame.loc["late", ["churned", "duration"]].tolist() == [False, 1]


def test_features_count_days_not_channel_rows(warehouse_path, write):
    csv = write("f.csv", "user_id,event_type,event_time,channel,amount,order_id\n"
                         "a,view,2026-01-01 10:00:00,wechat,,\na,view,2026-01-01 11:00:00,douyin,,\n"
                         "a,purchase,2026-01-20 10:00:00,wechat,10,o1\n"
                         "a,view,2026-02-10 10:00:00,wechat,,\na,view,2026-02-10 12:00:00,douyin,,\n"
                         "a,view,2026-02-20 10:00:00,wechat,,\n"
                         "a,view,2026-03-03 10:00:00,wechat,,\na,purchase,2026-03-05 10:00:00,wechat,5,o2\n"
                         "b,impression,2026-02-28 10:00:00,wechat,,\nc,view,2026-03-02 10:00:00,wechat,,\n")
    with warehouse.connect(warehouse_path) as con:
        import_file(con, csv)
        frame = features(con, date(2026, 3, 1), 10)
    # b was only shown something and c came after the cutoff: neither is a user at the cutoff
    assert frame["user_id"].tolist() == ["a"]
    a = frame.iloc[0]
    assert [a[c].date() for c in ("first_active", "last_active", "first_purchase", "last_purchase",
                                  "next_active", "next_purchase")] == [
        date(2026, 1, 1), date(2026, 2, 20), date(2026, 1, 20), date(2026, 1, 20), date(2026, 3, 3), date(2026, 3, 5)]
    # two channels on Jan 1 and Feb 10 are one day each: active on 4 days, 2 in the last 30, 2 in the 30 before
    assert [int(a[c]) for c in ("active_days", "active_30", "active_prior_30", "orders")] == [4, 2, 2, 1]
    assert a["monetary"] == 10 and a["recency"] == 9 and a["tenure"] == 59


def test_exponential_lifetimes_recover_their_hazard(warehouse_path, tmp_path):
    rng = np.random.default_rng(3)
    mean_life, start = 20.0, date(2026, 1, 1)
    lines = ["user_id,event_type,event_time"]
    for u in range(2000):
        first = int(rng.integers(0, 60))
        life = int(rng.exponential(mean_life))
        lines += [f"u{u},view,{start + timedelta(days=first + d)} 12:00:00" for d in range(life + 1)]
    lines.append(f"clock,view,{start + timedelta(days=150)} 12:00:00")  # the data runs to day 150
    path = tmp_path / "life.csv"
    path.write_text("\n".join(lines) + "\n")
    with warehouse.connect(warehouse_path) as con:
        import_file(con, path)
        result = survival(con, inactivity_days=7)
    curve = result.curves[result.curves["group"] == "everyone"].set_index("day")["survival"]
    # whole days of life (floor of an exponential) survive past day d with probability e^(-d/mean)
    at_20 = curve[curve.index <= 21].iloc[-1]
    assert -np.log(at_20) / 21 == pytest.approx(1 / mean_life, rel=0.1)
    median = result.groups["median_lifetime"].iloc[0]
    assert median == pytest.approx(mean_life * np.log(2) + 1, abs=3)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from engine.ingest.demo import build_demo

    path = tmp_path_factory.mktemp("churn") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=3000, days=150, seed=11, end=date(2026, 6, 1))
    return path


def test_survival_by_channel_differs_and_counts_add_up(demo):
    with warehouse.connect(demo) as con:
        result = survival(con, group="channel")
        everyone = survival(con)
    assert result.groups["users"].sum() == everyone.groups["users"].iloc[0]
    assert (result.groups["churned"] + result.groups["active"] == result.groups["users"]).all()
    # the demo gives referral and group users longer lives than Douyin users
    medians = result.groups.set_index("group")["median_lifetime"]
    assert medians["referral"] > medians["douyin"] and result.logrank_p < 1e-6
    assert ((result.curves["low"] <= result.curves["survival"]) & (result.curves["survival"] <= result.curves["high"])).all()


def test_models_beat_ranking_by_recency(demo):
    with warehouse.connect(demo) as con:
        result = evaluate_churn(con, date(2026, 4, 20), horizon_days=30)
    models = result["models"]
    assert set(models) == {"recency", "logistic", "cox"} and {"auc", "brier", "c_index"} <= set(models["cox"])
    assert 0 < result["churn_rate"] < 1 and result["users"] > 500
    assert models["logistic"]["auc"] > models["recency"]["auc"]
    assert models["cox"]["auc"] > models["recency"]["auc"]
    assert models["logistic"]["brier"] < models["recency"]["brier"]


def test_a_cutoff_without_a_full_horizon_after_it_is_refused(demo):
    with warehouse.connect(demo) as con, pytest.raises(PondError, match="use --cutoff 2026-05-02 or earlier"):
        evaluate_churn(con, date(2026, 5, 20), horizon_days=30)


def test_risk_list_ranks_active_users_with_drivers(demo):
    with warehouse.connect(demo) as con:
        result = churn_risk(con, horizon_days=30)
    risk = result.risk
    assert (risk["days_away"] < 30).all() and risk["risk"].between(0, 1).all()
    assert risk["risk"].is_monotonic_decreasing
    assert (risk["drivers"].str.split(";").str[0] == "away " + risk["days_away"].astype(str) + " days").all()
    expected = np.select([risk["risk"] >= 0.6, risk["risk"] >= 0.3], ["high", "medium"], "low")
    assert (risk["band"] == expected).all()
    # users away longer are, on average, riskier
    assert risk.groupby(risk["days_away"] > 14)["risk"].mean().diff().iloc[-1] > 0
    assert 0.5 < result.concordance <= 1 and len(result.hazard_ratios) >= 8
    # the demo's tenure effect wanes with time away, and the check (on the left-truncated fit) says so
    assert result.ph_warning.startswith("The effect of tenure at last visit changes with time away")


def test_propensity_is_checked_on_a_time_split(demo):
    with warehouse.connect(demo) as con:
        result = purchase_propensity(con, horizon_days=30)
    assert result.auc > 0.7
    assert result.calibration["users"].sum() > 0 and result.scores["propensity"].between(0, 1).all()
    # calibrated: the user-weighted gap between predicted and observed rates is small, and no
    # decile with users enough to measure is far off (about a hundred users make one decile's
    # observed rate uncertain by several points, so the per-decile bound is loose)
    calibration = result.calibration
    gaps = (calibration["predicted"] - calibration["observed"]).abs()
    assert (gaps * calibration["users"]).sum() / calibration["users"].sum() < 0.03
    assert gaps[calibration["users"] >= 50].max() < 0.2


def test_churn_bands_work_in_the_segment_builder(demo, tmp_path):
    from engine.customers.segments import Condition, SegmentDefinition, segment_count

    path = tmp_path / "copy.duckdb"
    path.write_bytes(demo.read_bytes())
    with warehouse.connect(path) as con:
        high = SegmentDefinition(conditions=(Condition(kind="churn", values=("high",)),))
        count = segment_count(con, high)
        expected = int((churn_risk(con, horizon_days=30).risk["band"] == "high").sum())
        assert count == expected > 0
        likely = SegmentDefinition(conditions=(Condition(kind="propensity", values=("high", "medium")),))
        assert segment_count(con, likely) == int(purchase_propensity(con).scores["band"].isin(["high", "medium"]).sum())
        ensure_scores(con)  # stored per data version: a second call reuses them
        assert con.execute("select value from meta where key = 'scores_version'").fetchone()[0] == str(
            warehouse.data_version(con))
        with pytest.raises(PondError, match="choose bands among high, medium, low"):
            segment_count(con, SegmentDefinition(conditions=(Condition(kind="churn", values=("very",)),)))


def test_cli_churn_commands(demo, capsys):
    from engine.__main__ import main

    assert main(["--warehouse", str(demo), "evaluate", "churn", "--cutoff", "2026-04-20", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"users", "churn_rate", "models"} <= set(payload) and set(payload["models"]["cox"]) == {
        "auc", "brier", "c_index"}
    assert main(["--warehouse", str(demo), "query", "churn-risk", "--horizon-days", "14"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "user_id,risk,band,drivers" and len(lines) > 100


def test_too_little_history_for_a_risk_model_says_what_to_do(warehouse_path, write):
    csv = write("s.csv", "user_id,event_type,event_time\n" + "".join(
        f"u{u},view,2026-01-0{1 + d} 10:00:00\n" for u in range(5) for d in range(3)))
    with warehouse.connect(warehouse_path) as con:
        import_file(con, csv)
        with pytest.raises(PondError, match="shorten the horizon|too little activity|fewer than 10 returns"):
            churn_risk(con, horizon_days=30)
        with pytest.raises(PondError, match="go past the data"):
            evaluate_churn(con, date(2026, 1, 2), horizon_days=30)


def _cox_data(seed: int, n: int = 2000, truncated: bool = False):
    """``steady`` has a constant effect on the hazard; ``early`` raises it in the first days only."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    steady, early = rng.normal(size=n), rng.integers(0, 2, n)
    gap = np.ceil(rng.exponential(10 * np.exp(-0.7 * steady)))
    event = rng.random(n) < 0.85
    # 'early' users return within 3 days or not at all: a higher hazard at first, none later
    quick = rng.random(n) < 0.6
    gap = np.where(early == 1, np.where(quick, rng.integers(1, 4, n), 60), gap)
    event = np.where(early == 1, quick, event)
    frame = pd.DataFrame({"steady": steady, "early": early.astype(float), "gap": gap.astype(float),
                          "event": event.astype(int)})
    if truncated:  # users enter the risk set some days into their gap, as users away at a cut-off do
        frame["entry"] = np.floor(rng.random(n) * np.minimum(frame["gap"], 5)) - 0.5
    return frame


def test_proportional_hazards_test_matches_lifelines_where_lifelines_can_run():
    from lifelines import CoxPHFitter
    from lifelines.statistics import proportional_hazard_test

    from engine.predictions.churn import proportional_hazards_test

    data = _cox_data(3)
    model = CoxPHFitter(penalizer=0.05).fit(data, "gap", "event")
    reference = proportional_hazard_test(model, data, time_transform="identity").summary
    ours = proportional_hazards_test(model, data, entry=None, time_transform="identity").set_index("covariate")
    reference = reference.loc[ours.index]
    assert np.allclose(ours["statistic"], reference["test_statistic"], rtol=1e-9)
    assert np.allclose(ours["p"], reference["p"], rtol=1e-9)


def test_proportional_hazards_test_flags_an_effect_that_changes_with_time_in_truncated_data():
    from lifelines import CoxPHFitter

    from engine.predictions.churn import proportional_hazards_test

    data = _cox_data(4, truncated=True)
    model = CoxPHFitter(penalizer=0.05).fit(data, "gap", "event", entry_col="entry")
    p = proportional_hazards_test(model, data).set_index("covariate")["p"]
    assert p["early"] < 1e-6 and p["steady"] > 0.01


def test_proportional_hazards_test_says_what_it_cannot_do():
    from lifelines import CoxPHFitter

    from engine.errors import InsufficientDataError
    from engine.predictions.churn import proportional_hazards_test

    data = _cox_data(5)
    model = CoxPHFitter(penalizer=0.05).fit(data, "gap", "event")
    with pytest.raises(ValueError, match="'rank' or 'identity'"):
        proportional_hazards_test(model, data, entry=None, time_transform="km")
    with pytest.raises(InsufficientDataError, match="no events"):
        proportional_hazards_test(model, data.assign(event=0), entry=None)


def test_churn_results_are_computed_once_per_version_and_kept_beside_the_warehouse(demo, tmp_path, write):
    import shutil

    import pandas as pd

    from engine.predictions.churn import stored_churn_evaluation, stored_churn_risk, stored_purchase_propensity
    from engine.store.results import results_folder

    path = tmp_path / "copy.duckdb"
    shutil.copy(demo, path)
    with warehouse.connect(path) as con:
        risk = stored_churn_risk(con, horizon_days=30)
        propensity = stored_purchase_propensity(con, horizon_days=30)
        evaluation = stored_churn_evaluation(con, horizon_days=30)
        version = warehouse.data_version(con)
    stored = sorted(p.name for p in results_folder(path).iterdir())
    assert f"churn-risk-h30-i30-v{version}.json" in stored and f"propensity-h30-v{version}.scores.parquet" in stored
    with warehouse.connect(path) as con:  # loaded, not fitted again: equal in every part
        again = stored_churn_risk(con, horizon_days=30)
        pd.testing.assert_frame_equal(again.risk, risk.risk)
        pd.testing.assert_frame_equal(again.hazard_ratios, risk.hazard_ratios)
        assert (again.concordance, again.ph_warning, again.as_of) == (risk.concordance, risk.ph_warning, risk.as_of)
        loaded = stored_purchase_propensity(con, horizon_days=30)
        pd.testing.assert_frame_equal(loaded.scores, propensity.scores)
        pd.testing.assert_frame_equal(loaded.calibration, propensity.calibration)
        pd.testing.assert_frame_equal(loaded.coefficients, propensity.coefficients)
        assert loaded.auc == propensity.auc and stored_churn_evaluation(con, horizon_days=30) == evaluation
    # a stored answer is what a reader gets for that version (marked here to tell it apart) ...
    stored_file = results_folder(path) / f"churn-evaluation-h30-v{version}.json"
    payload = json.loads(stored_file.read_text("utf-8"))
    payload["values"]["users"] = -1
    stored_file.write_text(json.dumps(payload), "utf-8")
    with warehouse.connect(path) as con:
        assert stored_churn_evaluation(con, horizon_days=30)["users"] == -1
        # ... until an import moves the version on: computed again (a new visitor who never bought leaves
        # the buyers' evaluation as it was), and the old version's files are removed
        import_file(con, write("late.csv", "user_id,event_type,event_time\nnew,view,2026-05-31 10:00:00\n"))
        assert stored_churn_evaluation(con, horizon_days=30) == evaluation
        newer = warehouse.data_version(con)
    names = {p.name for p in results_folder(path).iterdir()}
    assert f"churn-evaluation-h30-v{newer}.json" in names and f"churn-evaluation-h30-v{version}.json" not in names


def test_many_channels_make_no_performance_warnings():
    import warnings

    import pandas as pd

    from engine.predictions.churn import LOGISTIC, Standardiser

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.random(600) for c in LOGISTIC}).assign(channel=[f"c{i % 300:03d}" for i in range(600)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a PerformanceWarning per inserted column fails the test
        scaler = Standardiser(frame, LOGISTIC, sorted(frame["channel"].unique()))
        x = scaler.transform(frame)
    assert x.shape == (600, len(LOGISTIC) + 299)
    assert x["channel=c001"].tolist()[:3] == pytest.approx([(-1 / 300) / np.sqrt(1 / 300 * 299 / 300),
                                                            (1 - 1 / 300) / np.sqrt(1 / 300 * 299 / 300),
                                                            (-1 / 300) / np.sqrt(1 / 300 * 299 / 300)])
