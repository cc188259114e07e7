"""Every page run headless with AppTest: no exceptions, true numbers, uploads, undo, empty states."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from engine.behaviour import metrics
from engine.ingest.demo import build_demo
from engine.store import warehouse
from tests.conftest import use_private_copy

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


@pytest.fixture(autouse=True)
def _clear_caches(clear_streamlit_caches):
    """Every test starts with empty Streamlit caches."""


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pages") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=300, days=40, seed=2, end=date(2026, 3, 1))
    return path


@pytest.fixture
def demo(demo_file, tmp_path, monkeypatch) -> Path:
    """A private copy of the demo warehouse, set as the dashboard's warehouse."""
    return use_private_copy(demo_file, tmp_path, monkeypatch)


def warehouse_of(tmp_path, monkeypatch, csv_text: str) -> Path:
    """A warehouse holding just the events of ``csv_text``, set as the dashboard's warehouse."""
    from engine.ingest import import_file

    path = tmp_path / "small.duckdb"
    csv = tmp_path / "small.csv"
    csv.write_text(csv_text)
    with warehouse.connect(path) as con:
        import_file(con, csv)
    monkeypatch.setenv("POND_WAREHOUSE", str(path))
    return path


def open_tab(at: AppTest, key: str, label: str) -> AppTest:
    """Select a page's tab (only the open tab's content runs) and rerun."""
    at.session_state[key] = label
    return at.run()


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


def chart_traces(at: AppTest, index: int = 0) -> list[str]:
    """Names of the traces of the page's ``index``-th plotly chart."""
    import json

    return [t.get("name") for t in json.loads(at.get("plotly_chart")[index].proto.spec)["data"]]


def no_errors(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_overview_shows_the_kpis_the_engine_computes(demo):
    at = app().run()
    no_errors(at)
    shown = {m.label: m.value for m in at.metric}
    with warehouse.connect(demo) as con:
        events = con.execute("select count(*) from events").fetchone()[0]
        # default filters: the last 30 business days, all channels
        expected = metrics.kpi_comparison(con, metrics.Period(date(2026, 1, 30), date(2026, 2, 28)))
    assert shown["Events"] == f"{events:,}"
    assert shown["WAU"] == f"{int(expected.set_index('kpi').loc['wau', 'value']):,}"
    assert shown["Conversion rate"] == f"{expected.set_index('kpi').loc['conversion_rate', 'value']:.1%}"
    assert shown["MAU"] == f"{int(expected.set_index('kpi').loc['mau', 'value']):,}"
    assert [m.label for m in at.metric][5:] == list(metrics.KPI_LABELS.values())
    # 40 days of data: the 30 days before the default range are not all covered, so no change is shown
    assert expected["previous"].isna().all()
    assert any("no comparison: data starts on 2026-01-" in c.value for c in at.caption), [c.value for c in at.caption]
    assert all(not m.delta for m in at.metric[5:]), [m.delta for m in at.metric]
    assert len(at.get("plotly_chart")) == 4
    assert len(at.get("download_button")) == 4


def test_channel_filter_changes_the_figures(demo):
    at = app().run()
    all_users = {m.label: m.value for m in at.metric}["MAU"]
    at.sidebar.selectbox[0].select("douyin").run()
    no_errors(at)
    assert {m.label: m.value for m in at.metric}["MAU"] != all_users
    assert "douyin" in at.caption[-1].value or any("douyin" in c.value for c in at.caption)


def test_days_without_events_show_an_empty_state(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch,
                 "user_id,event_type,event_time\na,view,2024-01-01 10:00\nb,view,2024-01-10 10:00\n")
    at = app().run()
    at.sidebar.date_input[0].set_value((date(2024, 1, 3), date(2024, 1, 5))).run()
    no_errors(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["DAU (average)"] == "0.0"
    assert any("No events in the chosen days" in i.value for i in at.info)


@pytest.mark.parametrize("page", ["views/overview.py", "views/upload.py"])
def test_each_page_runs_on_its_own(demo, page):
    at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT).run()
    no_errors(at)


def test_first_start_builds_the_demo(tmp_path, monkeypatch):
    import ui.data

    path = tmp_path / "fresh" / "pond.duckdb"
    monkeypatch.setenv("POND_WAREHOUSE", str(path))
    monkeypatch.setattr(ui.data, "FIRST_START_DEMO", {"users": 120, "days": 30, "seed": 1})
    at = app().run()
    no_errors(at)
    assert path.exists()
    assert {m.label: m.value for m in at.metric}["Users"] == "120"


def test_empty_warehouse_says_what_to_do(tmp_path, monkeypatch):
    path = tmp_path / "empty.duckdb"
    with warehouse.connect(path):
        pass
    monkeypatch.setenv("POND_WAREHOUSE", str(path))
    at = app().run()
    no_errors(at)
    assert any("holds no events yet" in i.value for i in at.info)
    at.switch_page("views/upload.py").run()
    no_errors(at)
    assert any("No imports yet" in i.value for i in at.info)
    at.switch_page("views/recommendations.py").run()
    no_errors(at)
    assert any("holds no events yet" in i.value for i in at.info)


def upload_page(demo) -> AppTest:
    at = app().run()
    at.switch_page("views/upload.py").run()
    no_errors(at)
    return at


def test_upload_preview_import_and_undo(demo):
    at = upload_page(demo)
    content = ("会员ID,行为,时间,金额\nm1,浏览,2026-02-27 10:00:00,\nm1,购买,2026-02-27 10:30:00,88\n"
               "m2,加购,not a time,\n").encode("gb18030")
    at.get("file_uploader")[0].upload("shop.csv", content, "text/csv").run()
    no_errors(at)
    assert any("Detected:** generic" in m.value and "gb18030" in m.value for m in at.markdown)
    at.button(key="file-0-shop.csv-import").click().run()
    no_errors(at)
    assert any("Imported shop.csv as upload 2" in s.value for s in at.success)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Rows read"], shown["Imported"], shown["Rejected"]) == ("3", "2", "1")
    with warehouse.connect(demo) as con:
        assert con.execute("select count(*) from events where upload_id = 2").fetchone() == (2,)
    # the interest tags of the new version are derived by a thread of the server, after the page returned
    import ui.derive
    from engine.customers.tags import tags_are_current

    deadline = time.monotonic() + 60
    while ui.derive.deriving(str(demo)) and time.monotonic() < deadline:
        time.sleep(0.05)
    with warehouse.connect(demo) as con:
        assert tags_are_current(con)
    # the history lists it; undo needs the confirmation first
    assert at.selectbox(key="history-upload").options[0].startswith("#2 · shop.csv")
    at.selectbox(key="history-upload").select_index(0).run()
    assert at.button(key="history-undo").disabled
    at.checkbox(key="history-confirm-2").check().run()
    at.button(key="history-undo").click().run()
    no_errors(at)
    # the confirmation survives the rerun that shows the ledger with the upload undone
    assert [s.value for s in at.success if s.value.startswith("Undid")] == [
        "Undid upload 2 (shop.csv): removed 2 events."]
    assert "This upload is undone." in [c.value for c in at.caption]
    with warehouse.connect(demo) as con:
        assert con.execute("select count(*) from events where upload_id = 2").fetchone() == (0,)
        assert con.execute("select status from uploads where upload_id = 2").fetchone() == ("undone",)
    # the undo, too, leaves the tags to the server's thread, which makes them current again
    deadline = time.monotonic() + 60
    while ui.derive.deriving(str(demo)) and time.monotonic() < deadline:
        time.sleep(0.05)
    with warehouse.connect(demo) as con:
        assert tags_are_current(con)
        assert con.execute("select count(*) from user_tags where user_id = 'm1'").fetchone() == (0,)


def test_a_version_made_outside_the_dashboard_is_derived_on_the_first_view(demo, monkeypatch):
    # a command-line import made a version this server never wrote: the first page view starts the
    # thread that derives its tags and churn results, and later reruns of that version do not
    import ui.derive
    from engine.customers.tags import tags_are_current
    from engine.ingest import import_file
    from engine.store.results import data_stamp, load_result

    monkeypatch.setenv("POND_BACKGROUND_DERIVE", "1")
    csv = demo.parent / "cli.csv"
    csv.write_text("user_id,event_type,event_time,category\nz9,view,2026-02-28 10:00:00,c1\n")
    with warehouse.connect(demo) as con:
        import_file(con, csv, derive=False)
        version, stamp = warehouse.data_version(con), data_stamp(con)
        assert not tags_are_current(con)
    assert load_result(demo, "churn-risk-h30-i30", version, stamp) is None
    no_errors(app().run())
    deadline = time.monotonic() + 60
    while ui.derive.deriving(str(demo)) and time.monotonic() < deadline:
        time.sleep(0.05)
    with warehouse.connect(demo) as con:
        assert tags_are_current(con)
    # (this 40-day demo is too short for the propensity model's cut-offs: the page says so when opened)
    assert load_result(demo, "churn-risk-h30-i30", version, stamp) is not None
    assert ui.derive.derive_when_new(str(demo), version) is None  # seen: no second thread
    monkeypatch.setenv("POND_BACKGROUND_DERIVE", "0")
    assert ui.derive.derive_when_new(str(demo), version + 1) is None  # switched off


def test_mapping_can_be_edited_before_import(demo):
    at = upload_page(demo)
    at.get("file_uploader")[0].upload("odd.csv", b"who,what,moment\nz1,view,2026-02-27 10:00:00\n").run()
    no_errors(at)
    at.selectbox(key="file-0-odd.csv-map-user_id").select("who").run()
    at.selectbox(key="file-0-odd.csv-map-event_type").select("what").run()
    at.selectbox(key="file-0-odd.csv-map-event_time").select("moment").run()
    at.button(key="file-0-odd.csv-import").click().run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        assert con.execute("select user_id, event_type from events where upload_id = 2").fetchall() == [
            ("z1", "view")]


def test_refused_upload_says_why_and_changes_nothing(demo):
    at = upload_page(demo)
    with warehouse.connect(demo) as con:
        version = warehouse.data_version(con)
    at.get("file_uploader")[0].upload("bad.csv", b"a,b\n1,2\n").run()
    assert not at.exception
    # said before the click, and Import cannot be clicked until a user and a time are mapped
    assert any("Import would be refused" in w.value and "no user column" in w.value for w in at.warning)
    assert at.button(key="file-0-bad.csv-import").disabled
    with warehouse.connect(demo) as con:
        assert warehouse.data_version(con) == version


def test_unreadable_file_is_explained_before_import(demo):
    at = upload_page(demo)
    at.get("file_uploader")[0].upload("empty.csv", b"").run()
    assert not at.exception
    assert any("the file is empty" in e.value for e in at.error)


def test_busy_warehouse_shows_a_warning_not_a_crash(demo, monkeypatch):
    import ui.data

    monkeypatch.setattr(ui.data, "READ_LOCK_TIMEOUT", 0.3)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(demo)!r})
        print("locked", flush=True)
        time.sleep(30)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        at = app().run()
        assert not at.exception
        assert any("is busy" in w.value and str(holder.pid) in w.value for w in at.warning)
    finally:
        holder.kill()
        holder.wait()


