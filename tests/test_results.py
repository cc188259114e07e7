"""Results kept beside the warehouse: round trip, the data they belong to, and old versions removed."""

from __future__ import annotations

import pandas as pd

from engine.ingest import import_file
from engine.store.results import data_stamp, load_result, results_folder, save_result


def test_a_result_comes_back_only_for_its_version_and_data(tmp_path):
    where = tmp_path / "w.duckdb"
    frame = pd.DataFrame({"user_id": ["a", "b"], "score": [0.5, 0.25], "band": ["high", "low"]})
    save_result(where, "thing-h30", 3, {"auc": 0.8, "note": None}, {"scores": frame}, stamp="10|x|y")
    values, frames = load_result(where, "thing-h30", 3, "10|x|y")
    assert values == {"auc": 0.8, "note": None}
    pd.testing.assert_frame_equal(frames["scores"], frame)
    assert load_result(where, "thing-h30", 4, "10|x|y") is None  # another version
    # a warehouse rebuilt in the same place counts its versions from the start again
    assert load_result(where, "thing-h30", 3, "11|x|y") is None
    # the next version replaces the files of the last; other names are left alone
    save_result(where, "thing-h3", 3, {}, {}, stamp="s")
    save_result(where, "thing-h30", 4, {"auc": 0.9}, {"scores": frame}, stamp="s")
    assert sorted(p.name for p in results_folder(where).iterdir()) == [
        "thing-h3-v3.json", "thing-h30-v4.json", "thing-h30-v4.scores.parquet"]


def test_a_damaged_result_is_computed_again_not_trusted(tmp_path):
    where = tmp_path / "w.duckdb"
    save_result(where, "thing", 1, {"a": 1}, {"t": pd.DataFrame({"x": [1]})}, stamp="s")
    (results_folder(where) / "thing-v1.t.parquet").write_bytes(b"not parquet")
    assert load_result(where, "thing", 1, "s") is None


def test_the_stamp_follows_the_events(con, write):
    before = data_stamp(con)
    import_file(con, write("e.csv", "user_id,event_type,event_time\nu,view,2026-01-01 10:00:00\n"))
    assert data_stamp(con) != before and data_stamp(con).startswith("1|2026-01-01 10:00:00")
