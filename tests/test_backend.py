"""The backend seam: which database the environment chooses, and what a ClickHouse connection refuses."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.errors import PondError
from engine.store import backend, warehouse


def test_duckdb_is_the_default_and_a_typo_is_refused(monkeypatch):
    monkeypatch.delenv("POND_BACKEND", raising=False)
    assert backend.name() == "duckdb"
    monkeypatch.setenv("POND_BACKEND", " ClickHouse ")
    assert backend.name() == "clickhouse"
    monkeypatch.setenv("POND_BACKEND", "clikhouse")
    with pytest.raises(PondError, match="use duckdb .* or clickhouse"):
        backend.name()


def test_the_clickhouse_url_takes_credentials_from_the_environment(monkeypatch):
    for key in ("POND_CLICKHOUSE_URL", "POND_CLICKHOUSE_USER", "POND_CLICKHOUSE_PASSWORD", "POND_CLICKHOUSE_DATABASE"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(PondError, match="needs POND_CLICKHOUSE_URL"):
        backend.clickhouse_url()
    monkeypatch.setenv("POND_CLICKHOUSE_URL", "chdb:/srv/pond")
    assert backend.clickhouse_url() == "chdb:/srv/pond"
    monkeypatch.setenv("POND_CLICKHOUSE_URL", "http://ch.internal:8123")
    assert backend.clickhouse_url() == "http://default@ch.internal:8123/default"
    monkeypatch.setenv("POND_CLICKHOUSE_USER", "pond")
    monkeypatch.setenv("POND_CLICKHOUSE_PASSWORD", "p@ss:word/")
    monkeypatch.setenv("POND_CLICKHOUSE_DATABASE", "shop")
    url = backend.clickhouse_url()
    assert url == "http://pond:p%40ss%3Aword%2F@ch.internal:8123/shop"
    assert backend.describe(url) == "http://pond@ch.internal:8123/shop"  # no password in messages
    monkeypatch.setenv("POND_CLICKHOUSE_URL", "ftp://ch.internal")
    with pytest.raises(PondError, match="neither chdb:/folder nor http"):
        backend.clickhouse_url()


class _ReadOnly:
    dialect = "clickhouse"

    def execute(self, *args):  # pragma: no cover - the refusal comes first
        raise AssertionError("a write reached ClickHouse")


def test_a_write_on_clickhouse_is_refused_before_it_starts():
    with pytest.raises(PondError, match="clickhouse load"), warehouse.write_transaction(_ReadOnly()):
        pass


def test_reads_on_clickhouse_go_to_the_connection_with_the_filter_in_force():
    """warehouse.read_sql hands a ClickHouse connection's reads to it: it scopes them in its own dialect
    (tests/test_clickhouse_parity.py checks the answers under filters)."""
    from engine.store import scope
    from engine.store.filters import parse_condition

    class Recording(_ReadOnly):
        def read_sql(self, sql, params):
            self.seen = (sql, params, scope.current())
            return self

    con = Recording()
    condition = parse_condition("city = 上海")
    with scope.applied([condition]):
        assert warehouse.read_sql(con, "select 1", {"x": 1}) is con
    assert con.seen == ("select 1", {"x": 1}, (condition,))


class _ClusterTables:
    """A connection whose events are a Distributed table, as `clickhouse init --cluster` makes them."""

    def execute_native(self, sql, values=None):
        self.sql = sql
        return self

    def df(self):
        return pd.DataFrame({"engine": ["Distributed"]})


def test_writes_and_loads_into_a_cluster_are_refused_saying_what_works():
    from engine.store import clickhouse

    with pytest.raises(PondError, match="on a ClickHouse cluster is not built yet"), \
            clickhouse.write_lock(_ClusterTables()):
        pass
    with warehouse.schema_connection() as duck, pytest.raises(PondError, match="`clickhouse load` on a ClickHouse"):
        clickhouse.load_from_duckdb(duck, _ClusterTables())
