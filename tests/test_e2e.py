"""The real dashboard in headless Chromium: start `streamlit run app.py`, open pages, upload a file.

Uses Debian's chromium (installed by .ci/run) through Playwright's Python package; never a
downloaded browser. A screenshot of the page is saved under tests/artifacts/ when a test fails.
"""

from __future__ import annotations

import os
import re
import time
from datetime import date
from pathlib import Path

import pytest

from engine.ingest.demo import build_demo
from engine.store import warehouse
from tests.dashboard import CHROMIUM, CHROMIUM_ARGS, ROOT, start_dashboard, stop_dashboard

pytestmark = pytest.mark.e2e

ARTIFACTS = ROOT / "tests" / "artifacts"


def _serve(folder: Path, env: dict):
    """Start `streamlit run app.py` on a free port; yield its URL; stop it afterwards."""
    try:
        server, url = start_dashboard(env, folder / "streamlit.log")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        stop_dashboard(server)


def _demo_folder(tmp_path_factory, name: str) -> tuple[Path, Path]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium chromium-driver (.ci/run does)")
    pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt")
    folder = tmp_path_factory.mktemp(name)
    db = folder / "pond.duckdb"
    with warehouse.connect(db) as con:
        build_demo(con, users=300, days=40, seed=4, end=date(2026, 3, 1))
    return folder, db


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The dashboard in local single-user mode (no accounts)."""
    folder, db = _demo_folder(tmp_path_factory, "e2e")
    for url in _serve(folder, {"POND_WAREHOUSE": str(db)}):
        yield url, db


@pytest.fixture
def page(dashboard, request):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield tab
        if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        browser.close()


def assert_no_exception(tab) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0
    assert tab.get_by_text("Something went wrong").count() == 0


def events_shown(tab) -> int:
    metric = tab.locator('[data-testid="stMetric"]').filter(has_text="Events").first
    return int(metric.locator('[data-testid="stMetricValue"]').inner_text().replace(",", ""))


def test_a_bookmarked_page_opens_through_the_router(dashboard, page):
    """A first request straight to /retention must still get navigation and filters.

    Keep this the first test of the module: it must be the server's first request to catch
    Streamlit's legacy pages/ mode, which only applies until some session has run the router.
    """
    url, _ = dashboard
    page.goto(f"{url}/retention")
    page.get_by_text("Who is behind a cell").wait_for(timeout=60_000)
    assert page.get_by_text("Filters", exact=True).count() == 1
    assert "Data" in page.locator('[data-testid="stTopNav"]').inner_text()
    assert_no_exception(page)


def test_overview_renders_with_kpis_and_charts(dashboard, page):
    url, db = dashboard
    page.goto(url)
    page.get_by_text("Key figures").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert_no_exception(page)
    with warehouse.connect(db) as con:
        assert events_shown(page) == con.execute("select count(*) from events").fetchone()[0]
    for label in ("DAU (average)", "WAU", "MAU", "New users", "Orders", "GMV", "Conversion rate"):
        assert page.get_by_text(label, exact=True).count() >= 1, label


def test_upload_a_real_export_and_see_it_in_the_overview(dashboard, page, tmp_path):
    url, db = dashboard
    real = os.environ.get("POND_REAL_DATA")
    source = Path(real) / "rees46" / "2019-Oct_first3h.csv" if real else None
    if source is None or not source.exists():
        source = tmp_path / "small.csv"
        source.write_text("user_id,event_type,event_time\nz1,view,2026-02-27 10:00:00\n"
                          "z2,purchase,2026-02-27 11:00:00\n")
    with warehouse.connect(db) as con:
        before = con.execute("select count(*) from events").fetchone()[0]
    page.goto(f"{url}/upload")
    page.get_by_text("Drop export files here").wait_for(timeout=60_000)
    page.locator('input[type="file"]').set_input_files(str(source))
    page.get_by_text("Detected:").wait_for(timeout=60_000)
    # the warehouse holds only the demo: keep it (the other browser tests read it), add the file beside it
    page.get_by_text("is added beside the demo").click()
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Rows read").wait_for(timeout=120_000)
    assert_no_exception(page)
    with warehouse.connect(db) as con:
        after = con.execute("select count(*) from events").fetchone()[0]
    assert after > before
    page.goto(url)
    page.get_by_text("Key figures").wait_for(timeout=60_000)
    assert events_shown(page) == after
    assert_no_exception(page)


def test_channel_filter_in_the_sidebar(dashboard, page):
    url, _ = dashboard
    page.goto(url)
    page.get_by_text("Key figures").wait_for(timeout=60_000)
    channel = page.locator('[data-testid="stSelectbox"]').filter(has_text="Channel").locator("input")
    channel.scroll_into_view_if_needed()
    channel.click()
    channel.press_sequentially("douyin")  # pick by typing, not by a list that may fall below the fold
    channel.press("Enter")
    # the KPI caption names the channel (the comparison depends on what the upload test added)
    page.get_by_text(re.compile(r", douyin; (change against|no comparison: data starts on)")).wait_for(timeout=30_000)
    assert_no_exception(page)




@pytest.mark.parametrize("path, marker", [
    ("retention", "Who is behind a cell"),
    ("trends", "Measured as"),
    ("funnels", "Who dropped off"),
    ("paths", "Top paths"),
    ("content", "Top 10"),
    ("communities", "Leaderboard"),
    ("segments", "Compared with everyone"),
    ("user", "Timeline"),
    ("experiments", "Coupon campaigns"),
    ("share-graph", "Key sharers"),
    ("growth", "Models on the chart"),
    ("churn", "Active (censored)"),
    ("upload", "Drop export files here"),
])
def test_every_page_renders_in_the_browser(dashboard, page, path, marker):
    url, _ = dashboard
    page.goto(f"{url}/{path}")
    page.get_by_text(marker).first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)  # let charts and late elements settle before looking for errors
    assert_no_exception(page)


def test_a_closed_tab_runs_when_it_is_opened(dashboard, page):
    """Tabs render lazily (only the open one runs); opening another must fill it in by itself."""
    url, _ = dashboard
    page.goto(f"{url}/churn")
    page.get_by_text("Active (censored)").first.wait_for(timeout=60_000)
    assert page.get_by_text("High risk").count() == 0
    page.get_by_role("tab", name="At-risk users").click()
    # 40 days of data back no 30-day at-risk list: the tab then names the longest horizon they support
    page.get_by_text(re.compile("High risk|the longest horizon the data supports")).first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    assert_no_exception(page)


def test_build_save_and_export_a_segment(dashboard, page):
    from engine.admin.audit import entries

    url, db = dashboard
    page.goto(f"{url}/segments")
    page.get_by_text("Compared with everyone").first.wait_for(timeout=60_000)
    page.get_by_label("Save as").fill("e2e buyers")
    page.get_by_label("Save as").press("Enter")
    page.get_by_role("button", name="Save segment").click()
    page.get_by_text("Saved “e2e buyers”").wait_for(timeout=30_000)
    button = page.get_by_role("button", name=re.compile(r"All [\d,]+ users as CSV"))
    shown = int(re.search(r"All ([\d,]+) users", button.inner_text()).group(1).replace(",", ""))
    with page.expect_download() as download:
        button.click()
    text = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("user_id,") and len(text.strip().splitlines()) == shown + 1
    # the click's rerun writes the audit entry; wait for it rather than for a fixed time
    deadline = time.monotonic() + 30
    while True:
        with warehouse.connect(db) as con:
            actions = set(entries(con)["action"])
        if {"segment_save", "export"} <= actions or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    assert {"segment_save", "export"} <= actions
    assert_no_exception(page)


def test_add_three_conditions_then_remove_one(dashboard, page):
    """The third added condition used to crash the page on a repeated widget key."""
    url, _ = dashboard
    page.goto(f"{url}/segments")
    page.get_by_text("Compared with everyone").first.wait_for(timeout=60_000)
    rows = page.locator('[data-testid="stSelectbox"]').filter(has_text="Users who")
    for count in (2, 3, 4):
        page.get_by_role("button", name="Add condition").click()
        page.wait_for_function(f"() => [...document.querySelectorAll('[data-testid=stSelectbox]')]"
                               f".filter(e => e.innerText.includes('Users who')).length === {count}",
                               timeout=30_000)
        assert_no_exception(page)
    # the icon button of the last condition
    page.locator('button:has([data-testid="stIconMaterial"]:text-is("close"))').filter(visible=True).last.click()
    page.wait_for_function("() => [...document.querySelectorAll('[data-testid=stSelectbox]')]"
                           ".filter(e => e.innerText.includes('Users who')).length === 3", timeout=30_000)
    assert rows.count() == 3
    page.get_by_text(re.compile(r"[\d,]+ users · ")).first.wait_for(timeout=30_000)
    assert_no_exception(page)


def test_a_filtered_broken_down_trend_from_a_shared_link(dashboard, page):
    url, _ = dashboard
    page.goto(f"{url}/trends?n=2&e0=view&m0=users&e1=purchase&m1=users&w1=amount%20%3E%2050&b=channel&l=3"
              "&f=B%20%2F%20A&i=week")
    page.get_by_text("formula · B / A").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    assert page.get_by_role("textbox", name="Formula").input_value() == "B / A"
    page.get_by_role("textbox", name="Where").nth(0).fill("channel = douyin")
    page.get_by_role("textbox", name="Where").nth(0).press("Enter")
    page.get_by_text("A · Unique users of view where channel = douyin").wait_for(timeout=30_000)
    assert_no_exception(page)


def pick(tab, label: str, option: str, *, within=None) -> None:
    """Choose ``option`` in the selectbox labelled ``label`` by typing it, as a user would."""
    box = (within or tab).locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input")
    box.scroll_into_view_if_needed()
    box.click()
    box.press_sequentially(option)
    box.press("Enter")


def test_property_filter_bar_and_a_kpi_breakdown(dashboard, page):
    url, _ = dashboard
    page.goto(url)
    page.get_by_text("Key figures").wait_for(timeout=60_000)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Property filters").click()
    pick(page, "Property", "User · gender", within=sidebar)
    pick(page, "Operator", "=", within=sidebar)
    sidebar.get_by_role("textbox", name="Value").fill("F")
    sidebar.get_by_role("textbox", name="Value").press("Enter")
    sidebar.get_by_role("button", name="Add filter").click()
    page.get_by_text(re.compile(r"all channels; gender = F; ")).wait_for(timeout=30_000)
    assert "where=gender" in page.url
    pick(page, "Split these figures by", "User · city")
    page.get_by_text("Breakdown as CSV").wait_for(timeout=30_000)
    assert "kpi_by=city" in page.url
    # the filter goes with the user to another page, and the address keeps it
    page.goto(page.url.replace(url + "/?", url + "/funnels?").replace(url + "?", url + "/funnels?"))
    page.get_by_text("gender = F").first.wait_for(timeout=60_000)
    assert_no_exception(page)


def test_overview_kpis_and_dau_wau_mau_chart(dashboard, page):
    url, _ = dashboard
    page.goto(url)
    page.get_by_text("DAU, WAU and MAU per day").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=30_000)
    assert page.locator('[data-testid="stMetric"]').filter(has_text="MAU").count() >= 1
    assert_no_exception(page)


def test_look_up_a_users_recommendations(dashboard, page):
    """The model trains in the background on first visit; the page fills in by itself."""
    url, _ = dashboard
    page.goto(f"{url}/recommendations")
    page.get_by_text("Model trained").first.wait_for(timeout=120_000)
    page.get_by_label("User id (or its beginning)").fill("u0001")
    page.get_by_label("User id (or its beginning)").press("Enter")
    page.get_by_text(re.compile(r"\d+ matching users")).first.wait_for(timeout=30_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    page.get_by_role("tab", name="How good is it?").click()
    page.get_by_text("Test period").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    assert_no_exception(page)


PASSWORD = "correct horse battery"


def sign_in(tab, name: str, password: str) -> None:
    """Fill the sign-in form and submit it."""
    tab.get_by_label("User name").fill(name)
    tab.get_by_label("Password", exact=True).fill(password)
    tab.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A second dashboard whose warehouse has accounts, so everyone signs in."""
    from engine.admin import access

    folder, db = _demo_folder(tmp_path_factory, "e2e-secured")
    access.add_user(db, "ada", "admin", PASSWORD)
    access.add_user(db, "vera", "viewer", PASSWORD)
    for url in _serve(folder, {"POND_WAREHOUSE": str(db)}):
        yield url, db


