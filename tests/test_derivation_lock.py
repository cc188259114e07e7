"""The dashboard's background derivation never holds the warehouse for long: a command-line import
(or undo, or backup) started while it runs goes through instead of being refused after 15 s."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import date

import pytest

from engine.ingest.demo import build_demo
from engine.predictions import churn
from engine.store import warehouse
from engine.store.results import load_result

#: longer than the command line's wait for the file (15 s), as the Cox fit takes at 10M events and more
SLOW_FIT_SECONDS = 20


@pytest.fixture
def demo(tmp_path):
    db = tmp_path / "pond.duckdb"
    with warehouse.connect(db) as con:
        build_demo(con, users=600, days=150, seed=3, end=date(2026, 3, 1))
    return db


def cli_import(db, csv) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    # --add-to-demo: the first import into a demo-only warehouse would otherwise replace the demo
    done = subprocess.run([sys.executable, "-m", "engine", "--warehouse", str(db), "ingest", str(csv), "--add-to-demo"],
                          cwd=warehouse.PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    return done, time.monotonic() - started


def test_command_line_imports_go_through_while_the_dashboard_derives(demo, tmp_path, monkeypatch):
    import ui.derive

    fitting, real_risk = threading.Event(), churn.churn_risk

    def slow_risk(con, **kwargs):
        if not fitting.is_set():  # the background's fit; the page's own, later, is not slowed
            fitting.set()
            time.sleep(SLOW_FIT_SECONDS)
        return real_risk(con, **kwargs)

    monkeypatch.setattr(churn, "churn_risk", slow_risk)
    with warehouse.connect(demo) as con:
        version = warehouse.data_version(con)
    thread = ui.derive.derive_in_background(str(demo))
    assert fitting.wait(60), "the derivation did not reach the churn models"
    # someone opens the Churn page meanwhile: it waits for the derivation with the warehouse closed
    from ui import data

    shown = []
    page = threading.Thread(target=lambda: shown.append(data.churn_risk(str(demo), version, 30, 30)))
    page.start()
    time.sleep(1)
    imports = []
    for name in ("first.csv", "second.csv"):  # one right after the other
        csv = tmp_path / name
        csv.write_text(f"user_id,event_type,event_time\n{name},view,2026-02-28 10:00:00\n")
        imports.append(cli_import(demo, csv))
    assert thread.is_alive()  # both imports ran while the derivation was fitting
    for done, seconds in imports:
        assert done.returncode == 0, done.stderr
        assert seconds < SLOW_FIT_SECONDS
    thread.join(120)
    page.join(120)
    with warehouse.connect(demo) as con:
        assert warehouse.data_version(con) == version + 2
    # the page then opened the warehouse, found a newer version than the derivation's and fitted it
    kept = [p.name for p in (demo.parent / "pond.duckdb.results").glob("churn-risk-*.json")]
    assert kept == [f"churn-risk-h30-i30-v{version + 2}.json"] and len(shown[0].risk) > 0


def test_results_fitted_on_the_rollup_copy_equal_those_fitted_on_the_warehouse(demo):
    with warehouse.connect(demo) as con:
        keeping, snapshot = churn.Keeping.of(con), churn.rollup_snapshot(con)
        direct = churn.churn_risk(con), churn.purchase_propensity(con)
    risk = churn.stored_churn_risk(snapshot, keeping=keeping)
    propensity = churn.stored_purchase_propensity(snapshot, keeping=keeping)
    assert risk.risk.equals(direct[0].risk) and propensity.scores.equals(direct[1].scores)
    with warehouse.connect(demo) as con:  # and the page then loads them instead of fitting again
        assert load_result(demo, "churn-risk-h30-i30", keeping.version, keeping.stamp) is not None
        assert churn.stored_churn_risk(con).risk.equals(risk.risk)


def test_tags_are_scored_on_one_opening_and_written_on_another(demo, tmp_path):
    from engine.customers.tags import derive_interest_tags_in_turns, tags_are_current

    with warehouse.connect(demo) as con:  # a version the tags do not match yet
        con.execute("update meta set value = '-1' where key = 'tags_version'")
    assert derive_interest_tags_in_turns(demo) is True
    with warehouse.connect(demo) as con:
        assert tags_are_current(con)
        assert con.execute("select count(*) from user_tags").fetchone()[0] > 0
    assert derive_interest_tags_in_turns(demo) is False  # current: nothing to do
