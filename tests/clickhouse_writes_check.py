"""The same writes on DuckDB and on chDB, and the tables compared after each (issue 22).

Run as a script (``python tests/clickhouse_writes_check.py FOLDER``), in a process of its own: chDB holds
one data folder per process, and the parity tests' shared warehouse must not see these writes. It prints
one JSON line per step, ``{"step", "diff": {table: "..."}, "figures": {...}}``; tests/test_clickhouse_writes.py
asserts on them. Both warehouses start from the same demo; DuckDB takes each write through the importer's
one transaction, ClickHouse through engine.store.chwrites.
"""

from __future__ import annotations

import json
import math
import os
import sys
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import ingest  # noqa: E402
from engine.customers import segments  # noqa: E402
from engine.customers.tags import ensure_interest_tags  # noqa: E402
from engine.ingest import demo  # noqa: E402
from engine.store import chwrites, clickhouse, warehouse  # noqa: E402

END = date(2026, 11, 1)

#: hand-made exports of the shapes real ones have: a reject of each kind, a repeated line, attributes,
#: an order split over lines, a personal id, a refund; then one overlapping the first, and assignments
ORDERS = """user_id,event_type,event_time,item_id,category,price,amount,order_id,channel,gender,city
u000001,view,2026-10-20 09:00:00,i0001,shoes,99,,,wechat_group,F,Hangzhou
u000001,purchase,2026-10-20 09:05:00,i0001,shoes,99,99,o1,wechat_group,,
u000001,purchase,2026-10-20 09:05:00,i0001,shoes,99,99,o1,wechat_group,,
buyer9,view,2026-10-31 23:30:00,i_new,hats,15,,,douyin,M,
buyer9,cart,2026-11-01 00:10:00,i_new,hats,15,,,douyin,,
buyer9,purchase,2026-11-01 00:12:00,i_new,hats,15,30,o2,douyin,,
13812345678,view,2026-10-25 12:00:00,i0002,,,,,mini_program,,
,view,2026-10-25 12:00:00,i0002,,,,,,,
u000003,purchase,not a time,i0003,,,10,o3,,,
u000004,refund,2026-10-26 08:00:00,i0004,,,-20,o4,live,,
"""
OVERLAP = """user_id,event_type,event_time,item_id,category,price,amount,order_id,channel,gender,city
u000001,view,2026-10-20 09:00:00,i0001,shoes,99,,,wechat_group,F,Hangzhou
buyer9,view,2026-10-31 23:30:00,i_new,caps,,,,douyin,,Ningbo
u000002,view,2026-10-28 10:00:00,i0001,,120,,,official_account,,
u000002,share,2026-10-28 10:01:00,i0001,,,,,official_account,,
late7,view,2026-10-29 10:00:00,i0009,bags,,,,xiaohongshu,,
"""
ASSIGN = "user_id,experiment,variant\nu000001,hero_image,A\nu000002,hero_image,B\nbuyer9,hero_image,A\n"
LATER = """user_id,event_type,event_time,item_id
late8,view,2026-10-30 10:00:00,i0001
u000005,click,2026-10-30 10:02:00,i0002
"""

MORE = "user_id,event_type,event_time,item_id,category\nbuyer9,view,2026-10-30 08:00:00,i0007,bags\n"
BAD = "user_id,event_type,event_time\nu000001,view,not a time\nu000002,view,31/31/2026\n"

#: the columns compared per table (ledger times and the audit's clock differ by nature)
COMPARED = {
    "events": "cast(event_id as varchar) as event_id, event_time, user_id, event_type, item_id, category, "
              "content_id, campaign_id, channel, community_id, referrer_id, session_id, order_id, quantity, "
              "amount, upload_id",
    "users": "*", "items": "*", "experiments": "*", "upload_rejects": "*", "user_day": "*",
    "daily_events": "*", "user_day_type": "*", "content_day": "*", "contents": "*", "campaigns": "*",
    "communities": "*",
    "uploads": "upload_id, file_name, sha256, format, timezone, rows_read, rows_imported, rows_rejected, "
               "rows_duplicate, first_event, last_event, status, message",
    "meta": "key, value",
    "user_tags": "user_id, tag, score",
    "mappings": "signature, columns, plan, upload_id",
    "segments": "name, definition, saved_by", "segment_user_lists": "*",
    "audit": "actor, action, detail, rows, ok",
}


def _cell(value: object) -> object:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return float(f"{value:.6g}")
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return str(value) if not isinstance(value, (int, bool)) else value


def rows(con, table: str) -> list[tuple]:
    frame = con.execute(f"select {COMPARED[table]} from {table}").df()
    cells = sorted((tuple(_cell(v) for v in row) for row in frame.itertuples(index=False, name=None)),
                   key=repr)
    return cells