def test_retention_page_with_every_control(demo):
    at = app().run()
    at.switch_page("views/retention.py").run()
    no_errors(at)
    assert len(at.get("plotly_chart")) == 3
    at.get("segmented_control")[0].set_value("day").run()
    at.selectbox(key="ret-start").select("signup").run()
    at.selectbox(key="ret-return").select("any").run()
    at.radio(key="ret-cohorts").set_value("recurring").run()
    at.radio(key="ret-mode").set_value("on or after").run()
    at.selectbox(key="ret-breakdown").select("channel").run()
    no_errors(at)
    assert at.selectbox(key="ret-segment").options[0] == "douyin"
    at.selectbox(key="ret-segment").select("referral").run()
    no_errors(at)


def test_retention_page_breaks_down_by_a_start_event_property(demo):
    at = app().run()
    at.switch_page("views/retention.py").run()
    at.selectbox(key="ret-breakdown").select("category").run()
    no_errors(at)
    shown = at.selectbox(key="ret-segment").options
    # the top 5 categories of the first purchase, then Other and (none) at most
    assert 1 <= len(shown) <= 7 and "All users" not in shown
    assert len([s for s in shown if s not in ("Other", "(none)")]) <= 5


def test_retention_drill_down_lists_the_cells_users(demo):
    from engine.behaviour.retention import RetentionQuery, retention_cell_users

    at = app().run()
    at.switch_page("views/retention.py").run()
    cohort = at.selectbox(key="ret-cell-cohort").value
    at.radio(key="ret-cell-which").set_value("all").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        expected = retention_cell_users(con, RetentionQuery(start=date(2026, 1, 30), end=date(2026, 2, 28)),
                                        segment="All users", cohort=cohort, period=1)
    assert at.dataframe[0].value["user_id"].tolist() == expected["user_id"].tolist()
    # the caption names the cohort's days (its whole week), not a bare date
    assert any(f"{len(expected):,} users · cohort {cohort:%b} {cohort.day}–" in c.value for c in at.caption)


def test_retention_empty_state(demo):
    at = app().run()
    at.sidebar.selectbox[0].select("referral").run()  # referral users ...
    at.switch_page("views/retention.py").run()
    at.selectbox(key="ret-start").select("coupon_redeem").run()  # ... who redeemed a coupon
    at.sidebar.date_input[0].set_value((date(2026, 1, 20), date(2026, 1, 21))).run()
    no_errors(at)
    assert any("No user did" in i.value for i in at.info)


def test_funnel_page_with_every_control(demo):
    from engine.behaviour.funnels import FunnelQuery, funnel

    at = app().run()
    at.switch_page("views/funnels.py").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        expected = funnel(con, FunnelQuery(start=date(2026, 1, 30), end=date(2026, 2, 28)))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Entered"] == f"{expected.steps['users'].iloc[0]:,}"
    assert shown["Completed"] == f"{expected.steps['users'].iloc[-1]:,}"
    at.number_input(key="fun-count").set_value(4).run()
    at.selectbox(key="fun-step-3").select("refund").run()
    at.selectbox(key="fun-order").select("strict").run()
    at.checkbox(key="fun-same-item").check().run()
    at.selectbox(key="fun-breakdown").select("channel").run()
    no_errors(at)
    at.selectbox(key="fun-drop-step").select(2).run()
    no_errors(at)


def test_funnel_page_empty_state(demo):
    at = app().run()
    at.switch_page("views/funnels.py").run()
    at.selectbox(key="fun-step-0").select("refund").run()
    at.sidebar.date_input[0].set_value((date(2026, 1, 20), date(2026, 1, 20))).run()
    no_errors(at)
    assert any("Nobody did “refund”" in i.value for i in at.info)


def test_content_page_with_every_control(demo):
    from engine.behaviour.content import content_performance, engagement_summary

    at = app().run()
    at.switch_page("views/content.py").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        days = {"start": date(2026, 1, 30), "end": date(2026, 2, 28)}
        summary = engagement_summary(con, content_performance(con, **days), **days)
    assert {m.label: m.value for m in at.metric}["CTR"] == f"{summary['ctr']:.2%}"
    for by in ("campaign", "channel", "content"):
        at.get("segmented_control")[0].set_value(by).run()
        no_errors(at)
    at.selectbox(key="ctr-metric").select("share_rate").run()
    at.number_input(key="ctr-min").set_value(0).run()
    at.selectbox(key="ctr-focus").select_index(1).run()
    no_errors(at)
    assert len(at.get("plotly_chart")) == 1


def test_content_page_empty_state(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, "user_id,event_type,event_time\na,view,2024-01-01 10:00\n")
    at = app().run()
    at.switch_page("views/content.py").run()
    no_errors(at)
    assert any("No impressions in the chosen days" in i.value for i in at.info)


def test_communities_page_with_every_control(demo):
    from engine.behaviour.communities import community_leaderboard

    at = app().run()
    at.switch_page("views/communities.py").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        board = community_leaderboard(con, start=date(2026, 1, 30), end=date(2026, 2, 28))
    assert {m.label: m.value for m in at.metric}["Active members"] == f"{int(board['active_members'].sum()):,}"
    assert len(at.get("plotly_chart")) == 1
    for grain in ("day", "month"):
        at.segmented_control(key="com-period").set_value(grain).run()
        no_errors(at)
    open_tab(at, "communities-tab", "Lifecycle and stickiness")
    no_errors(at)
    assert len(at.get("plotly_chart")) == 2
    for grain in ("day", "month"):
        at.segmented_control(key="life-period").set_value(grain).run()
        no_errors(at)


def test_communities_page_without_groups(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, "user_id,event_type,event_time\na,view,2024-01-01 10:00\n")
    at = app().run()
    at.switch_page("views/communities.py").run()
    no_errors(at)
    assert any("No community has members yet" in i.value for i in at.info)


