"""Growth fits: known curves are recovered, baselines win when they should, failures say what to try."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from engine.errors import InsufficientDataError
from engine.predictions.growth import S_CURVES, exponential, fit_growth, growth_series, logistic
from engine.store import warehouse

START = date(2026, 1, 1)


def series(values) -> pd.DataFrame:
    return pd.DataFrame({"day": [START + timedelta(days=k) for k in range(len(values))], "value": values})


def test_a_noisy_logistic_curve_is_recovered():
    rng = np.random.default_rng(1)
    t = np.arange(120)
    result = fit_growth(series(logistic(t, 5000, 0.08, 4.8) + rng.normal(0, 20, 120)), holdout_days=20)
    fit = result.fits["logistic"]
    assert fit.ok and fit.params["L"] == pytest.approx(5000, rel=0.01) and fit.params["r"] == pytest.approx(0.08, rel=0.05)
    low, high = fit.intervals["L"]
    assert low < 5000 < high
    assert fit.capacity == pytest.approx(5000, rel=0.01)
    assert fit.inflection == START + timedelta(days=60)  # t* = c / r = 60
    assert result.best in S_CURVES and "supported by the backtest" in result.verdict
    assert fit.r2 > 0.999 and result.fits["exponential"].aic > fit.aic


def test_exponential_growth_is_recovered():
    t = np.arange(60)
    result = fit_growth(series(exponential(t, 100.0, 0.05)), holdout_days=10)
    assert result.fits["exponential"].params["r"] == pytest.approx(0.05, rel=1e-3)
    assert result.best == "exponential" and "never lasts" in result.verdict


def test_a_straight_line_beats_the_s_curves_and_the_page_says_so():
    rng = np.random.default_rng(2)
    values = 1000 + 37.0 * np.arange(150) + rng.normal(0, 15, 150)
    result = fit_growth(series(values), holdout_days=30)
    assert result.best == "linear"
    assert result.fits["linear"].holdout_mape < 1.0
    assert "A straight line forecast the last 30 days best" in result.verdict
    if any(result.fits[c].ok for c in S_CURVES):
        assert "does not support a saturation curve" in result.verdict


def test_a_curve_that_cannot_describe_the_data_is_refused_with_advice():
    result = fit_growth(series(np.full(40, 250.0)), holdout_days=7)
    refused = [f for f in result.fits.values() if not f.ok]
    assert refused, "a flat series has no S-curve"
    assert all("try weekly periods" in f.message for f in refused)
    assert result.fits["naive"].holdout_mape == 0.0 and result.best in ("naive", "linear")


def test_too_short_a_history_says_what_to_do():
    with pytest.raises(InsufficientDataError, match="too few to fit growth curves"):
        fit_growth(series(np.arange(20.0)), holdout_days=30)


def test_growth_series_counts_first_activity_first_purchase_and_gmv(warehouse_path, write):
    from engine.ingest import import_file

    csv = write("g.csv", "user_id,event_type,event_time,amount\n"
                         "a,view,2026-01-01 10:00:00,\n"
                         "a,purchase,2026-01-03 10:00:00,10\n"
                         "b,view,2026-01-03 11:00:00,\n"
                         "c,purchase,2026-01-04 09:00:00,5\n"
                         "b,purchase,2026-01-04 12:00:00,7\n")
    with warehouse.connect(warehouse_path) as con:
        import_file(con, csv)
        users = growth_series(con, "users")
        buyers = growth_series(con, "buyers")
        gmv = growth_series(con, "gmv")
    assert users["day"].tolist() == [date(2026, 1, d) for d in (1, 2, 3, 4)]
    assert users["value"].tolist() == [1, 1, 2, 3]
    assert buyers["value"].tolist() == [0, 0, 1, 3]
    assert gmv["value"].tolist() == [0, 0, 10, 22]


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    from engine.ingest.demo import build_demo

    path = tmp_path_factory.mktemp("growth") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=1500, days=120, seed=5, end=date(2026, 6, 1))
    return path


def test_cli_growth_json_has_every_model(demo_path, capsys):
    from engine.__main__ import main

    assert main(["--warehouse", str(demo_path), "query", "growth", "--metric", "buyers", "--holdout-days", "21",
                 "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload["models"]) == {"exponential", "logistic", "gompertz", "bass", "linear", "naive"}
    assert payload["best"] in payload["models"]
    for name, model in payload["models"].items():
        assert {"params", "r2", "aic", "holdout_mape"} <= set(model), name
    # the demo's acquisition is an S-curve: one of the S-curves should forecast it best
    assert payload["models"][payload["best"]]["holdout_mape"] <= payload["models"]["linear"]["holdout_mape"]