def test_sign_in_roles_and_the_audit_trail(secured, request):
    from playwright.sync_api import sync_playwright

    url, _ = secured
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            tab.goto(url)
            tab.get_by_text("Sign in to Pond").wait_for(timeout=60_000)
            sign_in(tab, "vera", "not her password")
            tab.get_by_text("Wrong name or password").wait_for(timeout=30_000)
            sign_in(tab, "vera", PASSWORD)
            tab.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
            # a viewer's menu (in the top bar, one drop-down per section) has no Data section at all
            nav = tab.locator('[data-testid="stTopNav"]').inner_text()
            assert "Dashboards" in nav and "Data" not in nav
            tab.get_by_text("Dashboards", exact=True).first.click()
            tab.get_by_text("Overview", exact=True).first.wait_for(timeout=10_000)
            tab.keyboard.press("Escape")
            tab.get_by_role("button", name="Sign out").click()
            tab.get_by_text("Sign in to Pond").wait_for(timeout=30_000)
            sign_in(tab, "ada", PASSWORD)
            tab.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
            tab.get_by_text("Data", exact=True).first.click()
            tab.get_by_text("Admin", exact=True).first.click()
            entries = tab.get_by_text(re.compile(r"[\d,]+ entries, newest first")).first
            entries.wait_for(timeout=30_000)
            # vera's failure and sign-in, her sign-out, ada's sign-in (the table itself is a canvas)
            assert int(entries.inner_text().split()[0].replace(",", "")) >= 4
            assert_no_exception(tab)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            raise
        finally:
            browser.close()