def test_segments_page_rfm_and_rule_editing(demo):
    from engine.customers.rfm import rfm_scores

    at = app().run()
    at.switch_page("views/segments.py").run()
    open_tab(at, "segments-tab", "RFM")
    no_errors(at)
    with warehouse.connect(demo) as con:
        scores = rfm_scores(con, as_of=date(2026, 2, 28), lookback_days=365)
    assert {m.label: m.value for m in at.metric}["Customers"] == f"{len(scores):,}"
    assert len(at.get("plotly_chart")) == 2  # RFM treemap and transitions
    at.multiselect(key="rfm-pick").select("Champions").run()
    no_errors(at)
    customers = next(d.value for d in at.dataframe if "recency_days" in d.value.columns)
    assert set(customers["segment"]) == {"Champions"}
    assert len(customers) == (scores["segment"] == "Champions").sum()
    at.number_input(key="rfm-lookback").set_value(60).run()
    at.button(key="rfm-reset").click().run()
    no_errors(at)


def test_segment_builder_counts_saves_and_loads(demo):
    from engine.customers.segments import Condition, SegmentDefinition, load_segment, segment_count

    at = app().run()
    at.switch_page("views/segments.py").run()
    first = at.session_state["pond_segment_conditions"][0]["id"]
    at.number_input(key=f"seg-{first}-count").set_value(2).run()
    at.button(key="seg-add").click().run()
    second = at.session_state["pond_segment_conditions"][1]["id"]
    at.selectbox(key=f"seg-{second}-kind").select("property").run()
    assert any("choose at least one value" in w.value for w in at.warning)
    at.multiselect(key=f"seg-{second}-values-acquisition_channel").select("douyin").run()
    no_errors(at)
    expected = SegmentDefinition((Condition("event", event="purchase", count=2),
                                  Condition("property", field="acquisition_channel", values=("douyin",))))
    with warehouse.connect(demo) as con:
        count = segment_count(con, expected)
    assert any(m.value.startswith(f"**{count:,} users**") for m in at.markdown)
    at.text_input(key="seg-name").input("Douyin repeat buyers").run()
    at.button(key="seg-save").click().run()
    assert any("Saved “Douyin repeat buyers”" in s.value for s in at.success)
    with warehouse.connect(demo) as con:
        assert load_segment(con, "Douyin repeat buyers") == expected
    at.button(key=f"seg-{second}-remove").click().run()
    assert len(at.session_state["pond_segment_conditions"]) == 1
    at.selectbox(key="seg-saved").select("Douyin repeat buyers").run()
    at.button(key="seg-load").click().run()
    no_errors(at)
    assert len(at.session_state["pond_segment_conditions"]) == 2
    assert any(m.value.startswith(f"**{count:,} users**") for m in at.markdown)


def test_segment_of_four_conditions_saved_reloaded_edited_and_saved_again(demo):
    from engine.customers.segments import Condition, SegmentDefinition, load_segment, segment_count

    at = app().run()
    at.switch_page("views/segments.py").run()
    for _ in range(3):  # add, add, add: the third used to crash on a repeated widget key
        at.button(key="seg-add").click().run()
        no_errors(at)
    ids = [c["id"] for c in at.session_state["pond_segment_conditions"]]
    assert len(ids) == 4 and len(set(ids)) == 4
    at.number_input(key=f"seg-{ids[0]}-count").set_value(2).run()
    at.selectbox(key=f"seg-{ids[1]}-event").select("view").run()
    at.number_input(key=f"seg-{ids[1]}-days").set_value(60).run()
    at.selectbox(key=f"seg-{ids[2]}-kind").select("property").run()
    at.multiselect(key=f"seg-{ids[2]}-values-acquisition_channel").select("douyin").run()
    at.selectbox(key=f"seg-{ids[3]}-op").select("<=").run()
    at.number_input(key=f"seg-{ids[3]}-count").set_value(3).run()
    at.selectbox(key=f"seg-{ids[3]}-event").select("cart").run()
    no_errors(at)
    expected = SegmentDefinition((Condition("event", event="purchase", count=2),
                                  Condition("event", event="view", days=60),
                                  Condition("property", field="acquisition_channel", values=("douyin",)),
                                  Condition("event", event="cart", op="<=", count=3)))
    at.text_input(key="seg-name").input("Four rules").run()
    at.button(key="seg-save").click().run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        assert load_segment(con, "Four rules") == expected
        count = segment_count(con, expected)

    again = app().run()  # a new session: load the saved segment, it must be the same segment
    again.switch_page("views/segments.py").run()
    again.selectbox(key="seg-saved").select("Four rules").run()
    again.button(key="seg-load").click().run()
    no_errors(again)
    loaded = again.session_state["pond_segment_conditions"]
    assert [(c["kind"], c["event"], c["op"], c["count"], c["days"]) for c in loaded] == [
        ("event", "purchase", ">=", 2, 30), ("event", "view", ">=", 1, 60), ("property", None, ">=", 1, 30),
        ("event", "cart", "<=", 3, 30)]
    assert again.number_input(key=f"seg-{loaded[0]['id']}-count").value == 2
    assert any(m.value.startswith(f"**{count:,} users**") for m in again.markdown)
    again.number_input(key=f"seg-{loaded[3]['id']}-count").set_value(5).run()  # edit, save again
    again.text_input(key="seg-name").input("Four rules").run()
    again.button(key="seg-save").click().run()
    no_errors(again)
    with warehouse.connect(demo) as con:
        stored = load_segment(con, "Four rules")
    assert stored.conditions[3].count == 5 and stored.conditions[:3] == expected.conditions[:3]


def test_segments_page_without_buyers(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, "user_id,event_type,event_time\na,view,2024-01-01 10:00\n")
    at = app().run()
    at.switch_page("views/segments.py").run()
    open_tab(at, "segments-tab", "RFM")
    no_errors(at)
    assert any("Nobody bought" in i.value for i in at.info)


def test_saved_segment_breakdown_on_retention_and_funnels(demo):
    from engine.customers.segments import Condition, SegmentDefinition, save_segment

    with warehouse.connect(demo) as con:
        save_segment(con, "Douyin", SegmentDefinition((
            Condition("property", field="acquisition_channel", values=("douyin",)),)))
    at = app().run()
    at.switch_page("views/retention.py").run()
    at.selectbox(key="ret-breakdown").select("segment").run()
    no_errors(at)
    assert at.selectbox(key="ret-segment").options == ["Douyin", "Everyone else"]
    at.switch_page("views/funnels.py").run()
    at.selectbox(key="fun-breakdown").select("segment").run()
    no_errors(at)
    assert set(at.dataframe[0].value["segment"]) == {"Douyin", "Everyone else"}


def test_portraits_tab(demo):
    from engine.customers.segments import Condition, SegmentDefinition, save_segment

    with warehouse.connect(demo) as con:
        save_segment(con, "Buyers", SegmentDefinition((Condition("event", event="purchase"),)))
    at = app().run()
    at.switch_page("views/segments.py").run()
    open_tab(at, "segments-tab", "Portraits")
    no_errors(at)
    assert len(at.get("plotly_chart")) == 7  # the portrait of everyone
    at.selectbox(key="portrait-who").select("Buyers").run()
    no_errors(at)
    assert {m.label: m.value for m in at.metric}["Buyers"] != "0"


def test_user_360_lookup(demo):
    from engine.customers.user360 import user_timeline

    at = app().run()
    at.switch_page("views/user360.py").run()
    no_errors(at)
    at.text_input(key="u360-prefix").input("u00001").run()
    no_errors(at)
    user = at.selectbox(key="u360-user").value
    assert user.startswith("u00001")
    with warehouse.connect(demo) as con:
        events = len(user_timeline(con, user))
    assert any(f"Latest {events:,} events" in c.value for c in at.caption)
    at.text_input(key="u360-prefix").input("nobody").run()
    no_errors(at)
    assert any("No user id starts with" in i.value for i in at.info)


def test_segment_builder_tag_condition(demo):
    at = app().run()
    at.switch_page("views/segments.py").run()
    first = at.session_state["pond_segment_conditions"][0]["id"]
    at.selectbox(key=f"seg-{first}-kind").select("tag").run()
    tag = at.multiselect(key=f"seg-{first}-tags").options[0]
    at.multiselect(key=f"seg-{first}-tags").select(tag).run()
    no_errors(at)
    assert any(f"interested in {tag}" in m.value for m in at.markdown)


def test_experiments_page(demo):
    from engine.social.experiments import campaign_effect, experiment_results

    at = app().run()
    at.switch_page("views/experiments.py").run()
    no_errors(at)
    at.selectbox(key="exp-name").select("new_checkout").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        verdict = experiment_results(con, "new_checkout").verdict
    assert any(i.value == verdict for i in at.info)
    assert len(at.get("plotly_chart")) == 3
    open_tab(at, "experiments-tab", "Sample size")
    at.number_input(key="size-baseline").set_value(10.0).run()
    assert {m.label: m.value for m in at.metric}["Users per variant"] != "0"
    no_errors(at)
    open_tab(at, "experiments-tab", "Coupon campaigns")
    no_errors(at)
    with warehouse.connect(demo) as con:
        campaigns = campaign_effect(con)
    assert at.dataframe[0].value["campaign_id"].tolist() == campaigns["campaign_id"].tolist()


