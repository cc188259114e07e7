"""The command line on ClickHouse, as a user runs it: create the tables, load a DuckDB warehouse across,
then the same `query` commands answer the same on both backends (each command its own process, as
chDB holds one data folder per process)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("chdb")

ROOT = Path(__file__).resolve().parent.parent


def pond(*args, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "engine", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ch-cli")
    base = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    duck = {**base, "POND_WAREHOUSE": str(folder / "pond.duckdb"), "POND_BACKGROUND_DERIVE": "0"}
    pond("demo", "--users", "250", "--days", "45", "--seed", "3", "--end", "2026-11-20", env=duck)
    ch = {**duck, "POND_BACKEND": "clickhouse", "POND_CLICKHOUSE_URL": f"chdb:{folder / 'ch'}"}
    return duck, ch


def test_init_prints_the_cluster_layout_without_a_server(backends):
    duck, _ = backends
    out = pond("clickhouse", "init", "--cluster", "pond", "--print", env=duck).stdout
    assert "ENGINE = ReplicatedMergeTree" in out and "cityHash64(user_id)" in out
    assert "PARTITION BY toYYYYMM(event_time)" in out and "ORDER BY (user_id, event_time)" in out
    assert out.count("CREATE TABLE") == 2 * out.count("ENGINE = Distributed")


def test_an_empty_clickhouse_says_how_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POND_")}
    env.update(POND_BACKEND="clickhouse", POND_CLICKHOUSE_URL=f"chdb:{tmp_path / 'empty'}")
    done = pond("query", "kpis", env=env, check=False)
    assert done.returncode == 1 and "clickhouse init" in done.stderr and "Traceback" not in done.stderr
    pond("clickhouse", "init", env=env)
    assert pond("summary", env=env).returncode == 0  # an empty warehouse, tables in place


def test_load_then_the_same_answers_on_both(backends):
    duck, ch = backends
    out = pond("clickhouse", "load", env=ch)
    assert "events" in out.stdout and "loaded" in out.stderr
    again = pond("clickhouse", "load", env=ch)  # a second load replaces, never doubles
    assert again.stdout == out.stdout
    for query in (["kpis", "--from", "2026-11-01", "--to", "2026-11-19"],
                  ["daily-activity", "--from", "2026-11-01", "--to", "2026-11-19"],
                  ["retention", "--period", "week"],
                  ["funnel", "--steps", "view,cart,purchase"],
                  ["rfm"],
                  ["kpis", "--from", "2026-11-01", "--to", "2026-11-19", "--where", "channel = douyin"]):
        on_duck = pd.read_csv(io.StringIO(pond("query", *query, env=duck).stdout))
        on_ch = pd.read_csv(io.StringIO(pond("query", *query, env=ch).stdout))
        assert len(on_duck) > 0, query
        key = list(on_duck.columns)
        pd.testing.assert_frame_equal(on_duck.sort_values(key, ignore_index=True),
                                      on_ch.sort_values(key, ignore_index=True), check_dtype=False, rtol=1e-6)


def test_ingest_and_undo_on_clickhouse_say_what_they_do_on_duckdb(backends, tmp_path):
    duck, ch = backends
    pond("clickhouse", "load", env=ch)
    source = tmp_path / "orders.csv"
    source.write_text("user_id,event_type,event_time,amount\nu1,purchase,2026-11-02 10:00,30\n"
                      "u1,purchase,2026-11-02 10:00,30\nu000001,view,bad time,\n", encoding="utf-8")
    said = {}
    for name, env in (("duckdb", duck), ("clickhouse", ch)):
        said[name] = pond("ingest", str(source), "--tz", "Asia/Shanghai", env=env).stdout
        kpis = pond("query", "kpis", "--format", "csv", env=env).stdout
        said[name + " kpis"] = kpis
        upload = pond("uploads", "--format", "csv", env=env).stdout
        said[name + " uploads"] = pd.read_csv(io.StringIO(upload))[["upload_id", "file_name", "status",
                                                                     "rows_imported"]].to_dict("records")
        said[name + " undo"] = pond("undo", str(int(pd.read_csv(io.StringIO(upload))["upload_id"].max())),
                                    env=env).stdout
    assert said["duckdb"] == said["clickhouse"] and "imported 1, rejected 1, duplicates skipped 1" in said["duckdb"]
    assert said["duckdb kpis"] == said["clickhouse kpis"]
    assert said["duckdb uploads"] == said["clickhouse uploads"]
    assert said["duckdb undo"] == said["clickhouse undo"] and said["duckdb undo"]


def test_a_demo_build_on_clickhouse_is_refused_with_the_way_round(backends):
    _, ch = backends
    done = pond("demo", "--users", "10", env=ch, check=False)
    assert done.returncode == 1 and "clickhouse load" in done.stderr and "Traceback" not in done.stderr
