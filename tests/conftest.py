"""Shared fixtures: a fresh warehouse per test, file writers, and the real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.store import warehouse


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    """Keep every test away from the developer's own warehouse and pseudonym key, and page tests'
    timing their own: the dashboard derives a new version's tags and churn results in a thread on
    the first view (the test of that turns it back on)."""
    monkeypatch.setenv("POND_WAREHOUSE", str(tmp_path / "default.duckdb"))
    monkeypatch.delenv("POND_KEY_FILE", raising=False)
    monkeypatch.setenv("POND_BACKGROUND_DERIVE", "0")


def use_private_copy(source: Path, tmp_path: Path, monkeypatch) -> Path:
    """A private copy of the warehouse ``source`` (its stored results are its own), set as the
    dashboard's warehouse: page tests share one built demo per module and never change it."""
    path = tmp_path / "demo.duckdb"
    path.write_bytes(source.read_bytes())
    monkeypatch.setenv("POND_WAREHOUSE", str(path))
    return path


@pytest.fixture
def clear_streamlit_caches():
    import streamlit as st

    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def warehouse_path(tmp_path) -> Path:
    return tmp_path / "pond.duckdb"


@pytest.fixture
def con(warehouse_path):
    with warehouse.connect(warehouse_path) as connection:
        yield connection


@pytest.fixture
def write(tmp_path):
    """write(name, text_or_bytes, encoding='utf-8') -> Path of a new file in tmp_path."""

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        data = content if isinstance(content, bytes) else content.encode(encoding)
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture(scope="session")
def real_data() -> Path:
    folder = os.environ.get("POND_REAL_DATA")
    if not folder:
        pytest.skip("POND_REAL_DATA is not set: point it at ../shared/data/real to run real-data tests")
    path = Path(folder)
    if not path.is_dir():
        pytest.skip(f"POND_REAL_DATA={folder} is not a folder")
    return path


def table_snapshot(con) -> dict:
    """Every table's full contents, to prove that a refused import changed nothing."""
    tables = [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "and table_type = 'BASE TABLE' order by 1").fetchall()]
    return {t: con.execute(f"select * from {t} order by all").fetchall() for t in tables}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the test item (the e2e tests screenshot failures)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session")
def chdb_warehouses(tmp_path_factory):
    """(DuckDB connection, chDB connection) over the same 300-user demo, for the ClickHouse parity tests.

    One per test run: chDB opens one data folder per process, so every test that needs ClickHouse
    in-process shares this one (a command-line test runs its own process instead)."""
    pytest.importorskip("chdb")
    from datetime import datetime

    from engine.ingest import demo
    from engine.store import clickhouse
    from tests.test_clickhouse_parity import END, RFM_RULES

    folder = tmp_path_factory.mktemp("parity")
    with warehouse.connect(folder / "pond.duckdb") as con:
        demo.build_demo(con, users=300, days=60, seed=7, end=END)
        # the temp tables the engine fills before some reads (segment_members, portrait_users, rfm_rules),
        # here as tables that are copied too
        con.execute("create table segment_members as select user_id from users "
                    "where user_id in (select user_id from user_day where purchases > 0) and user_id < 'u000150'")
        con.executemany("insert into audit values (?, ?, ?, ?, ?, ?)", [
            (datetime(2026, 11, 18, 9), "ops", "sign_in", None, None, True),
            (datetime(2026, 11, 21, 10), "ops", "import", "orders.csv\twith a tab", 120, True),
            (datetime(2026, 11, 22, 11), "ana", "import", "it's \\ quoted", None, False),
            (datetime(2026, 11, 23, 12), "ops", "export", None, 40, True),
        ])
        con.execute("create table portrait_users as select user_id from users where user_id < 'u000100'")
        con.execute("create table rfm_rules (segment varchar, priority integer, r_low integer, r_high integer, "
                    "f_low integer, f_high integer, m_low integer, m_high integer)")
        con.executemany("insert into rfm_rules values (?, ?, ?, ?, ?, ?, ?, ?)",
                        [[s, i, *r, *f, *m] for i, (s, r, f, m) in enumerate(RFM_RULES)])
        ch = clickhouse.ClickHouseConnection(f"chdb:{folder / 'ch'}")
        counts = clickhouse.load_from_duckdb(con, ch)
        assert counts["events"] == con.execute("select count(*) from events").fetchone()[0]
        yield con, ch
        ch.close()