def test_experiments_page_without_experiments(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, "user_id,event_type,event_time\na,view,2024-01-01 10:00\n")
    at = app().run()
    at.switch_page("views/experiments.py").run()
    no_errors(at)
    assert any("No experiments yet" in i.value for i in at.info)


def test_share_graph_page(demo):
    from engine.social.network import share_graph

    at = app().run()
    at.switch_page("views/network.py").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        graph = share_graph(con)
    assert {m.label: m.value for m in at.metric}["Sharers who brought someone"] == f"{len(graph.sharers):,}"
    at.slider(key="net-top").set_value(10).run()
    at.segmented_control(key="net-period").set_value("month").run()
    no_errors(at)


def test_share_graph_page_without_referrals(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, "user_id,event_type,event_time\na,view,2024-01-01 10:00\n")
    at = app().run()
    at.switch_page("views/network.py").run()
    no_errors(at)
    assert any("No referrals yet" in i.value for i in at.info)


def test_assignment_file_through_the_upload_page(demo):
    at = upload_page(demo)
    at.get("file_uploader")[0].upload("ab.csv", b"user_id,experiment,variant\nu000001,hero_image,A\nu000002,hero_image,B\n").run()
    no_errors(at)
    assert any("experiment_assignments" in m.value for m in at.markdown)
    at.button(key="file-0-ab.csv-import").click().run()
    no_errors(at)
    assert any("Imported ab.csv" in s.value for s in at.success)
    at.switch_page("views/experiments.py").run()
    assert "hero_image" in at.selectbox(key="exp-name").options


def wait_for_training(path, *, expect_error: bool = False) -> None:
    import ui.recs

    job = ui.recs.job(str(path))
    assert job is not None, "the page should have started training"
    job.thread.join(timeout=120)
    assert job.done and (job.error is not None) == expect_error, job.error


def test_recommendations_page_trains_in_the_background_then_serves(demo):
    from engine.predictions.recommend import Recommender

    at = app().run()
    at.switch_page("views/recommendations.py").run()
    no_errors(at)
    assert any("being trained for the first time" in i.value for i in at.info)
    wait_for_training(demo)
    at.run()
    no_errors(at)
    user = at.selectbox(key="recs-user").value
    shown = at.dataframe[0].value
    expected = Recommender.load(demo).recommend(user, 10)
    assert shown["item_id"].tolist() == expected["item_id"].tolist()
    assert shown["reason"].tolist() == expected["reason"].tolist()

    at.radio(key="recs-mode").set_value("only new items").run()
    no_errors(at)
    seen = Recommender.load(demo).history_of(user, limit=10_000)["item_id"]
    assert not set(at.dataframe[0].value["item_id"]) & set(seen)
    at.text_input(key="recs-prefix").input("nobody").run()
    no_errors(at)
    assert any("No user id starts with" in i.value for i in at.info)
    open_tab(at, "recommendations-tab", "Similar items")
    at.text_input(key="recs-item").input("no-such-item").run()
    assert any("no item 'no-such-item'" in w.value for w in at.warning)


def test_recommendations_page_evaluation_and_push_list(demo):
    from engine.customers.segments import Condition, SegmentDefinition, save_segment, segment_count
    from engine.predictions.recommend import train

    buyers = SegmentDefinition(conditions=(Condition(kind="event", event="purchase", days=14),))
    with warehouse.connect(demo) as con:
        save_segment(con, "recent buyers", buyers)
        size = segment_count(con, buyers)
    done = train(demo)
    at = app().run()
    at.switch_page("views/recommendations.py").run()
    no_errors(at)
    assert not at.warning  # trained on the current version: nothing is stale
    open_tab(at, "recommendations-tab", "How good is it?")
    evaluation = done.evaluation["new"]
    assert any(f"{evaluation['users_evaluated']:,} users" in c.value for c in at.caption)
    models = evaluation["models"]
    served, best = models["hybrid"]["ndcg"], max(models["popularity"]["ndcg"], models["buy_again"]["ndcg"])
    message = at.success[0].value if served > best else at.warning[0].value
    assert f"{served:.3f} against {best:.3f}" in message
    open_tab(at, "recommendations-tab", "Push list for a segment")
    at.button(key="recs-push").click().run()
    no_errors(at)
    assert any(f"for {size:,} of the segment's {size:,} users" in c.value for c in at.caption)


def test_recommendations_page_says_when_the_data_changed(demo):
    from engine.ingest import import_file
    from engine.predictions.recommend import train

    train(demo)
    csv = demo.with_name("more.csv")
    csv.write_text("user_id,item_id,event_type,event_time\nnewbie,i00001,view,2026-02-28 10:00:00\n")
    with warehouse.connect(demo) as con:
        import_file(con, csv)
    at = app().run()
    at.switch_page("views/recommendations.py").run()
    no_errors(at)
    assert any("events have changed since" in w.value for w in at.warning)
    wait_for_training(demo)  # retrained once for the new version, in the background
    at.run()
    no_errors(at)
    assert not any("events have changed since" in w.value for w in at.warning)


def test_user_360_shows_recommendations_once_trained(demo):
    from engine.predictions.recommend import Recommender, train

    at = app().run()
    at.switch_page("views/user360.py").run()
    assert any("No trained recommender yet" in c.value for c in at.caption)
    train(demo)
    at.run()
    no_errors(at)
    user = at.selectbox(key="u360-user").value
    picks = [d.value for d in at.dataframe if "reason" in d.value.columns][0]
    assert picks["item_id"].tolist() == Recommender.load(demo).recommend(user, 5)["item_id"].tolist()


def test_recommendations_page_without_item_events(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, "user_id,event_type,event_time\na,signup,2024-01-01 10:00\n")
    at = app().run()
    at.switch_page("views/recommendations.py").run()
    wait_for_training(tmp_path / "small.duckdb", expect_error=True)
    at.run()
    no_errors(at)
    assert any("no event names an item" in i.value for i in at.info)


def test_growth_page_fits_backtests_and_says_which_model_to_believe(demo):
    from engine.predictions.growth import growth_fits

    at = app().run()
    at.switch_page("views/growth.py").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        expected = growth_fits(con, metric="users", holdout_days=30, horizon_days=60)
    shown = [m.value for m in (*at.success, *at.warning)]
    assert expected.verdict in shown
    table = at.dataframe[0].value
    assert len(table) == 6 and table["model"].str.endswith("(best)").sum() == 1
    assert len(at.get("plotly_chart")) == 1
    assert f"{expected.best} fit" in chart_traces(at)
    at.multiselect(key="growth-shown-users-day").set_value(["naive"]).run()  # the user narrows the chart
    at.radio(key="growth-metric").set_value("gmv").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        gmv = growth_fits(con, metric="gmv", holdout_days=30, horizon_days=60)
    assert gmv.verdict in [m.value for m in (*at.success, *at.warning)]
    assert f"{gmv.best} fit" in chart_traces(at)  # the model the verdict names is drawn
    at.radio(key="growth-period").set_value("week").run()
    no_errors(at)
    assert any("too few to fit growth curves" in i.value for i in at.info)