def diff(duck, ch, tables=tuple(COMPARED)) -> dict[str, str]:
    out = {}
    for table in tables:
        a, b = rows(duck, table), rows(ch, table)
        if a != b:
            only_a = [r for r in a if r not in b][:3]
            only_b = [r for r in b if r not in a][:3]
            out[table] = f"DuckDB {len(a)} rows, ClickHouse {len(b)}; only DuckDB: {only_a}; only ClickHouse: {only_b}"
    return out


def replace_demo(folder: Path, files: dict[str, Path]) -> None:
    """The first real import replaces the demo; a mapping the operator chose is remembered."""
    with warehouse.connect(folder / "pond.duckdb") as duck:
        demo.build_demo(duck, users=80, days=30, seed=5, end=END)
        ch = clickhouse.ClickHouseConnection(f"chdb:{folder / 'ch'}")
        clickhouse.load_from_duckdb(duck, ch)
        results = [ingest.import_file(con, files["orders.csv"], timezone="Asia/Shanghai", derive=False,
                                      demo="replace") for con in (duck, ch)]
        print(json.dumps({"step": "replace the demo", "diff": diff(duck, ch),
                          "figures": {"summary": [r.summary for r in results], "notes": [r.notes for r in results]}},
                         default=str), flush=True)
        chosen = []
        for con in (duck, ch):
            _, plan = ingest.inspect_file(files["later.csv"], con=con)
            plan.set_column("item_id", None)  # the operator's choice: this export's item ids are not ours
            chosen.append(ingest.import_file(con, files["later.csv"], plan=plan, timezone="Asia/Shanghai",
                                             derive=False))
        print(json.dumps({"step": "a chosen mapping", "diff": diff(duck, ch),
                          "figures": {"notes": [r.notes for r in chosen]}}, default=str), flush=True)
        ch.close()


