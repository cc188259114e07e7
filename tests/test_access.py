"""Accounts, roles on every page and action, the audit trail, and backup/restore round trips."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from engine.admin import access, audit
from engine.admin.access import AccessDenied, User
from engine.admin.backup import backup, restore
from engine.behaviour import metrics
from engine.errors import PondError
from engine.ingest.demo import build_demo
from engine.store import warehouse
from tests.conftest import table_snapshot

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


# --- accounts ------------------------------------------------------------------------------------

def test_accounts_store_salted_argon2_hashes_outside_the_warehouse(tmp_path):
    db = tmp_path / "w.duckdb"
    assert not access.sign_in_required(db)
    access.add_user(db, "alice", "admin", PASSWORD)
    access.add_user(db, "bob", "viewer", PASSWORD)
    path = access.users_file(db)
    text = path.read_text()
    assert path.parent == db.parent and path.name == "w.duckdb.users.json"
    assert PASSWORD not in text and text.count("$argon2id$") == 2
    hashes = [line for line in text.splitlines() if "argon2" in line]
    assert hashes[0].split("$")[-2] != hashes[1].split("$")[-2]  # a different salt for the same password
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert access.sign_in_required(db)
    assert access.verify(db, "alice", PASSWORD) == User("alice", "admin")
    assert access.verify(db, "alice", "wrong password!") is None
    assert access.verify(db, "nobody", PASSWORD) is None


@pytest.mark.parametrize("name, role, password, message", [
    ("a", "admin", PASSWORD, "2-64 letters"),
    ("x'; drop table users; --", "admin", PASSWORD, "2-64 letters"),
    ("carol", "superuser", PASSWORD, "role must be one of viewer, marketer, admin"),
    ("carol", "viewer", "short", "at least 10 characters"),
])
def test_bad_accounts_are_refused(tmp_path, name, role, password, message):
    with pytest.raises(PondError, match=message):
        access.add_user(tmp_path / "w.duckdb", name, role, password)


def test_the_last_admin_cannot_be_demoted_or_removed(tmp_path):
    db = tmp_path / "w.duckdb"
    access.add_user(db, "alice", "admin", PASSWORD)
    access.add_user(db, "bob", "marketer", PASSWORD)
    with pytest.raises(PondError, match="last admin"):
        access.set_role(db, "alice", "viewer")
    with pytest.raises(PondError, match="last admin"):
        access.remove_user(db, "alice")
    access.set_role(db, "bob", "admin")
    access.remove_user(db, "alice")
    assert [u["name"] for u in access.list_users(db)] == ["bob"]


def test_role_matrix():
    expected = {"viewer": {"view"}, "marketer": {"view", "segments", "export"},
                "admin": set(access.PERMISSIONS)}
    for role, actions in expected.items():
        assert {a for a in access.PERMISSIONS if access.allowed(role, a)} == actions
    with pytest.raises(AccessDenied, match="needs the admin role"):
        access.require(User("bob", "marketer"), "import")


def test_cli_creates_the_first_admin(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "w.duckdb"
    done = subprocess.run([sys.executable, "-m", "engine", "--warehouse", str(db), "users", "add", "root-admin",
                           "--role", "admin", "--password-stdin"], input=PASSWORD + "\n", cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert access.verify(db, "root-admin", PASSWORD) == User("root-admin", "admin")
    with warehouse.connect(db) as con:
        logged = audit.entries(con)
    assert logged[["action", "detail"]].values.tolist() == [["user_add", "root-admin as admin"]]


# --- audit ---------------------------------------------------------------------------------------

def test_audit_entries_filter_and_recorded_failures_slow_a_name_down(con):
    for _ in range(4):
        audit.record(con, "mallory", "sign_in_failed", "wrong name or password", ok=False)
    audit.record(con, "alice", "export", "pond-rfm.csv", rows=12)
    assert audit.sign_in_wait(con, "mallory", access.BY_NAME) == 0
    audit.record(con, "mallory", "sign_in_failed", "wrong name or password", ok=False)
    assert 0.9 < audit.sign_in_wait(con, "mallory", access.BY_NAME) <= 1.0
    assert audit.sign_in_wait(con, "alice", access.BY_NAME) == 0
    exports = audit.entries(con, action="export")
    assert exports[["actor", "detail", "rows", "ok"]].values.tolist() == [["alice", "pond-rfm.csv", 12, True]]
    assert len(audit.entries(con, actor="mallory")) == 5
    version = warehouse.data_version(con)
    audit.record(con, "alice", "export", "again.csv", rows=1)
    assert warehouse.data_version(con) == version  # an export does not invalidate every cached chart


# --- backup and restore --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("access") / "demo.duckdb"
    with warehouse.connect(path) as con:
        build_demo(con, users=300, days=40, seed=2, end=date(2026, 3, 1))
    return path


def answers(con) -> dict:
    """A few analyses whose results must survive a round trip exactly."""
    from engine.behaviour.retention import RetentionQuery, retention_matrix
    from engine.customers.rfm import rfm_scores

    def records(frame) -> list[dict]:  # NaN as None: two NaNs are never equal, two Nones are
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    period = metrics.Period(date(2026, 2, 1), date(2026, 2, 28))
    return {"kpis": records(metrics.kpi_comparison(con, period)),
            "retention": records(retention_matrix(con, RetentionQuery())),
            "rfm": records(rfm_scores(con)),
            "uploads": con.execute("select count(*) from uploads").fetchall()}


def test_backup_and_restore_round_trip_with_identical_answers(demo_file, tmp_path, write):
    from engine.ingest import import_file

    db = tmp_path / "w.duckdb"
    db.write_bytes(demo_file.read_bytes())
    with warehouse.connect(db) as con:
        before = answers(con)
        done = backup(con, tmp_path / "snap.duckdb")
        assert done.tables["events"] == con.execute("select count(*) from events").fetchone()[0]
        audit.record(con, "alice", "backup", str(done.path))
        import_file(con, write("more.csv", "user_id,event_type,event_time,amount\n"
                                           "zed,purchase,2026-02-20 10:00:00,99\n"))
        assert answers(con) != before
        version = warehouse.data_version(con)
        restore(con, done.path)
        assert answers(con) == before
        assert warehouse.data_version(con) > version  # no cache can mistake the restored data for older data
        # the trail is kept, not rolled back (the import audited itself, in its transaction)
        assert audit.entries(con)["action"].tolist() == ["import", "backup"]


def test_backup_never_overwrites_and_names_a_duckdb_file(demo_file, tmp_path):
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        (tmp_path / "taken.duckdb").write_bytes(b"x")
        with pytest.raises(PondError, match="already exists"):
            backup(con, tmp_path / "taken.duckdb")
        with pytest.raises(PondError, match=r"\.duckdb"):
            backup(con, tmp_path / "snap.zip")


@pytest.mark.parametrize("content, message", [
    (b"not a database at all" * 100, "is not a Pond warehouse backup"),
    (None, "no backup file"),
])
def test_a_bad_backup_is_refused_and_changes_nothing(demo_file, tmp_path, content, message):
    db = tmp_path / "w.duckdb"
    db.write_bytes(demo_file.read_bytes())
    src = tmp_path / "bad.duckdb"
    if content is not None:
        src.write_bytes(content)
    with warehouse.connect(db) as con:
        before = table_snapshot(con)
        with pytest.raises(PondError, match=message):
            restore(con, src)
        assert table_snapshot(con) == before


def test_a_duckdb_file_that_is_not_a_warehouse_is_refused(demo_file, tmp_path):
    import duckdb

    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as foreign:
        foreign.execute("create table customers (id int)")
    db = tmp_path / "w.duckdb"
    db.write_bytes(demo_file.read_bytes())
    with warehouse.connect(db) as con:
        before = table_snapshot(con)
        with pytest.raises(PondError, match="not a Pond warehouse backup"):
            restore(con, other)
        assert table_snapshot(con) == before


def test_cli_backup_and_restore(demo_file, tmp_path, capsys):
    from engine.__main__ import main

    db = tmp_path / "w.duckdb"
    db.write_bytes(demo_file.read_bytes())
    snap = tmp_path / "backups" / "snap.duckdb"
    assert main(["--warehouse", str(db), "backup", str(snap)]) == 0
    assert "backup written to" in capsys.readouterr().out
    assert main(["--warehouse", str(db), "restore", str(snap)]) == 1  # no terminal, no --yes: refused
    assert "add --yes" in capsys.readouterr().err
    assert main(["--warehouse", str(db), "restore", str(snap), "--yes"]) == 0
    assert main(["--warehouse", str(db), "audit", "--format", "csv"]) == 0
    trail = capsys.readouterr().out
    assert ",restore," in trail and ",backup," in trail


# --- roles in the dashboard ----------------------------------------------------------------------

@pytest.fixture
def accounts(demo_file, tmp_path, monkeypatch):
    db = tmp_path / "demo.duckdb"
    db.write_bytes(demo_file.read_bytes())
    monkeypatch.setenv("POND_WAREHOUSE", str(db))
    for name, role in (("vera", "viewer"), ("mark", "marketer"), ("ada", "admin")):
        access.add_user(db, name, role, PASSWORD)
    st.cache_data.clear()
    yield db
    st.cache_data.clear()


def app(user: User | None = None, page: str = "app.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60)
    if user is not None:
        at.session_state["pond_user"] = user
    return at


def test_sign_in_is_required_and_failures_are_audited(accounts):
    at = app().run()
    assert at.title[0].value == "Sign in to Pond"
    at.text_input(key="sign-in-name").input("vera")
    at.text_input(key="sign-in-password").input("wrong password")
    at.button[0].click().run()
    assert any("Wrong name or password" in e.value for e in at.error)
    at.text_input(key="sign-in-password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and at.session_state["pond_user"] == User("vera", "viewer")
    with warehouse.connect(accounts) as con:
        trail = audit.entries(con)
    assert trail[["actor", "action", "ok"]].values.tolist() == [["vera", "sign_in", True],
                                                               ["vera", "sign_in_failed", False]]


def test_failures_in_the_trail_slow_a_name_down_after_a_restart(accounts):
    with warehouse.connect(accounts) as con:
        for _ in range(5):
            audit.record(con, "ada", "sign_in_failed", "wrong name or password", ok=False)
    at = app().run()
    at.text_input(key="sign-in-name").input("ada")
    at.text_input(key="sign-in-password").input(PASSWORD)
    at.button[0].click().run()
    assert any("Too many failed sign-ins" in e.value for e in at.error)
    assert "pond_user" not in at.session_state


PAGES = {"views/overview.py": "view", "views/retention.py": "view", "views/user360.py": "view",
         "views/growth.py": "view", "views/segments.py": "segments", "views/upload.py": "import",
         "views/admin.py": "users"}


@pytest.mark.parametrize("role", access.ROLES)
@pytest.mark.parametrize("page, action", PAGES.items())
def test_each_page_checks_the_role_when_it_runs(accounts, role, page, action):
    """Even run directly (as a bookmarked or replayed request would), a page refuses a role too low."""
    at = app(User({"viewer": "vera", "marketer": "mark", "admin": "ada"}[role], role), page).run()
    assert not at.exception
    refused = [e.value for e in at.error if "may not" in e.value]
    if access.allowed(role, action):
        assert not refused
    else:
        assert refused and f"needs the {access.PERMISSIONS[action]} role" in refused[0]


@pytest.mark.parametrize("role, hidden", [("viewer", {"Segments", "Upload data", "Admin"}),
                                          ("marketer", {"Upload data", "Admin"}), ("admin", set())])
def test_the_menu_shows_what_the_role_opens(accounts, role, hidden):
    from ui.menu import PAGES, titles_for

    names = {"viewer": "vera", "marketer": "mark", "admin": "ada"}
    every = {title for entries in PAGES.values() for _, title, *_ in entries}
    assert every - titles_for(User(names[role], role)) == hidden
    at = app(User(names[role], role)).run()
    assert not at.exception
    assert any(f"**{names[role]}** ({role})" in c.value for c in at.sidebar.caption)


def test_viewers_cannot_export_and_exports_are_audited_for_marketers(accounts):
    at = app(User("vera", "viewer"), "views/retention.py").run()
    assert not at.exception
    greyed = [b for b in at.button if b.label.startswith("⬇")]
    assert greyed and all(b.disabled for b in greyed)
    from ui import auth

    at = app(User("mark", "marketer"), "views/retention.py").run()
    assert not at.exception and not any(b.label.startswith("⬇") for b in at.button)
    assert at.get("download_button")  # the real download buttons
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "current_user", lambda: User("mark", "marketer"))
        auth.record("export", "pond-kpis.csv", rows=7)
    with warehouse.connect(accounts) as con:
        logged = audit.entries(con, action="export")
    assert logged[["actor", "detail", "rows"]].values.tolist() == [["mark", "pond-kpis.csv", 7]]


def test_a_removed_account_is_signed_out_on_its_next_run(accounts):
    at = app(User("mark", "marketer")).run()
    assert not at.exception
    access.remove_user(accounts, "mark")
    at.run()
    assert at.title[0].value == "Sign in to Pond"


def test_local_mode_is_labelled(demo_file, tmp_path, monkeypatch):
    db = tmp_path / "local.duckdb"
    db.write_bytes(demo_file.read_bytes())
    monkeypatch.setenv("POND_WAREHOUSE", str(db))
    at = app().run()
    assert not at.exception
    assert any("Local mode" in c.value for c in at.sidebar.caption)


def test_each_cli_export_is_audited_with_its_own_row_count(demo_file, tmp_path, capsys):
    from engine.__main__ import main

    db = tmp_path / "w.duckdb"
    db.write_bytes(demo_file.read_bytes())
    counts = []
    for analysis in ("channels", "rfm"):
        assert main(["--warehouse", str(db), "query", analysis, "--format", "csv"]) == 0
        counts.append(len(capsys.readouterr().out.strip().splitlines()) - 1)
    with warehouse.connect(db) as con:
        logged = audit.entries(con, action="export").sort_values("logged_at")
    assert logged["rows"].tolist() == counts and logged["detail"].tolist() == ["query channels (csv)",
                                                                              "query rfm (csv)"]


# --- sign-in throttling ---------------------------------------------------------------------------

def test_parallel_sign_ins_cannot_check_more_guesses_than_the_throttle_allows(tmp_path, monkeypatch):
    """12 sign-ins at once for one name (11 wrong guesses and the right password): the failures are
    counted atomically (an attempt in flight counts), so only the throttle's five free attempts are
    checked, however the threads interleave; the rest are told to wait."""
    import threading
    import time

    db = tmp_path / "w.duckdb"
    access.add_user(db, "ada", "admin", PASSWORD)
    real_verify, checked = access.verify, []

    def slow_verify(path, name, password):  # every attempt is still being checked when the last arrives
        checked.append(password)
        time.sleep(0.3)
        return real_verify(path, name, password)

    monkeypatch.setattr(access, "verify", slow_verify)
    for clients in (["one-machine"] * 12, [f"machine-{i}" for i in range(12)]):
        throttle, checked[:] = access.SignInThrottle(), []
        guesses = [f"guess number {i:02d}" for i in range(11)] + [PASSWORD]
        start, outcomes = threading.Barrier(12), []

        def attempt(password: str, client: str, throttle=throttle, start=start, outcomes=outcomes) -> None:
            start.wait()
            outcomes.append(access.sign_in(db, "ada", password, client=client, throttle=throttle))

        threads = [threading.Thread(target=attempt, args=pair) for pair in zip(guesses, clients, strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(checked) == access.BY_NAME.free == 5
        assert sum(1 for o in outcomes if o.wait > 0) == 7
        signed_in = [o.user for o in outcomes if o.user is not None]
        assert signed_in == ([User("ada", "admin")] if PASSWORD in checked else [])


def test_failures_grow_the_wait_by_name_and_by_client_without_a_hard_lock():
    now = [1000.0]
    throttle = access.SignInThrottle(clock=lambda: now[0])

    def fail(name: str, client: str) -> float:
        wait = throttle.reserve(name, client)
        if wait == 0:
            throttle.release(name, client, ok=False)
        return wait

    # five free failures, then each try must wait twice as long as the last
    assert [fail("ada", "mallory-pc") for _ in range(5)] == [0, 0, 0, 0, 0]
    waits = []
    for _ in range(9):
        waits.append(throttle.reserve("ada", "mallory-pc"))
        now[0] += waits[-1]
        assert fail("ada", "mallory-pc") == 0
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # the client's waits, which go on past the name's minute
    # the owner, from her own machine, waits at most a minute however long the attack has gone on
    assert throttle.reserve("ada", "ada-laptop") == 60
    now[0] += 60
    assert throttle.reserve("ada", "ada-laptop") == 0
    throttle.release("ada", "ada-laptop", ok=True)
    assert throttle.reserve("ada", "ada-laptop") == 0  # a success clears the name's count
    throttle.release("ada", "ada-laptop", ok=True)
    # the guessing machine stays slowed down on every name, up to 15 minutes
    assert 400 < throttle.reserve("bob", "mallory-pc") <= 480
    assert access.BY_CLIENT.wait(100) == 900


def test_a_throttled_sign_in_is_refused_without_checking_the_password(accounts, monkeypatch):
    checked = []
    monkeypatch.setattr(access, "verify", lambda *a: checked.append(a) or None)
    monkeypatch.setattr(access, "THROTTLE", access.SignInThrottle())
    at = app().run()
    for _ in range(6):
        at.text_input(key="sign-in-name").input("ada")
        at.text_input(key="sign-in-password").input("a wrong guess")
        at.button[0].click().run()
    assert len(checked) == 5
    assert any("Too many failed sign-ins: try again in" in e.value for e in at.error)
    with warehouse.connect(accounts) as con:
        actions = audit.entries(con)["action"].tolist()
    assert actions.count("sign_in_failed") == 5 and actions.count("sign_in_throttled") == 1