def test_churn_page_counts_survival_risk_and_propensity(demo):
    from engine.predictions.survival import lifetimes

    at = app().run()
    at.switch_page("views/churn.py").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        frame = lifetimes(con, inactivity_days=30)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Users"] == f"{len(frame):,}"
    assert shown["Churned"] == f"{int(frame['churned'].sum()):,}"
    assert shown["Active (censored)"] == f"{int((~frame['churned']).sum()):,}"
    at.selectbox(key="churn-group").set_value("channel").run()
    no_errors(at)
    assert any("Log-rank test" in c.value for c in at.caption)
    at.radio(key="churn-basis").set_value("purchase").run()
    no_errors(at)
    # only the open tab runs: the models of the others are not fitted for a look at the curves
    assert len(at.get("plotly_chart")) == 1
    assert "High risk" not in {m.label for m in at.metric}
    at.session_state["churn-tab"] = "At-risk users"
    at.run()
    no_errors(at)
    # 40 days hold no backtest of a 30-day horizon (three horizons are needed): the lists start at the
    # longest horizon the data back, and the page says so
    from engine.predictions.churn import longest_list_horizon

    with warehouse.connect(demo) as con:
        longest = longest_list_horizon(con)
    assert 1 <= longest < 30 and at.slider(key="churn-horizon").value == longest
    assert any(f"backs horizons up to {longest} days" in c.value for c in at.caption), [c.value[:50] for c in at.caption]
    assert {"High risk", "Medium risk", "Low risk"} <= {m.label for m in at.metric}
    at.slider(key="churn-horizon").set_value(30).run()  # longer than the data back: refused, naming the longest
    assert any("the longest horizon the data supports" in i.value for i in at.info), [i.value[:200] for i in at.info]
    at.slider(key="churn-horizon").set_value(7).run()
    no_errors(at)
    assert {"High risk", "Medium risk", "Low risk"} <= {m.label for m in at.metric}
    assert len(at.get("plotly_chart")) == 2  # the backtest's reliability plot, the forest plot; no survival curves
    # fitted once for this warehouse version and kept beside it, for other processes and restarts
    from engine.store.results import results_folder

    with warehouse.connect(demo) as con:
        version = warehouse.data_version(con)
    assert (results_folder(demo) / f"churn-risk-h30-i30-v{version}.json").exists()
    at.session_state["churn-tab"] = "Purchase propensity"
    at.run()
    no_errors(at)
    # propensity starts at the longest horizon the 40 days back too; a week works as well
    assert at.slider(key="prop-horizon").value == longest
    assert "ROC-AUC on a time split" in {m.label for m in at.metric}
    at.slider(key="prop-horizon").set_value(7).run()
    no_errors(at)
    assert "ROC-AUC on a time split" in {m.label for m in at.metric}
    at.session_state["churn-tab"] = "How good are the models?"
    at.run()
    no_errors(at)
    assert any("too little activity before the cutoff" in i.value for i in at.info)


def test_churn_page_model_check_on_four_months(tmp_path, monkeypatch):
    path = tmp_path / "long.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=400, days=120, seed=3, end=date(2026, 3, 1))
    monkeypatch.setenv("POND_WAREHOUSE", str(path))
    at = app()
    at.session_state["churn-tab"] = "How good are the models?"
    at.run()
    at.switch_page("views/churn.py").run()
    no_errors(at)
    assert set(at.dataframe[0].value["model"]) == {"recency", "logistic", "cox"}
    assert len(at.success) + len(at.warning) == 1  # the verdict against the recency baseline


@pytest.mark.realdata
def test_model_pages_work_on_the_taobao_sample(real_data, tmp_path, monkeypatch):
    """Nine days are too short for churn or growth to say much; the pages must still work and say so."""
    from engine.ingest import import_file

    path = tmp_path / "taobao.duckdb"
    with warehouse.connect(path) as con:
        import_file(con, real_data / "taobao_userbehavior" / "UserBehavior_head84k.csv", timezone="Asia/Shanghai")
    monkeypatch.setenv("POND_WAREHOUSE", str(path))
    for view in ("views/growth.py", "views/churn.py", "views/recommendations.py"):
        at = app().run()
        at.switch_page(view).run()
        no_errors(at)
    for tab in ("At-risk users", "Purchase propensity", "How good are the models?"):
        churn = app()
        churn.session_state["churn-tab"] = tab
        churn.run()
        churn.switch_page("views/churn.py").run()
        no_errors(churn)
    wait_for_training(path)
    at.run()
    no_errors(at)
    assert len(at.dataframe[0].value) == 10  # a Taobao user's top 10


def every_page() -> list[str]:
    from ui.menu import PAGES

    return [file for entries in PAGES.values() for file, *_ in entries]


def open_every_page(at: AppTest) -> None:
    for file in every_page():
        at.switch_page(file).run()
        no_errors(at)


def test_every_page_on_days_without_events(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, "user_id,event_type,event_time,channel,amount\n"
                 "a,view,2024-01-01 10:00,douyin,\na,purchase,2024-01-01 10:05,douyin,20\n"
                 "b,view,2024-01-10 10:00,wechat,\n")
    at = app().run()
    for file in every_page():
        at.switch_page(file).run()
        at.sidebar.date_input[0].set_value((date(2024, 1, 3), date(2024, 1, 5))).run()
        no_errors(at)
        at.sidebar.selectbox[0].select("wechat").run()  # a channel with no event in those days either
        no_errors(at)
        assert at.sidebar.date_input[0].value == (date(2024, 1, 3), date(2024, 1, 5))


def test_every_page_after_undoing_the_demo(demo):
    from engine.ingest import undo_upload

    with warehouse.connect(demo) as con:
        undo_upload(con, 1)
    at = app().run()
    no_errors(at)
    assert any("holds no events yet" in i.value for i in at.info)
    open_every_page(at)


def test_every_page_after_the_first_import_into_an_empty_warehouse(tmp_path, monkeypatch):
    rows = ["user_id,event_type,event_time,item_id,category,channel,order_id,amount"]
    for day in range(1, 29):
        for user in range(1, 8):
            if (day + user) % 3:
                rows.append(f"u{user},view,2024-02-{day:02d} 10:00,i{user % 4},c{user % 2},douyin,,")
            if (day * user) % 5 == 0:
                rows.append(f"u{user},purchase,2024-02-{day:02d} 11:00,i{user % 4},c{user % 2},wechat,o{day}-{user},"
                            f"{10 * user}")
    warehouse_of(tmp_path, monkeypatch, "\n".join(rows) + "\n")
    at = app().run()
    no_errors(at)
    open_every_page(at)


def test_user_360_of_a_user_without_events(demo):
    with warehouse.connect(demo) as con:
        con.execute("insert into users (user_id, first_seen, gender) values ('zz-quiet', null, 'F')")
    at = app().run()
    at.switch_page("views/user360.py").run()
    at.text_input(key="u360-prefix").input("zz-quiet").run()
    no_errors(at)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Active days"], shown["Orders"], shown["Last active"]) == ("0", "0", "—")
    assert any(c.value == "No events." for c in at.caption)


def test_retention_says_when_whole_weeks_reach_past_the_range_and_can_clip(demo):
    at = app().run()
    at.switch_page("views/retention.py").run()
    # Wednesday Feb 18 to Sunday Feb 22: the weekly cohort is the week of Monday Feb 16
    at.sidebar.date_input[0].set_value((date(2026, 2, 18), date(2026, 2, 22))).run()
    no_errors(at)
    assert any("reach past the chosen days" in w.value and "Feb 16–22" in w.value for w in at.warning), [
        w.value for w in at.warning]
    at.toggle(key="ret-clip").set_value(True).run()
    no_errors(at)
    assert not any("reach past the chosen days" in w.value for w in at.warning)
    assert at.selectbox(key="ret-cell-cohort").options == ["Feb 18–22, 2026"]


def test_trends_page_builds_a_filtered_broken_down_trend_and_shares_it(demo):
    at = app().run()
    at.switch_page("views/trends.py").run()
    no_errors(at)
    at.selectbox(key="trend-event-0").select("view").run()
    at.session_state["trend-shape"] = "table"
    at.run()
    no_errors(at)
    table = at.dataframe[0].value
    # independently: views per business day of the default 30 days, from the raw events
    with warehouse.connect(demo) as con:
        raw = con.execute("select event_time, event_type from events where event_type = 'view'").df()
        tz = warehouse.business_timezone(con)
    days = pd.to_datetime(raw["event_time"]).dt.tz_localize("UTC").dt.tz_convert(tz).dt.date
    expected = days[(days >= date(2026, 1, 30)) & (days <= date(2026, 2, 28))].value_counts()
    shown = table.set_index(pd.to_datetime(table["period"]).dt.date)["value"]
    assert shown.sum() == expected.sum() and shown[date(2026, 2, 10)] == expected.get(date(2026, 2, 10), 0)
    # a second series, a formula, a breakdown, a filter: every choice lands in the URL
    at.button(key="trend-add").click().run()
    at.selectbox(key="trend-event-1").select("purchase").run()
    at.selectbox(key="trend-measure-1").select("users").run()
    at.text_input(key="trend-where-1").input("amount > 50").run()
    at.text_input(key="trend-formula").input("B / A").run()
    at.selectbox(key="trend-breakdown").select("channel").run()
    no_errors(at)
    params = dict(at.query_params)
    assert {k: params[k] for k in ("n", "e1", "m1", "w1", "f", "b")} == {
        "n": "2", "e1": "purchase", "m1": "users", "w1": "amount > 50", "f": "B / A", "b": "channel"}
    # opening that link in a new session shows the same trend
    again = app()
    for key, value in params.items():
        again.query_params[key] = value[0] if isinstance(value, list) else value
    again.run()
    again.switch_page("views/trends.py").run()
    no_errors(again)
    assert again.text_input(key="trend-formula").value == "B / A"
    assert again.selectbox(key="trend-breakdown").value == "channel"
    assert again.text_input(key="trend-where-1").value == "amount > 50"
    # a filter that cannot be read says what is wrong and how to write it
    at.text_input(key="trend-where-0").input("colour = red").run()
    no_errors(at)
    assert any("there is no property 'colour'" in w.value for w in at.warning)
    at.text_input(key="trend-where-0").input("channel = nowhere").run()
    no_errors(at)
    assert any("Nothing matches" in i.value for i in at.info)