def main(folder: Path, mode: str = "writes") -> int:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, text in (("orders.csv", ORDERS), ("overlap.csv", OVERLAP), ("ab.csv", ASSIGN),
                       ("later.csv", LATER), ("bad.csv", BAD), ("more.csv", MORE)):
        files[name] = folder / name
        files[name].write_text(text, encoding="utf-8")
    os.environ["POND_KEY_FILE"] = str(folder / "pond.key")  # one key: the same pseudonyms on both
    if mode == "demo":
        replace_demo(folder, files)
        return 0
    with warehouse.connect(folder / "pond.duckdb") as duck:
        demo.build_demo(duck, users=120, days=40, seed=3, end=END)
        ch = clickhouse.ClickHouseConnection(f"chdb:{folder / 'ch'}")
        clickhouse.load_from_duckdb(duck, ch)
        ids = {}

        def step(name: str, action, tables=tuple(COMPARED), **figures) -> None:
            results = [action(duck), action(ch)]
            shown = {k: v(*results) for k, v in figures.items()}
            print(json.dumps({"step": name, "diff": diff(duck, ch, tables), "figures": shown}, default=str),
                  flush=True)

        def summary(a, b):
            return [a.summary if hasattr(a, "summary") else str(a), b.summary if hasattr(b, "summary") else str(b)]

        def imported(name, **kw):
            def run(con):
                result = ingest.import_file(con, files[name], timezone="Asia/Shanghai", derive=False, **kw)
                ids[name] = result.upload_id
                return result
            return run

        step("import orders", imported("orders.csv"), summary=summary)
        step("import orders again", imported("orders.csv"), summary=summary)

        def refused(con):
            try:
                ingest.import_file(con, files["bad.csv"], derive=False)
            except Exception as exc:  # noqa: BLE001 - the message is the figure
                return str(exc)
            return "imported"

        step("a refused file", refused, refused=lambda a, b: [a, b],
             leftovers=lambda a, b: sorted(n for n in chwrites.tables(ch) if "__pond" in n))
        step("import overlap", imported("overlap.csv"), summary=summary)
        step("import assignments", imported("ab.csv"), summary=summary)
        step("derive tags", ensure_interest_tags, tables=("user_tags", "meta"))

        # the dashboard's thread after an upload (ui.derive), on ClickHouse: tags derived, nothing raised
        import logging

        import ui.derive

        failures = []
        handler = logging.Handler()
        handler.emit = lambda record: failures.append(record.getMessage())
        logging.getLogger().addHandler(handler)
        os.environ.update(POND_BACKEND="clickhouse", POND_CLICKHOUSE_URL=f"chdb:{folder / 'ch'}")
        try:
            imported("more.csv")(duck)  # a version the thread has not derived yet
            imported("more.csv")(ch)
            ensure_interest_tags(duck)
            ui.derive.derive_in_background("clickhouse").join(120)
        finally:
            del os.environ["POND_BACKEND"], os.environ["POND_CLICKHOUSE_URL"]
            logging.getLogger().removeHandler(handler)
        print(json.dumps({"step": "derive in the background", "diff": diff(duck, ch, ("user_tags", "meta")),
                          "figures": {"failures": failures}}), flush=True)

        def saved(con):
            buyers = segments.SegmentDefinition((segments.Condition("event", event="purchase", count=1),))
            segments.save_segment(con, "buyers", buyers)
            segments.save_segment(con, "buyers again", buyers)
            segments.save_segment(con, "buyers", buyers)  # overwritten, not doubled
            segments.save_user_list(con, "picked", ["u000001", "buyer9", "u000002"])
            segments.delete_segment(con, "buyers again")
            return segments.segment_count(con, segments.load_segment(con, "picked"))

        step("save segments", saved, tables=("segments", "segment_user_lists", "meta"),
             counted=lambda a, b: [a, b])
        step("undo orders", lambda con: ingest.undo_upload(con, ids["orders.csv"], derive=False),
             removed=lambda a, b: [a.rows_removed, b.rows_removed])
        step("undo assignments", lambda con: ingest.undo_upload(con, ids["ab.csv"], derive=False),
             removed=lambda a, b: [a.rows_removed, b.rows_removed])
        step("import orders after its undo", imported("orders.csv"), summary=summary)

        # an undo killed part way (after its events went, before the users or the rollups were recomputed):
        # the next write finishes it, and the tables are what DuckDB's undo left
        for name, cut_at in (("orders.csv", (warehouse, "refresh_rollups")), ("overlap.csv", (chwrites, "merge_users"))):
            ingest.undo_upload(duck, ids[name], derive=False)
            original_step = getattr(*cut_at)

            def cut(*args, **kwargs):
                raise KeyboardInterrupt("killed")

            setattr(*cut_at, cut)
            try:
                ingest.undo_upload(ch, ids[name], derive=False)
            except KeyboardInterrupt:
                pass
            finally:
                setattr(*cut_at, original_step)
            left = ch.execute("select status from uploads where upload_id = ?", [ids[name]]).fetchall()
            repaired = chwrites.repair(ch)
            print(json.dumps({"step": f"undo of {name} cut at {cut_at[1]}",
                              "diff": diff(duck, ch, tuple(t for t in COMPARED if t != "audit")),
                              "figures": {"left": left, "repaired": repaired}}, default=str), flush=True)

        # another writer holds the lock: refused, saying who, nothing changed; a killed writer's old lock
        # is taken over
        clickhouse.DEFAULT_LOCK_TIMEOUT = 1.0
        ch.command("CREATE TABLE pond__write_lock (holder String, since DateTime64(6, 'UTC')) ENGINE = Log")
        ch.command("INSERT INTO pond__write_lock VALUES ('ops@desk pid 7', now64(6, 'UTC'))")
        before = rows(ch, "events")
        try:
            ingest.import_file(ch, files["later.csv"], timezone="Asia/Shanghai", derive=False)
            busy = "imported"
        except Exception as exc:  # noqa: BLE001 - the message is the figure
            busy = str(exc)
        unchanged = rows(ch, "events") == before
        ch.command("DROP TABLE pond__write_lock")
        ch.command("CREATE TABLE pond__write_lock (holder String, since DateTime64(6, 'UTC')) ENGINE = Log")
        ch.command("INSERT INTO pond__write_lock VALUES ('ops@desk pid 7', now64(6, 'UTC') - INTERVAL 2 HOUR)")
        with ch.write_lock():
            taken = sorted(n for n in chwrites.tables(ch) if n.startswith("pond__write_lock"))
        # the holder was a process of this machine that is gone: taken over at once; re-entered by its thread
        import socket

        ch.command("CREATE TABLE pond__write_lock (holder String, since DateTime64(6, 'UTC')) ENGINE = Log")
        ch.execute("insert into pond__write_lock values (?, now())", [f"ops@{socket.gethostname()} pid 999999"])
        with ch.write_lock(timeout=0), ch.write_lock(timeout=0):
            nested = True
        print(json.dumps({"step": "busy", "diff": {}, "figures": {
            "busy": busy, "unchanged": unchanged, "taken over": taken, "dead holder taken over, nested": nested,
            "released": not any(n.startswith("pond__write_lock") for n in chwrites.tables(ch))}}), flush=True)

        # an import killed after its events went in: the next write removes it, as if it never ran
        original = chwrites.merge_users

        def killed(_ch):
            raise KeyboardInterrupt("killed")

        chwrites.merge_users = killed
        try:
            ingest.import_file(ch, files["later.csv"], timezone="Asia/Shanghai", derive=False)
        except KeyboardInterrupt:
            pass
        finally:
            chwrites.merge_users = original
        half = ch.execute("select status from uploads where file_name = 'later.csv'").fetchall()
        repaired = chwrites.repair(ch)
        tables = tuple(t for t in COMPARED if t not in ("uploads", "meta", "audit", "items"))
        print(json.dumps({"step": "repair", "diff": diff(duck, ch, tables),
                          "figures": {"left": half, "repaired": repaired,
                                      "after": ch.execute("select status, rows_imported from uploads "
                                                          "where file_name = 'later.csv'").fetchall()}},
                         default=str), flush=True)
        ch.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), *sys.argv[2:]))
