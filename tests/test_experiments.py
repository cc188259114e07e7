"""Experiments: statistics checked against hand formulas, SRM, verdicts, and the demo's planted effects."""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest

from engine.errors import InsufficientDataError, PondError
from engine.social.experiments import (
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
    from engine.ingest.demo import build_demo

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


def test_assignment_files_are_imported_and_undone(con, write):
    from engine.ingest import import_file, inspect_file, rejected_rows, undo_upload

    import_file(con, write("events.csv", "user_id,event_type,event_time\nu1,purchase,2024-01-02 10:00\n"
                                         "u2,view,2024-01-02 10:00\n"))
    content = ("用户ID,实验名称,分组,时间\nu1,checkout,treatment,2024-01-01 00:00:00\n"
               "u2,checkout,control,2024-01-01 00:00:00\nu2,checkout,control,2024-01-01 00:00:00\n"
               ",checkout,control,2024-01-01 00:00:00\nu3,checkout,,2024-01-01 00:00:00\n")
    path = write("assignments.csv", content)
    _, plan = inspect_file(path)
    assert plan.format == "experiment_assignments"
    result = import_file(con, path)
    assert (result.rows_read, result.rows_imported, result.rows_rejected, result.rows_duplicate) == (5, 2, 2, 1)
    assert rejected_rows(con, result.upload_id)["reason"].tolist() == ["missing user id", "missing variant"]
    assert con.execute("select user_id, variant, assigned_at from experiments order by 1").fetchall() == [
        ("u1", "treatment", datetime(2024, 1, 1)), ("u2", "control", datetime(2024, 1, 1))]
    assert experiment_results(con, "checkout").variants.set_index("variant")["converters"].to_dict() == {
        "control": 0, "treatment": 1}
    assert con.execute("select count(*) from events").fetchone() == (2,)  # assignments are not events
    undone = undo_upload(con, result.upload_id)
    assert undone.rows_removed == 2 and con.execute("select count(*) from experiments").fetchone() == (0,)


def test_an_assignment_file_without_variants_is_refused(con, write):
    from engine.ingest import import_file

    path = write("a.csv", "user_id,experiment\nu1,checkout\n")
    with pytest.raises(PondError, match="no time column"):  # not recognised as assignments: read as events
        import_file(con, path)
    with pytest.raises(PondError, match="does not look like a experiment_assignments export"):
        import_file(con, path, format="experiment_assignments")
    assert con.execute("select count(*) from uploads").fetchone() == (0,)


def test_experiments_from_a_campaign_field_on_events(con, write):
    from engine.ingest import import_file

    import_file(con, write("banner.csv", "user_id,event_type,event_time,campaign_id\n"
                                         "u1,impression,2024-01-01 10:00,banner:A\nu1,click,2024-01-01 10:01,banner:A\n"
                                         "u2,impression,2024-01-01 10:00,banner:B\nu2,purchase,2024-01-01 11:00,\n"
                                         "u3,impression,2024-01-01 10:00,spring_sale\n"))
    listed = list_experiments(con)
    assert listed[["experiment", "users"]].values.tolist() == [["banner", 2]]
    table = experiment_results(con, "banner").variants.set_index("variant")
    assert (table.loc["A", "clicks"], table.loc["B", "converters"]) == (1, 1)