def test_paths_page_after_and_before(demo):
    from engine.behaviour.paths import PathQuery, paths

    at = app().run()
    at.switch_page("views/paths.py").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        expected = paths(con, PathQuery("view", "after", 4, date(2026, 1, 30), date(2026, 2, 28)), top=20)
    assert any(m.value.startswith(f"**{len(expected.users):,} users**") for m in at.markdown)
    tables = {tuple(d.value.columns): d.value for d in at.dataframe}
    assert tables[("path", "steps", "users", "share")]["path"].tolist() == expected.paths["path"].tolist()
    assert tables[("step", "users", "dropped", "share_of_start")]["users"].tolist() == expected.steps["users"].tolist()
    # the users behind a node, e.g. the second step's first node
    node = expected.nodes()[1]
    at.selectbox(key="paths-node").select(node).run()
    assert any(c.value.startswith(f"{len(expected.users_through(node)):,} users through {node}") for c in at.caption)
    at.radio(key="paths-direction").set_value("before").run()
    at.slider(key="paths-steps").set_value(3).run()
    at.toggle(key="paths-collapse").set_value(False).run()
    at.radio(key="paths-grouping").set_value("category").run()
    no_errors(at)
    assert {tuple(d.value.columns): d.value for d in at.dataframe}[("path", "steps", "users", "share")]["steps"].max() == 3
    at.selectbox(key="paths-event-before").select("refund").run()
    at.sidebar.date_input[0].set_value((date(2026, 2, 27), date(2026, 2, 27))).run()
    no_errors(at)


def test_funnel_page_window_units_any_step_and_exclusions(demo):
    from engine.behaviour.funnels import FunnelQuery, funnel

    at = app().run()
    at.switch_page("views/funnels.py").run()
    at.selectbox(key="fun-window-unit").select("hours").run()
    at.number_input(key="fun-window-hours").set_value(2).run()
    at.selectbox(key="fun-step-2").select("any").run()
    at.selectbox(key="fun-ex-event-0").select("fav").run()
    at.selectbox(key="fun-ex-after-0").select(1).run()
    at.selectbox(key="fun-ex-before-0").select(2).run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        expected = funnel(con, FunnelQuery(steps=("view", "cart", "any"), window_days=2 / 24,
                                           start=date(2026, 1, 30), end=date(2026, 2, 28),
                                           exclusions=(("fav", 1, 2),)))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Entered"] == f"{int(expected.steps.loc[0, 'users']):,}"
    assert shown["Completed"] == f"{int(expected.steps.iloc[-1]['users']):,}"
    hours = expected.time_to_convert()
    assert shown["Mean time to convert"] == (f"{hours.mean():.1f} h" if len(hours) else "—")
    # conversion over time, by entry day: the settled days' rate, recomputed from the users' best attempts
    at.session_state["fun-trend-period"] = "day"
    at.run()
    no_errors(at)
    users = expected.users
    days = pd.to_datetime(users["entered_at"]).dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai").dt.date
    last = date(2026, 2, 28)  # an entrant of day d has had the 2-hour window once d + 1 day + 2 h <= the day after
    settled = users[(days >= date(2026, 1, 30)) & (days < last)]
    rate = (settled["reached"] == 3).sum() / len(settled)
    assert any(f"settled days: {rate:.1%}" in c.value for c in at.caption), (rate, [c.value[-40:] for c in at.caption])
    at.selectbox(key="fun-order").select("unordered").run()  # the any-action step is refused there: say so
    assert any("unordered funnel counts distinct steps" in e.value for e in at.error)
    at.selectbox(key="fun-step-2").select("purchase").run()
    no_errors(at)
    assert any("Unordered funnels have no steps in between" in c.value for c in at.caption)


def test_retention_page_sunday_weeks_and_return_events(demo):
    from engine.behaviour.retention import RetentionQuery, retention_matrix

    at = app().run()
    at.switch_page("views/retention.py").run()
    at.radio(key="ret-week-start").set_value("sunday").run()
    at.number_input(key="ret-min-returns").set_value(2).run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        expected = retention_matrix(con, RetentionQuery(start=date(2026, 1, 30), end=date(2026, 2, 28),
                                                        week_start="sunday", min_returns=2))
    assert all(c.weekday() == 6 for c in expected["cohort"])
    shown = at.selectbox(key="ret-cell-cohort").options
    assert len(shown) == expected["cohort"].nunique() and shown[0].startswith("Jan 25–31")


def test_a_link_with_days_and_channel_opens_that_view(demo):
    at = app()
    at.query_params.update({"from": "2026-02-01", "to": "2026-02-14", "channel": "douyin"})
    at.run()
    no_errors(at)
    assert at.sidebar.date_input[0].value == (date(2026, 2, 1), date(2026, 2, 14))
    assert at.sidebar.selectbox[0].value == "douyin"
    with warehouse.connect(demo) as con:
        expected = metrics.kpis(con, metrics.Period(date(2026, 2, 1), date(2026, 2, 14)), channel="douyin")
    assert {m.label: m.value for m in at.metric}["MAU"] == f"{expected['mau']:,}"
    at.sidebar.date_input[0].set_value((date(2026, 2, 3), date(2026, 2, 9))).run()
    assert (at.query_params["from"], at.query_params["to"], at.query_params["channel"]) == (
        "2026-02-03", "2026-02-09", "douyin")
    bad = app()
    bad.query_params.update({"from": "2019-01-01", "to": "not a day"})
    bad.run()
    no_errors(bad)  # a link with days outside the data falls back to the last 30 days
    assert bad.sidebar.date_input[0].value == (date(2026, 1, 30), date(2026, 2, 28))


def test_tables_offer_no_download_of_their_own(demo):
    """st.dataframe's toolbar download has no role check, audit or formula neutralising: Pond turns it
    off for every table on every page (client.disableDataExport), even for a server started from a
    folder without Pond's .streamlit/config.toml; exports go through widgets.csv_download."""
    from streamlit import config

    config.set_option("client.disableDataExport", False)  # as a server that did not read config.toml
    at = app().run()
    no_errors(at)
    assert config.get_option("client.disableDataExport") is True
    assert (ROOT / ".streamlit" / "config.toml").read_text().count("disableDataExport = true") == 1
    # Pond's own export is still offered (local mode: an admin)
    assert any("as CSV" in b.label for b in at.get("download_button"))


def test_the_first_run_clears_what_a_killed_restore_left(demo):
    leftover = demo.parent / ".pond-restore-abandoned"
    leftover.mkdir()
    (leftover / "backup.duckdb").write_bytes(b"half a backup")
    no_errors(app().run())
    assert not leftover.exists()


def address_filters(at: AppTest) -> list[str]:
    """The ``where`` conditions in the page's address (one value or several)."""
    value = at.query_params.get("where", [])
    return [value] if isinstance(value, str) else list(value)


def kpi_values(at: AppTest) -> dict:
    return {m.label: m.value for m in at.metric}


def add_property_filter(at: AppTest, prop: str, op: str, value: str | None = None) -> AppTest:
    """Add a condition in the sidebar's property filter bar, as a user would."""
    at.selectbox(key="pond-where-prop").select(prop).run()
    at.selectbox(key="pond-where-op").select(op).run()
    if value is not None:
        at.text_input(key="pond-where-value").input(value).run()
    return at.button(key="pond-where-add").click().run()