def _tables_offer_no_download(tab) -> int:
    """Hover every table in view (not those in closed tabs) and look in its toolbar; returns how many
    tables were looked at."""
    tables = tab.locator('[data-testid="stDataFrame"]')
    count = 0
    for index in range(tables.count()):
        table = tables.nth(index)
        if not table.is_visible():
            continue
        count += 1
        table.scroll_into_view_if_needed()
        table.hover()
        toolbar = table.locator('xpath=..').locator('[data-testid="stElementToolbar"]')
        toolbar.first.wait_for(state="attached", timeout=10_000)
        # the toolbar is there (search, full screen ...) but has no download of its own
        assert toolbar.first.locator("button").count() >= 1
        assert toolbar.get_by_label("Download as CSV").count() == 0
    assert tab.get_by_label("Download as CSV").count() == 0
    return count


def test_a_viewer_finds_no_table_download_button(secured, request):
    """Streamlit's table toolbar has a CSV download for everyone, with no role check and no audit:
    Pond turns it off (client.disableDataExport), so a viewer finds no way out but Pond's own export."""
    from playwright.sync_api import sync_playwright

    url, _ = secured
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            tab.goto(url)
            tab.get_by_text("Sign in to Pond").wait_for(timeout=60_000)
            sign_in(tab, "vera", PASSWORD)
            tab.locator('[data-testid="stMetric"]').first.wait_for(timeout=60_000)
            tab.get_by_text("Tables", exact=True).first.click()
            tab.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
            looked = _tables_offer_no_download(tab)
            # Pond's own export is there, and disabled for a viewer
            assert tab.get_by_role("button", name=re.compile("KPIs as CSV")).is_disabled()
            for section, title, marker in [("Dashboards", "Content and campaigns", "Top 10"),
                                           ("Dashboards", "Communities and lifecycle", "Leaderboard"),
                                           ("Predictions", "Churn and propensity", "Active (censored)")]:
                tab.get_by_text(section, exact=True).first.click()
                tab.get_by_text(title, exact=True).first.click()
                tab.get_by_text(marker).first.wait_for(timeout=60_000)
                tab.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
                tab.wait_for_timeout(500)
                looked += _tables_offer_no_download(tab)
            assert looked >= 6
            assert_no_exception(tab)
        except Exception:
            ARTIFACTS.mkdir(exist_ok=True)
            tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
            raise
        finally:
            browser.close()
