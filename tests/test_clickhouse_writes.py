"""Writes on ClickHouse give the tables DuckDB's writes give (issue 22).

tests/clickhouse_writes_check.py applies the same imports and undos to a DuckDB warehouse and to chDB,
both starting from one demo, and compares every table as a multiset after each step (floats to 6
significant digits). It runs in a process of its own: chDB holds one data folder per process, and the
parity tests' shared warehouse must not see these writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("chdb")

ROOT = Path(__file__).resolve().parent.parent


def _steps(folder: Path, *mode: str) -> dict[str, dict]:
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "clickhouse_writes_check.py"), str(folder), *mode],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    steps = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            step = json.loads(line)
            steps[step["step"]] = step
    return steps


@pytest.fixture(scope="module")
def writes(tmp_path_factory):
    return _steps(tmp_path_factory.mktemp("ch-writes"))


@pytest.fixture(scope="module")
def first_import(tmp_path_factory):
    return _steps(tmp_path_factory.mktemp("ch-demo"), "demo")


WRITE_STEPS = ["import orders", "import orders again", "a refused file", "import overlap", "import assignments",
               "derive tags", "derive in the background", "save segments", "undo orders", "undo assignments", "import orders after its undo", "undo of orders.csv cut at refresh_rollups",
               "undo of overlap.csv cut at merge_users", "repair"]


@pytest.mark.parametrize("name", WRITE_STEPS)
def test_each_write_leaves_the_same_tables(writes, name):
    assert name in writes, f"step {name!r} did not run"
    assert writes[name]["diff"] == {}


def test_the_imports_say_the_same_on_both(writes):
    # 10 lines: a repeated line, a row without a user and one with an unreadable time; one phone number
    orders = writes["import orders"]["figures"]["summary"]
    assert orders == ["orders.csv: upload 2 (generic): read 10, imported 7, rejected 2, duplicates skipped 1"] * 2
    assert writes["import orders again"]["figures"]["summary"] == [
        "orders.csv: already imported as upload 2; nothing added"] * 2
    # two of its five rows are stored already (one exactly, one by its natural key with other attributes)
    assert writes["import overlap"]["figures"]["summary"] == [
        "overlap.csv: upload 3 (generic): read 5, imported 3, rejected 0, duplicates skipped 2"] * 2
    assert writes["save segments"]["figures"]["counted"] == [3, 3]
    assert writes["undo orders"]["figures"]["removed"] == [7, 7]
    assert writes["undo assignments"]["figures"]["removed"] == [3, 3]


def test_a_refused_file_changes_nothing_and_leaves_no_staging_table(writes):
    a, b = writes["a refused file"]["figures"]["refused"]
    assert a == b and "none of the 2 rows can be imported" in a
    assert writes["a refused file"]["figures"]["leftovers"] == []


def test_an_interrupted_import_is_removed_by_the_next_write(writes):
    figures = writes["repair"]["figures"]
    assert figures["left"] == [["importing"]]
    assert figures["repaired"] == ["removed upload 7 (later.csv), an interrupted import (2 rows)"]
    assert figures["after"] == [["interrupted", 0]]


def test_the_first_import_replaces_the_demo_and_sets_the_calendar(first_import):
    step = first_import["replace the demo"]
    assert step["diff"] == {}
    duck_notes, ch_notes = step["figures"]["notes"]
    assert duck_notes == ch_notes
    assert duck_notes[0].startswith("Replaced the demo data (upload 1)")
    assert "Business time zone set to Asia/Shanghai (day boundaries of charts)" in duck_notes


def test_a_chosen_mapping_is_remembered_on_both(first_import):
    step = first_import["a chosen mapping"]
    assert step["diff"] == {}
    assert all("Mapping remembered for files with these columns: the next one is imported the same way" in notes
               for notes in step["figures"]["notes"])


@pytest.mark.parametrize("name", ["undo of orders.csv cut at refresh_rollups", "undo of overlap.csv cut at merge_users"])
def test_an_undo_cut_short_is_finished_by_the_next_write(writes, name):
    figures = writes[name]["figures"]
    assert figures["left"] == [["undoing"]]
    assert len(figures["repaired"]) == 1 and figures["repaired"][0].startswith("finished the undo of upload ")


def test_the_dashboards_derivation_thread_runs_on_clickhouse(writes):
    assert writes["derive in the background"]["figures"]["failures"] == []


def test_writers_take_turns(writes):
    figures = writes["busy"]["figures"]
    assert figures["busy"].startswith("the ClickHouse warehouse is busy: ops@desk pid 7 is writing to it (for ")
    assert figures["unchanged"] is True
    assert figures["taken over"] == ["pond__write_lock"] and figures["released"] is True
    assert figures["dead holder taken over, nested"] is True