def test_property_filters_change_every_figure_and_travel_in_the_address(demo):
    period = metrics.Period(date(2026, 1, 30), date(2026, 2, 28))

    def expected(*filters):
        from engine.store import scope
        from engine.store.filters import parse_condition

        with warehouse.connect(demo) as con, scope.applied([parse_condition(f) for f in filters]):
            return metrics.kpi_comparison(con, period).set_index("kpi")["value"]

    at = app().run()
    everyone = kpi_values(at)
    add_property_filter(at, "gender", "=", "F")
    no_errors(at)
    women = expected("gender = F")
    assert kpi_values(at)["MAU"] == f"{int(women['mau']):,}" != everyone["MAU"]
    assert address_filters(at) == ["gender = F"]
    assert any("gender = F" in c.value for c in at.caption)
    # a second condition, on an event property: both hold
    add_property_filter(at, "amount", ">=", "50")
    no_errors(at)
    both = expected("gender = F", "amount >= 50")
    assert kpi_values(at)["Orders"] == f"{int(both['orders']):,}"
    assert address_filters(at) == ["gender = F", "amount >= 50"]
    # a wrong value is refused where it was typed, and nothing changes
    add_property_filter(at, "amount", ">", "lots")
    assert any("amount is a number" in e.value for e in at.error)
    assert address_filters(at) == ["gender = F", "amount >= 50"]
    # the same address opens the same view in a new session
    shared = app()
    shared.query_params["where"] = ["gender = F", "amount >= 50"]
    shared.run()
    no_errors(shared)
    assert kpi_values(shared)["Orders"] == kpi_values(at)["Orders"]
    # remove the first condition, then clear
    at.button(key="pond-where-remove-0").click().run()
    no_errors(at)
    assert address_filters(at) == ["amount >= 50"]
    assert kpi_values(at)["Orders"] == f"{int(expected('amount >= 50')['orders']):,}"
    at.button(key="pond-where-clear").click().run()
    assert "where" not in at.query_params
    assert kpi_values(at)["MAU"] == everyone["MAU"]


def test_a_property_filter_that_matches_nothing_says_so_on_every_page(demo):
    at = app()
    at.query_params["where"] = ["city = Atlantis"]
    at.run()
    no_errors(at)
    assert any("No events in the chosen days, channel and filters" in m.value for m in at.info), [m.value for m in at.info]
    for page in ("views/trends.py", "views/funnels.py", "views/retention.py", "views/paths.py", "views/content.py",
                 "views/communities.py"):
        at.switch_page(page).run()
        no_errors(at)


def test_key_figures_and_engagement_broken_down_by_a_property(demo):
    period = metrics.Period(date(2026, 1, 30), date(2026, 2, 28))
    at = app().run()
    at.selectbox(key="kpi-breakdown").select("gender").run()
    no_errors(at)
    with warehouse.connect(demo) as con:
        expected = metrics.kpi_breakdown(con, period, "gender")
    shown = at.dataframe[0].value
    assert shown["breakdown"].tolist() == expected["breakdown"].tolist()
    assert shown["orders"].tolist() == expected["orders"].tolist()
    assert at.query_params["kpi_by"] == "gender"
    assert len(at.get("plotly_chart")) == 5
    assert len(at.get("download_button")) == 5
    at.radio(key="kpi-breakdown-metric").set_value("gmv").run()
    no_errors(at)
    # with a property filter on top, then back to no breakdown
    add_property_filter(at, "channel", "=", "douyin")
    no_errors(at)
    from engine.store import scope
    from engine.store.filters import parse_condition

    with warehouse.connect(demo) as con, scope.applied([parse_condition("channel = douyin")]):
        within = metrics.kpi_breakdown(con, period, "gender")
    assert at.dataframe[0].value["gmv"].round(2).tolist() == within["gmv"].round(2).tolist()
    at.selectbox(key="kpi-breakdown").select("none").run()
    assert "kpi_by" not in at.query_params
    assert len(at.get("plotly_chart")) == 4
    # the content page, opened from a shared link
    content = app()
    content.query_params["ctr_by"] = "city"
    content.switch_page("views/content.py").run()
    no_errors(content)
    from engine.behaviour.content import engagement_breakdown

    with warehouse.connect(demo) as con:
        engagement = engagement_breakdown(con, "city", start=period.start, end=period.end)
    table = next(d.value for d in content.dataframe if "breakdown" in d.value.columns)
    assert table["impressions"].tolist() == engagement["impressions"].tolist()


def test_page_choices_live_in_the_address(demo):
    """A shared link opens each page with its choices; a change is written back to the address."""
    content = app()
    content.query_params.update({"per": "campaign", "rank": "share_rate", "min": "50"})
    content.switch_page("views/content.py").run()
    no_errors(content)
    assert content.segmented_control(key="ctr-by").value == "campaign"
    assert content.selectbox(key="ctr-metric").value == "share_rate"
    assert content.number_input(key="ctr-min").value == 50
    content.number_input(key="ctr-min").set_value(200).run()
    assert content.query_params["min"] == "200" and content.query_params["per"] == "campaign"
    # a wrong value in a link falls back to the default instead of breaking the page
    broken = app()
    broken.query_params.update({"per": "nonsense", "min": "many"})
    broken.switch_page("views/content.py").run()
    no_errors(broken)
    assert broken.segmented_control(key="ctr-by").value == "content"
    assert broken.number_input(key="ctr-min").value == 100

    lifecycle = app()
    lifecycle.query_params.update({"tab": "Lifecycle and stickiness", "period": "month"})
    lifecycle.switch_page("views/communities.py").run()
    no_errors(lifecycle)
    assert lifecycle.segmented_control(key="life-period").value == "month"

    churn = app().run()
    churn.query_params.update({"tab": "Survival", "inactive": "45", "compare": "channel"})
    churn.switch_page("views/churn.py").run()
    no_errors(churn)
    assert churn.number_input(key="churn-inactivity").value == 45
    assert churn.selectbox(key="churn-group").value == "channel"
    outside = app().run()
    outside.query_params.update({"inactive": "9999"})  # beyond the input's range: the default instead
    outside.switch_page("views/churn.py").run()
    no_errors(outside)
    assert outside.number_input(key="churn-inactivity").value == 30

    retention = app().run()
    retention.query_params.update({"period": "day", "start": "view", "return": "purchase", "mode": "on or after",
                                   "min": "2", "clip": "True", "return_where": "amount > 10"})
    retention.switch_page("views/retention.py").run()
    no_errors(retention)
    assert retention.segmented_control(key="ret-period").value == "day"
    assert (retention.selectbox(key="ret-start").value, retention.selectbox(key="ret-return").value) == (
        "view", "purchase")
    assert retention.number_input(key="ret-min-returns").value == 2 and retention.toggle(key="ret-clip").value
    assert retention.text_input(key="ret-return-where").value == "amount > 10"
    retention.radio(key="ret-mode").set_value("on").run()
    assert retention.query_params["mode"] == "on" and retention.query_params["start"] == "view"

    funnel = app().run()
    funnel.query_params.update({"steps": "2", "s1": "view", "s2": "purchase", "unit": "hours", "window": "12",
                                "order": "strict", "w2": "amount > 10"})
    funnel.switch_page("views/funnels.py").run()
    no_errors(funnel)
    assert [funnel.selectbox(key=f"fun-step-{k}").value for k in range(2)] == ["view", "purchase"]
    assert funnel.number_input(key="fun-window-hours").value == 12
    assert funnel.selectbox(key="fun-order").value == "strict"
    assert funnel.text_input(key="fun-step-where-1").value == "amount > 10"
    funnel.selectbox(key="fun-step-1").select("cart").run()
    assert funnel.query_params["s2"] == "cart"

    paths = app().run()
    paths.query_params.update({"paths": "before", "event": "cart", "steps": "3", "collapse": "False"})
    paths.switch_page("views/paths.py").run()
    no_errors(paths)
    assert paths.radio(key="paths-direction").value == "before"
    assert paths.selectbox(key="paths-event-before").value == "cart"
    assert paths.slider(key="paths-steps").value == 3 and not paths.toggle(key="paths-collapse").value

    person = app().run()  # a page with its own url_path is found after a first run
    person.query_params["user"] = "u00002"
    person.switch_page("views/user360.py").run()
    no_errors(person)
    assert person.selectbox(key="u360-user").value.startswith("u00002")


def test_an_rfm_segment_as_a_property_filter(demo):
    from engine.customers import filtering
    from engine.store.filters import parse_condition

    at = app().run()
    add_property_filter(at, "rfm_segment", "=", "Champions")
    no_errors(at)
    with warehouse.connect(demo) as con, filtering.applied([parse_condition("rfm_segment = Champions")], con=con):
        expected = metrics.kpi_comparison(con, metrics.Period(date(2026, 1, 30), date(2026, 2, 28)))
    assert kpi_values(at)["MAU"] == f"{int(expected.set_index('kpi').loc['mau', 'value']):,}"
    at.switch_page("views/funnels.py").run()
    no_errors(at)


RETENTION_CATEGORIES = """user_id,event_type,event_time,category
a,view,2024-01-01 09:00:00,c1
b,view,2024-01-01 10:00:00,c2
c,view,2024-01-01 11:00:00,
a,view,2024-01-02 09:00:00,c2
b,view,2024-01-02 10:00:00,c2
c,view,2024-01-02 11:00:00,
a,view,2024-01-03 09:00:00,c1
b,view,2024-01-03 10:00:00,c2
"""


