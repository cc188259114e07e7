"""The SQL Pond sends stays inside the subset that translates to ClickHouse (../shared/DESIGN.md,
"Growing past one machine"; issue 22).

Rules, each measured as a cause of a wrong answer or an error on ClickHouse:

- no ``to_days``/``to_months`` (or any ``to_<unit>``) interval constructors: write ``interval (n) day``;
- no ordered list aggregates (``list(x order by y)``, ``string_agg(x, ',' order by y)``): sort the
  result (``list_sort(list(x))``) or order the rows before aggregating;
- no table macros (``create macro ... as table``): splice the query in as ``{slot}``;
- every CTE name unique once spliced queries are composed (``engine.store.warehouse.compose_query``).

The importer's own SQL (``ingest_*``, ``demo_*`` and the DuckDB macros in ``engine/ingest``) runs
on the local DuckDB that reads the file, whatever the backend, so it is outside these rules.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from engine.store.warehouse import QUERY_DIR, compose_query

ROOT = Path(__file__).resolve().parent.parent
#: queries that run on the importer's local DuckDB only
LOCAL_PREFIXES = ("ingest_", "demo_")
SHARED = sorted(p for p in QUERY_DIR.glob("*.sql") if not p.name.startswith(LOCAL_PREFIXES))
PYTHON = sorted(p for p in (ROOT / "engine").rglob("*.py") if "ingest" not in p.relative_to(ROOT / "engine").parts)

_INTERVAL_CONSTRUCTOR = re.compile(
    r"\bto_(?:microseconds|milliseconds|seconds|minutes|hours|days|weeks|months|quarters|years)\s*\(", re.IGNORECASE)
_TABLE_MACRO = re.compile(r"\bmacro\b[^;]*?\bas\s+table\b", re.IGNORECASE | re.DOTALL)
_CALL = re.compile(r"\b([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)
#: words before a parenthesis that open a clause, not a function's arguments
_NOT_FUNCTIONS = {"over", "group", "in", "as", "exists", "from", "join", "values", "using", "filter", "window",
                  "and", "or", "not", "when", "then", "else", "on", "select", "where", "by", "all", "any"}


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _argument_text(sql: str, open_at: int) -> str:
    """The text inside the parenthesis that opens at ``open_at``, nested parentheses blanked out."""
    depth, out = 0, []
    for ch in sql[open_at:]:
        if ch == "(":
            depth += 1
            if depth == 1:
                continue
        elif ch == ")":
            depth -= 1
            if depth == 0:
                break
        out.append(ch if depth == 1 else " ")
    return "".join(out)


def ordered_aggregates(sql: str) -> list[str]:
    """The calls in ``sql`` with an ``order by`` among their own arguments (``list(x order by y)``)."""
    sql = _strip_comments(sql)
    found = []
    for call in _CALL.finditer(sql):
        if call.group(1).lower() in _NOT_FUNCTIONS:
            continue
        arguments = _argument_text(sql, call.end() - 1).strip()
        if re.match(r"(select|with)\b", arguments, re.IGNORECASE):
            continue  # a subquery, not arguments
        if re.search(r"\border\s+by\b", arguments, re.IGNORECASE):
            found.append(f"{call.group(1)}({arguments.strip()[:60]})")
    return found


def test_the_rules_catch_what_they_forbid():
    """The detectors on hand-written offenders and on the portable spellings that replace them."""
    assert ordered_aggregates("select list(distinct v order by v) from t") == ["list(distinct v order by v)"]
    assert ordered_aggregates("select string_agg(x, ',' order by y desc) from t")
    assert ordered_aggregates("select list_sort(list(distinct v)) from t") == []
    assert ordered_aggregates("select row_number() over (partition by u order by t) from e") == []
    assert ordered_aggregates("select quantile_cont(0.5) within group (order by x) from t") == []
    assert ordered_aggregates("select * from t where x in (select x from s order by x limit 3)") == []
    assert ordered_aggregates("select count(*) filter (where a) from t order by 1") == []
    assert _INTERVAL_CONSTRUCTOR.search("select d + to_months(cast(n as integer))")
    assert not _INTERVAL_CONSTRUCTOR.search("select d + interval (n) month, go_to_days")
    assert _TABLE_MACRO.search("create or replace temp macro touched(tz) as table select 1")
    assert not _TABLE_MACRO.search("create or replace temp macro pond_id(x) as case when x then 1 end")


@pytest.mark.parametrize("path", SHARED, ids=lambda p: p.stem)
def test_query_file_uses_the_portable_subset(path: Path):
    sql = _strip_comments(path.read_text(encoding="utf-8"))
    problems = []
    if _INTERVAL_CONSTRUCTOR.search(sql):
        problems.append("an interval constructor such as to_days(n): write interval (n) day")
    if _TABLE_MACRO.search(sql):
        problems.append("a table macro: splice the query in as a {slot} (engine.store.warehouse.compose_query)")
    problems += [f"an ordered aggregate {call}: sort the result instead (list_sort(list(x)))"
                 for call in ordered_aggregates(sql)]
    assert not problems, f"{path.name}: " + "; ".join(problems)


@pytest.mark.parametrize("path", PYTHON, ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_written_in_python_uses_the_portable_subset(path: Path):
    """SQL assembled in the analysis modules (funnels, retention, trends ...) follows the same rules."""
    problems = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        text = node.value
        if _INTERVAL_CONSTRUCTOR.search(text):
            problems.append(f"line {node.lineno}: an interval constructor (write interval (n) day)")
        if _TABLE_MACRO.search(text):
            problems.append(f"line {node.lineno}: a table macro")
        if re.search(r"\b(select|from)\b", text, re.IGNORECASE):
            problems += [f"line {node.lineno}: an ordered aggregate {call}" for call in ordered_aggregates(text)]
    assert not problems, f"{path.relative_to(ROOT)}: " + "; ".join(problems)


def _composed_queries() -> list[tuple[str, dict[str, str]]]:
    """Every ``compose_query``/``run_composed`` call in engine/ whose query and slots are literals."""
    found = set()
    for path in (ROOT / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                    in {"compose_query", "run_composed"}):
                continue
            names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            slots = {k.arg: k.value.value for k in node.keywords
                     if k.arg and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
            if names and slots:
                found.add((names[0], tuple(sorted(slots.items()))))
    # compositions whose query name is a variable: retention's two queries and the rollup inserts
    found |= {(name, (("members", "retention_members"),)) for name in ("retention_matrix", "retention_cell_users")}
    found |= {(path.stem, (("touched", "rollup_touched_events"),)) for path in QUERY_DIR.glob("rollup_*_insert.sql")
              if "{touched}" in path.read_text(encoding="utf-8")}
    return [(name, dict(slots)) for name, slots in sorted(found)]


COMPOSED = _composed_queries()


def test_the_composed_queries_are_found():
    names = {name for name, _ in COMPOSED}
    assert {"retention_matrix", "experiment_list", "k_factor", "community_trend"} <= names
    assert ("rollup_user_day_insert", {"touched": "rollup_touched_events"}) in COMPOSED


def _parse(sql: str) -> exp.Expression:
    # named parameters ($tz) parse as placeholders; DuckDB-only statements still parse in its dialect
    return sqlglot.parse_one(sql, read="duckdb")


@pytest.mark.parametrize(("name", "slots"), COMPOSED, ids=lambda v: v if isinstance(v, str) else "+".join(v.values()))
def test_spliced_queries_have_unique_cte_names(name: str, slots: dict[str, str]):
    tree = _parse(compose_query(name, **slots))
    counts = Counter(cte.alias_or_name for cte in tree.find_all(exp.CTE))
    repeated = sorted(cte for cte, n in counts.items() if n > 1)
    assert not repeated, (f"{name} with {slots}: CTE names {repeated} are defined more than once once the parts "
                          "are spliced; name each part's CTEs after its file")
    assert ordered_aggregates(compose_query(name, **slots)) == []
