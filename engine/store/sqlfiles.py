"""The SQL files: ``engine/queries/<name>.sql``, loaded by name, composed from parts, their ``$name``
parameters bound. Plain text work, below every backend (:mod:`engine.store.warehouse` for DuckDB,
:mod:`engine.store.clickhouse`), which both read their queries through here."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
QUERY_DIR = PROJECT_ROOT / "engine" / "queries"


@cache
def load_query(name: str) -> str:
    """The text of ``engine/queries/<name>.sql``."""
    file = QUERY_DIR / f"{name}.sql"
    if not file.exists():
        raise KeyError(f"no query named {name!r} in {QUERY_DIR}")
    return file.read_text(encoding="utf-8")


_NAMED_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")


def bind_named(sql: str, params: dict) -> dict:
    """The subset of ``params`` that ``sql`` names as ``$name`` (DuckDB refuses extra ones)."""
    wanted = set(_NAMED_PARAMETER.findall(sql))
    return {k: v for k, v in params.items() if k in wanted}


def compose_query(name: str, **slots: str) -> str:
    """A named query whose ``{slot}`` placeholders hold other named queries (shared CTE chains).

    ``compose_query("retention_matrix", members="retention_members")`` puts the text of
    retention_members.sql where retention_matrix.sql says ``{members}``. Only query files are
    spliced, never values: those stay bound parameters.
    """
    sql = load_query(name)
    for slot, part in slots.items():
        sql = sql.replace("{" + slot + "}", load_query(part).rstrip().rstrip(";"))
    return sql