def retention_table(at: AppTest) -> list[tuple]:
    matrix = next(d.value for d in at.dataframe if "cohort_size" in d.value.columns)
    return [(r.period, r.users, r.cohort_size) for r in matrix.itertuples() if str(r.cohort).startswith("2024-01-01")]


def test_retention_page_matching_start_and_return_filters_and_hours(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, RETENTION_CATEGORIES)
    at = app().run()
    at.switch_page("views/retention.py").run()
    at.get("segmented_control")[0].set_value("day").run()
    at.selectbox(key="ret-start").select("view").run()
    at.selectbox(key="ret-return").select("view").run()
    no_errors(at)
    # cohort 01-01 = a, b, c; all three view on 01-02; a and b on 01-03
    assert retention_table(at) == [(0, 3, 3), (1, 3, 3), (2, 2, 3)]
    at.selectbox(key="ret-match").select("category").run()
    no_errors(at)
    # same category: day 1 only b (a moved to c2, c has none); day 2 a (c1 again) and b
    assert retention_table(at) == [(0, 3, 3), (1, 1, 3), (2, 2, 3)]
    at.selectbox(key="ret-match").select("(nothing)").run()
    at.text_input(key="ret-return-where").input("category = c1").run()
    no_errors(at)
    assert retention_table(at) == [(0, 3, 3), (1, 0, 3), (2, 1, 3)]  # a's c1 view on 01-03 only
    at.text_input(key="ret-return-where").input("").run()
    at.text_input(key="ret-start-where").input("category = c1").run()
    assert retention_table(at) == [(0, 1, 1), (1, 1, 1), (2, 1, 1)]  # a alone starts on c1
    at.text_input(key="ret-start-where").input("category nonsense").run()
    assert at.error and "cannot read the filter" in at.error[0].value
    at.text_input(key="ret-start-where").input("").run()
    at.get("segmented_control")[0].set_value("hour").run()
    no_errors(at)
    # hourly cohorts of the last 3 days: 01-01 09:00 = a; it returns at 09:00 a day (24 h) and two days later (48 h)
    matrix = next(d.value for d in at.dataframe if "cohort_size" in d.value.columns)
    first = matrix[matrix["cohort"] == pd.Timestamp("2024-01-01 09:00")]
    assert first.loc[first["users"] > 0, "period"].tolist() == [0, 24, 48]
    assert at.selectbox(key="ret-cell-cohort").options[0] == "Jan 1, 2024 09:00"


FUNNEL_FILTERS = """user_id,event_type,event_time,category,amount
f1,view,2024-01-01 10:00:00,3,
f1,purchase,2024-01-01 10:10:00,1,50
f2,view,2024-01-01 11:00:00,1,
f2,purchase,2024-01-01 11:10:00,3,200
f3,view,2024-01-01 12:00:00,3,
f3,purchase,2024-01-01 12:10:00,3,300
f4,view,2024-01-01 13:00:00,3,
"""


def test_funnel_page_filters_a_step_or_the_whole_funnel(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, FUNNEL_FILTERS)
    at = app().run()
    at.switch_page("views/funnels.py").run()
    no_errors(at)

    def entered_completed():
        shown = {m.label: m.value for m in at.metric}
        return shown["Entered"], shown["Completed"]

    assert entered_completed() == ("4", "3")  # view -> purchase: f1, f2, f3 buy
    at.text_input(key="fun-step-where-0").input("category = 3").run()
    no_errors(at)
    assert entered_completed() == ("3", "2")  # f1, f3, f4 view category 3; f1 and f3 buy (anything)
    at.text_input(key="fun-step-where-0").input("").run()
    at.text_input(key="fun-where").input("category = 3").run()
    assert entered_completed() == ("3", "1")  # every step in category 3: only f3 buys in it
    at.text_input(key="fun-where").input("").run()
    at.text_input(key="fun-step-where-1").input("amount between 100,500").run()
    assert entered_completed() == ("4", "2")  # f2 and f3 buy for 100 to 500
    at.text_input(key="fun-step-where-1").input("amount around 5").run()
    assert at.error and "cannot read the filter" in at.error[0].value


PATHS_SMALL = """user_id,event_type,event_time
p1,view,2024-01-01 10:00:00
p1,cart,2024-01-01 10:05:00
p1,purchase,2024-01-01 10:10:00
p2,view,2024-01-01 11:00:00
p2,cart,2024-01-01 11:05:00
p3,view,2024-01-01 12:00:00
p3,share,2024-01-01 12:05:00
"""


def test_paths_page_saves_a_nodes_users_as_a_segment(tmp_path, monkeypatch):
    from engine.admin.access import User
    from engine.customers.segments import load_segment, segment_users

    path = warehouse_of(tmp_path, monkeypatch, PATHS_SMALL)
    at = app().run()
    at.switch_page("views/paths.py").run()
    no_errors(at)
    # after view: p1 and p2 go to cart, p3 to share
    at.selectbox(key="paths-node").select("2. cart").run()
    assert any(c.value.startswith("2 users through 2. cart") for c in at.caption)
    at.text_input(key="paths-segment-name-after-view-2. cart").input("Carted after a view").run()
    at.button(key="paths-save-segment").click().run()
    no_errors(at)
    assert any("Saved “Carted after a view”: 2 users" in s.value for s in at.success)
    with warehouse.connect(path) as con:
        assert segment_users(con, load_segment(con, "Carted after a view"))["user_id"].tolist() == ["p2", "p1"]
    at.selectbox(key="paths-node").select("2. share").run()
    at.button(key="paths-save-segment").click().run()  # the default name names the node
    with warehouse.connect(path) as con:
        assert segment_users(con, load_segment(con, "Paths after view: 2. share"))["user_id"].tolist() == ["p3"]
        trail = con.execute("select action, rows from audit where action = 'segment_save' order by logged_at").fetchall()
    assert trail == [("segment_save", 2), ("segment_save", 1)]
    # the saved list is a segment like any other: the funnel page breaks down by it
    at.switch_page("views/funnels.py").run()
    at.selectbox(key="fun-breakdown").select("segment").run()
    at.selectbox(key="fun-segment-name").select("Carted after a view").run()
    no_errors(at)
    # ... and the segment builder loads it as a list condition, counting its 2 users
    at.switch_page("views/segments.py").run()
    at.selectbox(key="seg-saved").select("Carted after a view").run()
    at.button(key="seg-load").click().run()
    no_errors(at)
    assert at.session_state["pond_segment_conditions"][0]["kind"] == "list"
    assert any(m.value.startswith("**2 users**") for m in at.markdown)
    # a viewer may neither save nor export
    from engine.admin import access

    access.add_user(path, "vera", "viewer", "a long enough password")
    viewer = app()
    viewer.session_state["pond_user"] = User("vera", "viewer")
    viewer.run()
    viewer.switch_page("views/paths.py").run()
    assert viewer.button(key="paths-save-segment").disabled
    assert viewer.button(key="paths-node-csv").disabled


FUNNEL_SESSIONS = """user_id,event_type,event_time
s1,view,2024-01-01 10:00:00
s1,purchase,2024-01-01 10:20:00
s1,view,2024-01-01 12:00:00
s2,view,2024-01-01 10:00:00
s2,purchase,2024-01-01 11:00:00
"""


def test_funnel_page_counts_by_session(tmp_path, monkeypatch):
    warehouse_of(tmp_path, monkeypatch, FUNNEL_SESSIONS)
    at = app().run()
    at.switch_page("views/funnels.py").run()
    no_errors(at)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Entered"], shown["Completed"]) == ("2", "2")  # both users view, then buy
    at.radio(key="fun-count-by").set_value("session").run()
    no_errors(at)
    # sessions (30 minutes without an event ends one): s1 10:00-10:20 buys, s1 12:00 only views,
    # s2 10:00 only views (its 11:00 purchase opens a session without a view)
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Entered (sessions)"], shown["Completed"]) == ("3", "1")
    at.radio(key="fun-count-by").set_value("user").run()
    assert {m.label: m.value for m in at.metric}["Entered"] == "2"


def test_a_filter_on_a_segment_that_does_not_exist_is_refused_or_dropped(demo):
    at = app().run()
    add_property_filter(at, "segment", "=", "ghosts")
    assert any("no segment is saved yet" in e.value or "no saved segment named 'ghosts'" in e.value for e in at.error)
    assert address_filters(at) == []
    linked = app()
    linked.query_params["where"] = ["segment = ghosts", "gender = F"]
    linked.run()
    no_errors(linked)
    assert address_filters(linked) == ["gender = F"]
