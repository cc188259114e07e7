"""The Churn page says how far to trust its lists: the backtest right above each, with its cuts,
a reliability plot, and a warning when the model does not beat ranking by recency."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.ingest.demo import build_demo
from engine.predictions import churn
from engine.store import warehouse
from tests.conftest import use_private_copy

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _clear_caches(clear_streamlit_caches):
    """Every test starts with empty Streamlit caches."""


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("churn-page") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=600, days=120, seed=3, end=date(2026, 3, 1))
    return path


@pytest.fixture
def demo(demo_file, tmp_path, monkeypatch) -> Path:
    """A private copy (its stored results are its own), set as the dashboard's warehouse."""
    return use_private_copy(demo_file, tmp_path, monkeypatch)


def churn_tab(tab: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["churn-tab"] = tab
    at.run()
    at.switch_page("views/churn.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def shown_backtest(at: AppTest) -> dict:
    metrics = {m.label: m.value for m in at.metric}
    cuts = next(c.value for c in at.caption if c.value.startswith("**Cuts.**"))
    return {"auc": metrics["ROC-AUC on a time split"], "baseline": metrics["Recency baseline"], "cuts": cuts}


def expected_cuts(backtest: churn.Backtest) -> list[str]:
    first, last = backtest.label_window
    return [str(backtest.training_cuts[0]), f"tested on {backtest.users:,} users as of {backtest.test_cut}",
            f"from {first} to {last}", f"fitted as of {backtest.serving_cuts[0]}"]


@pytest.mark.parametrize(("tab", "slider", "compute", "horizon"), [
    ("At-risk users", "churn-horizon", churn.churn_risk, 7),
    ("Purchase propensity", "prop-horizon", churn.purchase_propensity, 14)])
def test_each_list_shows_the_backtest_it_was_checked_on(demo, tab, slider, compute, horizon):
    at = churn_tab(tab)
    at.slider(key=slider).set_value(horizon).run()
    assert not at.exception and not at.error
    with warehouse.connect(demo) as con:
        backtest = compute(con, horizon_days=horizon).backtest
    shown = shown_backtest(at)
    assert (shown["auc"], shown["baseline"]) == (f"{backtest.auc:.3f}", f"{backtest.baseline_auc:.3f}")
    for part in expected_cuts(backtest):
        assert part in shown["cuts"]
    assert backtest.served == backtest.model  # at these horizons both models beat recency on this demo
    assert len(at.success) == 1 and "beats ranking by days since the last" in at.success[0].value
    assert not at.warning or all("does **not** beat" not in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) >= 1  # the reliability plot (and the forest plot on the at-risk tab)


def test_a_list_whose_model_loses_to_recency_says_so_above_it(demo, monkeypatch):
    cox_churn = churn._cox_churn
    monkeypatch.setattr(churn, "_cox_churn", lambda *a: 1 - cox_churn(*a))  # a model ranked backwards
    at = churn_tab("At-risk users")
    at.slider(key="churn-horizon").set_value(7).run()
    assert not at.exception and not at.error
    warning = next(w.value for w in at.warning if "does **not** beat" in w.value)
    assert "so the list below ranks by days since the last visit instead" in warning
    assert not at.success
    listed = at.dataframe[0].value  # ranked by days away, the longest away first
    assert listed["risk"].is_monotonic_decreasing and listed["days_away"].is_monotonic_decreasing


def test_a_horizon_the_data_cannot_check_is_refused_naming_the_longest(demo):
    at = churn_tab("Purchase propensity")
    at.slider(key="prop-horizon").set_value(60).run()
    assert not at.exception and not at.error
    assert any("the longest horizon the data supports for purchase propensity is" in i.value for i in at.info)
    assert "ROC-AUC on a time split" not in {m.label for m in at.metric}


def test_the_model_check_names_its_cuts(demo):
    at = churn_tab("How good are the models?")
    with warehouse.connect(demo) as con:
        expected = churn.evaluate_churn(con, horizon_days=30)
    caption = next(c.value for c in at.caption if c.value.startswith("Buyers before"))
    assert f"as of {expected['training_cuts'][0]}" in caption
    assert f"from {expected['label_window'][0]} to {expected['label_window'][1]}" in caption
    assert set(at.dataframe[0].value["model"]) == {"recency", "logistic", "cox"}
    losing = [c.value for c in at.caption if "does not beat ranking by days since the last purchase" in c.value]
    assert len(losing) == len(expected["warnings"])
