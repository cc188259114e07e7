"""Every engine call the benchmark times (bench/bench_queries.py: each page's calls, with their filters and
breakdowns) answers the same on DuckDB and on ClickHouse (chDB), on the shared 300-user demo.

Results are compared field by field: frames as multisets of rows (floats to 6 significant digits),
dataclasses, dicts and lists by their parts.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest

pytest.importorskip("chdb")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from bench_queries import cases  # noqa: E402

from tests.test_clickhouse_analyses import _normal, same  # noqa: E402

#: parts of a result that are not the answer: how long it took, or a drawing of it
IGNORED_FIELDS = {"elapsed", "seconds", "figure", "fig", "chart"}


def equal(a, b, where: str = "result") -> None:
    if isinstance(a, pd.DataFrame):
        try:
            same(a, b)
        except AssertionError as exc:
            raise AssertionError(f"{where} differs: {exc}") from None
    elif isinstance(a, nx.Graph):  # the share graph: its nodes and weighted edges
        assert sorted(map(str, a.nodes)) == sorted(map(str, b.nodes)), f"{where}: other nodes"
        edges = [sorted((str(u), str(v), tuple(sorted((k, _normal(x)) for k, x in d.items())))
                        for u, v, d in g.edges(data=True)) for g in (a, b)]
        assert edges[0] == edges[1], f"{where}: other edges"
    elif isinstance(a, pd.Series):
        equal(a.to_frame(), b.to_frame(), where)
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            if f.name not in IGNORED_FIELDS:
                equal(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(map(str, a))} != {sorted(map(str, b))}"
        for key in a:
            equal(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)) and any(isinstance(x, (pd.DataFrame, dict, list, tuple)) or
                                             dataclasses.is_dataclass(x) for x in a):
        assert len(a) == len(b), f"{where}: {len(a)} parts != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            equal(x, y, f"{where}[{i}]")
    else:
        assert _normal(a) == _normal(b), f"{where}: {a!r} != {b!r}"


@pytest.fixture(scope="module")
def both(chdb_warehouses):
    return chdb_warehouses


@pytest.fixture(scope="module")
def calls(both):
    duck, _ = both
    last = duck.execute("select max(day) from daily_events").fetchone()[0]
    return cases(last)


NAMES = sorted(cases(__import__("datetime").date(2026, 12, 2)))


@pytest.mark.parametrize("name", NAMES)
def test_the_page_call_answers_the_same_on_clickhouse(both, calls, name):
    duck, ch = both
    equal(calls[name](duck), calls[name](ch), name)
