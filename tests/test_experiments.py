"""Experiments: statistics checked against hand formulas, SRM, verdicts, and the demo's planted effects."""

from __future__ import annotations

import math
from datetime import date

import pytest

from engine.errors import InsufficientDataError, PondError
from engine.experiments import (
    _proportion_comparison,
    _srm_p_value,
    campaign_effect,
    experiment_results,
    list_experiments,
    sample_size,
)


def test_two_proportion_z_test_matches_the_pooled_formula():
    result = _proportion_comparison(200, 1000, 150, 1000)
    pooled = 350 / 2000
    z = (0.2 - 0.15) / math.sqrt(pooled * (1 - pooled) * (2 / 1000))
    assert result["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-9)
    assert result["lift"] == pytest.approx(1 / 3)
    assert result["lift_low"] < 1 / 3 < result["lift_high"]


def test_sample_ratio_mismatch():
    import pandas as pd

    assert _srm_p_value(pd.DataFrame({"variant": ["a", "b"], "users": [1000, 1100]}), None) == pytest.approx(
        0.0290, abs=1e-4)
    assert _srm_p_value(pd.DataFrame({"variant": ["a", "b"], "users": [1000, 1200]}), None) < 0.001
    assert _srm_p_value(pd.DataFrame({"variant": ["a", "b"], "users": [900, 100]}), {"a": 0.9, "b": 0.1}) == 1.0


def test_sample_size_for_a_classic_case():
    # 5% baseline, +10% relative lift, alpha 0.05, power 0.8: about 31 thousand per variant
    size = sample_size(0.05, 0.10, daily_users=1000)
    assert 30_500 < size["per_variant"] < 32_000 and size["days"] == math.ceil(size["total"] / 1000)
    with pytest.raises(PondError, match="between 0 and 1"):
        sample_size(5, 0.1)


@pytest.fixture
def assigned(con, write):
    from engine.ingest import import_file

    import_file(con, write("events.csv", "user_id,event_type,event_time,amount\n"
                                         "t1,purchase,2024-01-02 10:00,100\nt2,purchase,2024-01-02 11:00,50\n"
                                         "c1,purchase,2023-12-31 10:00,80\nc2,view,2024-01-02 10:00,\n"))
    con.executemany("insert into experiments values ('checkout', ?, ?, timestamp '2024-01-01 00:00:00', 1)",
                    [["t1", "treatment"], ["t2", "treatment"], ["c1", "control"], ["c2", "control"]])
    return con


def test_metrics_count_only_after_assignment(assigned):
    result = experiment_results(assigned, "checkout")
    table = result.variants.set_index("variant")
    assert result.control == "control"
    assert (table.loc["treatment", "converters"], table.loc["control", "converters"]) == (2, 0)  # c1 bought before
    assert table.loc["treatment", "gmv_per_user"] == 75.0
    assert list_experiments(assigned)["experiment"].tolist() == ["checkout"]
    assert experiment_results(assigned, "checkout", control="treatment").control == "treatment"
    with pytest.raises(PondError, match="no variant 'x'"):
        experiment_results(assigned, "checkout", control="x")
    with pytest.raises(PondError, match="no experiment named 'nope'"):
        experiment_results(assigned, "nope")


def test_single_variant_is_insufficient(con, write):
    from engine.ingest import import_file

    import_file(con, write("e.csv", "user_id,event_type,event_time\nu,view,2024-01-01 10:00\n"))
    con.execute("insert into experiments values ('solo', 'u', 'control', null, 1)")
    with pytest.raises(InsufficientDataError, match="single variant"):
        experiment_results(con, "solo")


def test_demo_effect_is_detected_and_the_aa_test_is_not(con):
    from engine.demo import build_demo

    build_demo(con, users=3000, days=90, seed=7, end=date(2026, 6, 1))
    real = experiment_results(con, "new_checkout")
    conversion = real.comparisons.set_index("metric").loc["conversion"]
    assert conversion["significant"] and conversion["lift_low"] > 0
    assert real.verdict.startswith("treatment raises conversion")
    aa = experiment_results(con, "homepage_banner_aa")
    assert not aa.comparisons.set_index("metric").loc["conversion", "significant"]
    assert aa.verdict.startswith("No detectable difference")
    assert not real.sample_ratio_mismatch and not aa.sample_ratio_mismatch
    campaigns = campaign_effect(con)
    assert (campaigns["redeemed"] <= campaigns["issued"]).all() and len(campaigns) == 6


def test_broken_assignment_is_flagged_before_any_result(assigned):
    rows = [[f"x{i}", "treatment" if i < 300 else "control"] for i in range(450)]  # 300 vs 150
    assigned.executemany("insert into experiments values ('skewed', ?, ?, timestamp '2024-01-01 00:00:00', 1)", rows)
    result = experiment_results(assigned, "skewed")
    assert result.sample_ratio_mismatch
    assert result.verdict.startswith("Do not trust skewed yet") and "sample ratio mismatch" in result.verdict
