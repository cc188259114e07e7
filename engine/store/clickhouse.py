"""ClickHouse as a read backend (issue 22): Pond's DuckDB queries, run on ClickHouse with the same answers.

- :func:`to_clickhouse` turns a DuckDB query with ``$name`` parameters into ClickHouse SQL with typed
  ``{name:Type}`` placeholders and the parameters in ClickHouse's escaped text format. The SQL is
  transpiled by sqlglot (read ``duckdb``, write ``clickhouse``) plus a few rewrites of Pond's idioms
  (business-day conversions ``(t at time zone 'UTC') at time zone $tz`` become ``toTimeZone(t, $tz)``).
- :func:`load_query` prefers a hand-written override ``engine/queries/clickhouse/<name>.sql`` (ClickHouse
  SQL with DuckDB-style ``$name`` parameters) to translating ``engine/queries/<name>.sql``;
  :func:`compose_query` splices slots like :func:`engine.store.warehouse.compose_query`.
- :class:`ClickHouseConnection` looks like the part of a DuckDB connection the read path uses
  (``execute(sql, params).df()`` ...), over chDB in-process (``chdb:/folder``) or a server
  (``http://user:pass@host:8123/db``, with clickhouse-connect).
- :func:`read_sql` is :func:`engine.store.warehouse.read_sql` for ClickHouse: reads through the global filter
  (:mod:`engine.store.scope`), overrides included. ``warehouse.read_sql``/``run_query`` on a
  :class:`ClickHouseConnection` work too (a query file's text with an override runs as the override),
  but scope an override's DuckDB text, not the override.
- :func:`load_from_duckdb` copies a DuckDB warehouse into ClickHouse; :func:`ddl` gives the tables'
  CREATE statements, for one server or a cluster.

Dates are ClickHouse ``Date`` (1970-01-01 ... 2149-06-06): unlike ``Date32``, one ``Date`` minus another is
the days between them, as in DuckDB. Timestamps are ``DateTime64(6, 'UTC')``, as Pond stores them.
"""

from __future__ import annotations

import datetime as dt
import getpass
import math
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
import sqlglot
from sqlglot import exp

from engine.errors import PondError, WarehouseError, WarehouseLockedError
from engine.store import backend, scope
from engine.store.sqlfiles import QUERY_DIR, bind_named
from engine.store.sqlfiles import compose_query as compose_duckdb

OVERRIDE_DIR = QUERY_DIR / "clickhouse"

#: settings every session gets, each for DuckDB's answer: timestamps are UTC whatever the server's zone;
#: outer joins give NULL (not the type's default) for a missing side; a name in WHERE/GROUP BY means the
#: column, not a select alias that shadows it; min, max, sum, avg ... of no rows (or none that pass a
#: FILTER) are NULL, not the type's default (counts stay 0)
SESSION_SETTINGS: dict[str, object] = {
    "session_timezone": "UTC",
    "join_use_nulls": 1,
    "prefer_column_name_to_alias": 1,
    "aggregate_functions_null_for_empty": 1,
}

#: what main.t (DuckDB's default schema) becomes in a translation, until a connection names its database
MAIN_DATABASE = "_pond_main_"
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*): ?\}")


# --- parameters -------------------------------------------------------------------------------------

def ch_type(value: object) -> str:
    """The ClickHouse type of a placeholder bound to the Python ``value``."""
    if value is None:
        return "Nullable(String)"
    if isinstance(value, bool):
        return "Bool"
    if isinstance(value, int):
        return "Int64"
    if isinstance(value, float):
        return "Float64"
    if isinstance(value, dt.timedelta):
        return "Int64"  # microseconds, inside toIntervalMicrosecond(...)
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return "DateTime64(6, 'UTC')"
    if isinstance(value, dt.date):
        return "Date"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "Array(Int64)"
        return "Array(String)"
    return "String"


_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"}


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ch_value(value: object) -> str:
    """``value`` in ClickHouse's escaped text format, as server-side parameters take it."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, dt.timedelta):
        return str(value // dt.timedelta(microseconds=1))
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        if ch_type(value) == "Array(Int64)":
            return "[" + ",".join(str(int(v)) for v in value) + "]"
        return "[" + ",".join(_quoted(str(v)) for v in value) + "]"  # a literal: quoting is its escaping
    return _escape(str(value))


# --- translation -----------------------------------------------------------------------------------

def _is_utc(node: exp.Expression) -> bool:
    return isinstance(node, exp.Literal) and node.is_string and node.this.upper() == "UTC"


def _rewrite(node: exp.Expression) -> exp.Expression:
    """Pond's DuckDB idioms that sqlglot leaves as they are, in ClickHouse's words."""
    if isinstance(node, exp.AtTimeZone):
        inner, zone = node.this, node.args.get("zone")
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if isinstance(inner, exp.AtTimeZone) and _is_utc(inner.args.get("zone")):
            # a naive UTC timestamp seen in zone $tz: DuckDB's naive local wall-clock time
            return local_time(inner.this, zone)
        if _is_utc(zone):
            return inner
        return local_time(inner, zone)
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.DECIMAL) \
            and not isinstance(node.this, exp.Literal) and len(node.to.expressions) == 2:
        # DuckDB rounds a double to the decimal's scale, ClickHouse truncates: truncate 6 digits further,
        # then round
        precision, scale = (int(p.this.name) for p in node.to.expressions)
        wider = exp.cast(node.this, exp.DataType.build(f"decimal(38, {scale + 6})"))
        rounded = exp.Anonymous(this="round", expressions=[wider, exp.Literal.number(scale)])
        return exp.cast(rounded, exp.DataType.build(f"decimal({precision}, {scale})"))
    if isinstance(node, exp.Round) and not isinstance(node.this, exp.Literal):
        # DuckDB rounds halves away from zero, ClickHouse's round of a Float64 to even: round a decimal
        wider = exp.Anonymous(this="toDecimal128", expressions=[node.this, exp.Literal.number(12)])
        digits = node.args.get("decimals") or exp.Literal.number(0)
        return exp.Anonymous(this="toFloat64", expressions=[
            exp.Anonymous(this="round", expressions=[wider, digits])])
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("arg_min_null", "arg_max_null"):
        # DuckDB's arg_min_null keeps a NULL first value, ClickHouse's argMin (as DuckDB's arg_min) skips
        # it; in a tuple it is kept
        value, key = node.expressions
        function = "argMin" if node.name.lower() == "arg_min_null" else "argMax"
        inner = exp.Anonymous(this=function, expressions=[exp.Anonymous(this="tuple", expressions=[value]), key])
        return exp.Anonymous(this="tupleElement", expressions=[inner, exp.Literal.number(1)])
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("list_position", "array_position", "list_indexof"):
        # DuckDB: the 1-based position, NULL when absent; ClickHouse's indexOf gives 0 then
        array, value = node.expressions
        return exp.Anonymous(this="nullIf", expressions=[
            exp.Anonymous(this="indexOf", expressions=[array, value]), exp.Literal.number(0)])
    if isinstance(node, exp.Table) and node.db == "main" and not node.catalog:
        # DuckDB's default schema (engine.store.scope reads the table main.events beside a CTE named events): the
        # connection's database, put in for MAIN_DATABASE when the query runs
        node.set("db", exp.to_identifier(MAIN_DATABASE))
        return node
    if isinstance(node, exp.Select):
        # a projection t.c is named "t.c" by ClickHouse when another joined table has a c too
        for i, projection in enumerate(node.expressions):
            if isinstance(projection, exp.Column) and projection.table and not isinstance(projection.this, exp.Star):
                node.expressions[i] = exp.alias_(projection, projection.name, quoted=False)
        return node
    if isinstance(node, (exp.Lag, exp.Lead)):  # past the first (last) row: NULL, as in DuckDB, not the default
        if not node.args.get("default"):
            node.set("this", exp.Anonymous(this="toNullable", expressions=[node.this]))
        return node
    if isinstance(node, exp.LogicalOr):
        return exp.Max(this=node.this)
    if isinstance(node, exp.LogicalAnd):
        return exp.Min(this=node.this)
    if isinstance(node, exp.ArraySort) and not node.expression:
        return exp.Anonymous(this="arraySort", expressions=[node.this])
    if isinstance(node, exp.GenerateSeries) and node.args.get("is_end_exclusive") and not node.args.get("step"):
        return exp.Anonymous(this="range", expressions=[node.args["start"], node.args["end"]])
    if isinstance(node, exp.IntDiv):  # DuckDB's // rounds down
        return exp.Anonymous(this="toInt64", expressions=[
            exp.Floor(this=exp.Div(this=node.this, expression=node.expression))])
    return node


#: DuckDB's median is exact (the mean of the middle two of an even count); ClickHouse's samples
_MEDIAN = re.compile(r"\bmedian(If)?\(", re.IGNORECASE)


def local_time(stamp: exp.Expression, zone: exp.Expression) -> exp.Expression:
    """The wall-clock time in ``zone`` of the UTC instant ``stamp``, as a DateTime64(6) labelled UTC:
    what DuckDB's naive ``(stamp at time zone 'UTC') at time zone zone`` holds, so that its date, hour,
    truncations and comparisons with naive timestamps are DuckDB's."""
    return sqlglot.parse_one(
        "fromUnixTimestamp64Micro(toUnixTimestamp64Micro(toDateTime64(s, 6, 'UTC')) "
        "+ toInt64(timeZoneOffset(toTimeZone(toDateTime64(s, 6, 'UTC'), z))) * 1000000, 'UTC')",
        read="clickhouse").transform(
        lambda n: stamp.copy() if isinstance(n, exp.Column) and n.name == "s"
        else zone.copy() if isinstance(n, exp.Column) and n.name == "z" else n)


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """DuckDB SQL (``$name`` parameters) as ClickHouse SQL with untyped ``{name: }`` placeholders;
    :func:`to_clickhouse` types them."""
    trees = sqlglot.parse(sql, read="duckdb")
    out = []
    for tree in trees:
        if tree is None:
            continue
        tree = tree.transform(_rewrite)
        out.append(_MEDIAN.sub(lambda m: f"quantileExactInclusive{m.group(1) or ''}(0.5)(",
                               tree.sql(dialect="clickhouse")))
    return ";\n".join(out)


def _typed(sql: str, params: dict) -> tuple[str, dict]:
    """Type the placeholders of ClickHouse ``sql`` from the bound values ``params``."""
    used: dict[str, str] = {}

    def placeholder(match: re.Match) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"the query names ${name}, which is not bound")
        value = params[name]
        used[name] = ch_value(value)
        text = f"{{{name}:{ch_type(value)}}}"
        return f"toIntervalMicrosecond({text})" if isinstance(value, dt.timedelta) else text

    sql = _PLACEHOLDER.sub(placeholder, sql)
    return sql, used


def to_clickhouse(sql: str, params: dict | None = None) -> tuple[str, dict]:
    """DuckDB ``sql`` and its named parameters as ClickHouse SQL and server-side parameters."""
    return _typed(translate(sql), bind_named(sql, params or {}))


def native(sql: str, params: dict | None = None) -> tuple[str, dict]:
    """Hand-written ClickHouse ``sql`` with DuckDB-style ``$name`` parameters, typed from ``params``."""
    params = params or {}
    # a $name that is not bound stays as it is (in a comment, say)
    marked = _PARAMETER.sub(lambda m: f"{{{m.group(1)}: }}" if m.group(1) in params else m.group(0), sql)
    return _typed(marked, bind_named(sql, params))


class Query(str):
    """ClickHouse SQL that needs no translation (an override), with ``$name`` parameters."""


def load_query(name: str) -> str:
    """The ClickHouse override of a named query (a :class:`Query`), else the DuckDB text."""
    override = OVERRIDE_DIR / f"{name}.sql"
    if override.exists():
        return Query(override.read_text(encoding="utf-8"))
    file = QUERY_DIR / f"{name}.sql"
    if not file.exists():
        raise KeyError(f"no query named {name!r} in {QUERY_DIR}")
    return file.read_text(encoding="utf-8")


def compose_query(name: str, **slots: str) -> str:
    """:func:`engine.store.warehouse.compose_query` for ClickHouse: into an override, each part is spliced as
    its override or its translation; a DuckDB outer query is composed and translated as a whole."""
    outer = load_query(name)
    if not isinstance(outer, Query):
        return compose_duckdb(name, **slots)
    return compose_text(outer, **{slot: load_query(part) for slot, part in slots.items()})


def compose_text(outer: str, **parts: str) -> str:
    """``outer`` with its ``{slot}`` placeholders filled by ``parts`` (SQL the engine assembles, such as
    engine.behaviour.retention's raw-events members): into an override (:class:`Query`) DuckDB parts go
    translated; into DuckDB SQL they go as they are (and an override part cannot)."""
    sql = str(outer)
    for slot, part in parts.items():
        if isinstance(outer, Query) and not isinstance(part, Query):
            part = _PLACEHOLDER.sub(lambda m: "$" + m.group(1), translate(part))
        elif not isinstance(outer, Query) and isinstance(part, Query):
            raise ValueError(f"a ClickHouse override cannot go into DuckDB SQL (slot {slot!r})")
        sql = sql.replace("{" + slot + "}", part.rstrip().rstrip(";"))
    return Query(sql) if isinstance(outer, Query) else sql


class _Overridden(dict):
    """The text of each DuckDB query file with a ClickHouse override -> the override, so that SQL the
    engine loads itself (``warehouse.run_query(ch_connection, name, ...)``) runs as the override."""

    def __init__(self) -> None:
        super().__init__()
        self._loaded = False

    def get(self, sql, default=None):
        if not self._loaded:
            self._loaded = True
            for file in OVERRIDE_DIR.glob("*.sql") if OVERRIDE_DIR.is_dir() else ():
                original = QUERY_DIR / file.name
                if original.exists():
                    self[original.read_text(encoding="utf-8")] = Query(file.read_text(encoding="utf-8"))
        return super().get(sql, default) if isinstance(sql, str) and not isinstance(sql, Query) else default


_OVERRIDDEN = _Overridden()


def read_sql(con: ClickHouseConnection, sql: str, params: dict | None = None) -> ClickHouseConnection:
    """:func:`engine.store.warehouse.read_sql` for ClickHouse: ``sql`` (DuckDB SQL, the text of a query file
    with an override, or a :class:`Query`) through the current global filter (:mod:`engine.store.scope`).

    DuckDB SQL is scoped as the engine scopes it and translated whole. An override is scoped with the
    same table bodies, translated on their own and put at the head of its WITH.
    """
    query = _OVERRIDDEN.get(sql, sql)
    if not isinstance(query, Query):  # scoped as on DuckDB, then translated
        if scope.current() and (params is None or isinstance(params, dict)):
            query, params = scope.scoped(query, params, business_timezone(con))
        return con.execute(query, params)
    if not scope.current():
        return con.execute(query, params)
    read = scope._tables_read(query)
    if not read:
        return con.execute(query, params)
    stub, merged = scope.scoped("select 1 from " + " cross join ".join(sorted(read)), dict(params or {}),
                                business_timezone(con))
    tree = sqlglot.parse_one(stub, read="duckdb").transform(_rewrite)
    ctes = ",\n".join(cte.sql(dialect="clickhouse") for cte in tree.find(exp.With).expressions)
    ctes = _PLACEHOLDER.sub(lambda m: "$" + m.group(1), ctes)
    head = scope._READ.match(query)
    word, start, end = head.group("head"), head.start("head"), head.end("head")
    if word.lower().startswith("with"):
        text = f"{query[:start]}{word}{ctes},\n{query[end:]}"
    else:
        text = f"{query[:start]}with {ctes}\n{word}{query[end:]}"
    return con.execute(Query(text), merged)


_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?")


def _named_positionals(sql: str, params: Sequence) -> tuple[str, dict]:
    """DuckDB SQL with ``?`` parameters as SQL with ``$p0, $p1 ...`` (a ``?`` inside a string stays)."""
    values = list(params)
    count = iter(range(len(values) + 1))

    def name(match: re.Match) -> str:
        return match.group(0) if match.group(0) != "?" else f"$p{next(count)}"

    named = _QUOTED_OR_MARK.sub(name, sql)
    used = next(count)
    if used != len(values):
        raise ValueError(f"the statement has {used} ? parameters and {len(values)} values")
    return named, {f"p{i}": v for i, v in enumerate(values)}


def business_timezone(con: ClickHouseConnection) -> str:
    """The warehouse's business time zone (as :func:`engine.store.warehouse.business_timezone`)."""
    return con.execute_native("SELECT value FROM meta WHERE key = 'business_timezone'").fetchone()[0]


def prepare(sql: str, params: dict | None = None) -> tuple[str, dict]:
    """ClickHouse SQL and parameters for ``sql``: a :class:`Query` as written, DuckDB SQL translated."""
    return native(sql, params) if isinstance(sql, Query) else to_clickhouse(sql, params)


# --- connection ------------------------------------------------------------------------------------

_TYPE_CODES = {"String": "STRING", "Date": "DATE", "Bool": "BOOLEAN"}


class ClickHouseConnection:
    """The subset of a DuckDB connection Pond's read path uses, over ClickHouse.

    ``url`` is ``chdb:/path/to/folder`` (chDB in-process, the folder holds the data) or
    ``http(s)://user:password@host:8123/database`` (a server, through clickhouse-connect). chDB holds
    one folder per process: every ``chdb:`` connection of a process must name the same one.
    """

    #: what :func:`engine.store.backend.dialect` reads: analyses' reads come here through read_sql
    dialect = "clickhouse"

    def __init__(self, url: str, settings: dict | None = None) -> None:
        self.url = url
        self.settings = {**SESSION_SETTINGS, **(settings or {})}
        self._frame: pd.DataFrame | None = None
        self._query: tuple[str, dict] = ("", {})
        self._rows: list[tuple] | None = None
        self._cursor = 0
        self._database: str | None = None
        if url.startswith("chdb:"):
            from chdb import session

            path = url[len("chdb:"):] or tempfile.mkdtemp(prefix="pond-chdb-")
            self._session = session.Session(path)
            self._client = None
            for key, value in self.settings.items():
                self._session.query(f"set {key} = {_setting(value)}")
        elif url.startswith(("http://", "https://")):
            import clickhouse_connect

            parts = urlparse(url)
            self._session = None
            self._client = clickhouse_connect.get_client(
                host=parts.hostname, port=parts.port or (8443 if parts.scheme == "https" else 8123),
                username=unquote(parts.username or "default"), password=unquote(parts.password or ""),
                database=parts.path.lstrip("/") or "default", secure=parts.scheme == "https",
                settings=self.settings)
        else:
            raise ValueError(f"not a ClickHouse URL: {url!r} (use chdb:/folder or http://host:8123/db)")

    # DuckDB's API -----------------------------------------------------------------------------------
    def execute(self, sql: str, params: dict | Sequence | None = None) -> ClickHouseConnection:
        """Run ``sql`` (DuckDB SQL, or a :class:`Query`) with named parameters (``$name``), or with
        DuckDB's positional ones (``?``), which are named here in order."""
        if params is not None and not isinstance(params, dict):
            sql, params = _named_positionals(sql, params)
        sql, values = prepare(_OVERRIDDEN.get(sql, sql), params)
        return self.execute_native(sql.replace(f"{MAIN_DATABASE}.", f"{self.database}."), values)

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> ClickHouseConnection:
        """Run ``sql`` once per row of positional parameters (e.g. a small temp table's inserts)."""
        for row in rows:
            self.execute(sql, row)
        return self

    @property
    def database(self) -> str:
        if self._database is None:
            frame = self.execute_native("SELECT currentDatabase() AS d").df()
            self._database = str(frame["d"].iloc[0])
        return self._database

    def execute_native(self, sql: str, values: dict | None = None) -> ClickHouseConnection:
        """Run ClickHouse ``sql`` with ``{name:Type}`` placeholders bound to text ``values``."""
        values = values or {}
        if self._session is not None:
            frame = self._session.query(sql, "DataFrame", params=values) if values else \
                self._session.query(sql, "DataFrame")
            frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame()
        else:
            # the values are already in the escaped text format: clickhouse-connect must send them as they are
            frame = self._client.query_df(sql, parameters={k: _Text(v) for k, v in values.items()} or None)
        frame = frame.reset_index(drop=True)
        for column in frame.columns:  # Pond's timestamps are naive UTC, as DuckDB's TIMESTAMP gives them
            if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
                frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
        self._frame = frame
        self._query = (sql, values)
        self._rows = None
        self._cursor = 0
        return self

    def command(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, inserts)."""
        if self._session is not None:
            self._session.query(sql)
        else:
            self._client.command(sql)

    def insert_parquet(self, table: str, names: Sequence[str], values: Sequence[str], file: Path, *,
                       structure: str | None = None) -> None:
        """Insert a Parquet file's rows into ``table``'s columns ``names``, computed as ``values`` (SQL over
        the file's columns). chDB reads the file with ``file()``; a server is sent its bytes, read through
        ``input(structure)`` (the file's columns and their ClickHouse types)."""
        if self._session is not None:
            self._session.query(f"INSERT INTO `{table}` ({', '.join(names)}) SELECT {', '.join(values)} "
                                f"FROM file('{file}', Parquet) SETTINGS insert_allow_materialized_columns = 1")
        else:  # not exercised by the tests (no server here)
            self._client.command(f"INSERT INTO `{table}` ({', '.join(names)}) SELECT {', '.join(values)} "
                                 f"FROM input({_quoted(structure or '')}) FORMAT Parquet",
                                 data=Path(file).read_bytes(), settings={"insert_allow_materialized_columns": 1})

    def df(self) -> pd.DataFrame:
        if self._frame is None:
            raise RuntimeError("no result: call execute() first")
        return self._frame

    fetchdf = df

    def _all_rows(self) -> list[tuple]:
        if self._rows is None:
            frame = self.df()
            if any(pd.api.types.is_datetime64_any_dtype(kind) for kind in frame.dtypes):
                self._rows = self._typed_rows()  # a DataFrame cannot tell a date from midnight
            else:
                self._rows = [tuple(_python(v) for v in row)
                              for row in frame.itertuples(index=False, name=None)]
        return self._rows

    def _typed_rows(self) -> list[tuple]:
        """The last result's rows with ClickHouse's own types (a Date a date, as DuckDB's fetchall)."""
        sql, values = self._query
        if self._session is not None:
            table = self._session.query(sql, "ArrowTable", params=values) if values else \
                self._session.query(sql, "ArrowTable")
            rows = [tuple(row.values()) for row in table.to_pylist()]
        else:
            rows = [tuple(row) for row in self._client.query(
                sql, parameters={k: _Text(v) for k, v in values.items()} or None).result_rows]
        return [tuple(v.astimezone(dt.UTC).replace(tzinfo=None) if isinstance(v, dt.datetime) and v.tzinfo
                      else _python(v) for v in row) for row in rows]

    def fetchall(self) -> list[tuple]:
        rows = self._all_rows()[self._cursor:]
        self._cursor = len(self._all_rows())
        return rows

    def fetchone(self) -> tuple | None:
        rows = self._all_rows()
        if self._cursor >= len(rows):
            return None
        self._cursor += 1
        return rows[self._cursor - 1]

    @property
    def description(self) -> list[tuple] | None:
        if self._frame is None:
            return None
        return [(str(c), str(t), None, None, None, None, None) for c, t in self._frame.dtypes.items()]

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        elif self._client is not None:
            self._client.close()

    def __enter__(self) -> ClickHouseConnection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def write_lock(self, *, timeout: float | None = None):
        """:func:`write_lock` on this connection."""
        return write_lock(self, timeout=timeout)

    def set_meta(self, key: str, value: str) -> None:
        """One metadata value, changed in place (an ALTER UPDATE waited for) or added."""
        values = {"key": ch_value(key), "value": ch_value(value)}
        held = self.execute_native("SELECT count() AS n FROM meta WHERE key = {key:String}", values).df()
        if int(held["n"].iloc[0]):
            self.execute_native("ALTER TABLE meta UPDATE value = {value:String} WHERE key = {key:String} "
                                "SETTINGS mutations_sync = 2", values)
        else:
            self.execute_native("INSERT INTO meta (key, value) VALUES ({key:String}, {value:String})", values)

    # Pond's named queries ---------------------------------------------------------------------------
    def read_sql(self, sql: str, params: dict | None = None) -> ClickHouseConnection:
        """:func:`read_sql` on this connection (how :func:`engine.store.warehouse.read_sql` reaches it)."""
        return read_sql(self, sql, params)

    def compose_query(self, name: str, **slots: str) -> str:
        """:func:`compose_query`: overrides spliced where they exist (see warehouse.run_composed)."""
        return compose_query(name, **slots)

    def run_query(self, name: str, params: dict | None = None) -> pd.DataFrame:
        return self.execute(load_query(name), params).df()

    def run_composed(self, name: str, params: dict | None = None, **slots: str) -> pd.DataFrame:
        return self.execute(compose_query(name, **slots), params).df()


class _Text:
    """A parameter value clickhouse-connect sends as it is (it formats unknown types with str())."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


def _setting(value: object) -> str:
    return str(value) if isinstance(value, (int, float)) else _quoted(str(value))


def _python(value: object) -> object:
    """A DataFrame cell as DuckDB's fetchall gives it (None for missing, Python scalars)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        try:
            return value.item()
        except (ValueError, AttributeError):
            return value
    return value


# --- schema and copy -------------------------------------------------------------------------------

#: DuckDB type -> ClickHouse type (Nullable added for nullable columns)
_TYPES = {
    "VARCHAR": "String", "BOOLEAN": "Bool", "INTEGER": "Int32", "BIGINT": "Int64", "SMALLINT": "Int16",
    "TINYINT": "Int8", "HUGEINT": "Int128", "UHUGEINT": "UInt128", "UBIGINT": "UInt64", "UINTEGER": "UInt32",
    "DOUBLE": "Float64", "FLOAT": "Float32", "REAL": "Float32", "DATE": "Date",
    "TIMESTAMP": "DateTime64(6, 'UTC')", "TIMESTAMP WITH TIME ZONE": "DateTime64(6, 'UTC')",
}
#: sort keys (MergeTree ORDER BY) of Pond's tables; the others are ordered by tuple()
ORDER_BY: dict[str, str] = {
    "events": "(user_id, event_time)",
    "users": "user_id", "items": "item_id", "contents": "content_id", "communities": "community_id",
    "campaigns": "campaign_id", "experiments": "(experiment, user_id)", "uploads": "upload_id",
    "user_day": "(day, user_id)", "daily_events": "(day, event_type)", "user_day_type": "(day, user_id, event_type)",
    "content_day": "day", "user_tags": "user_id", "user_scores": "user_id", "meta": "key",
    "segments": "name", "mappings": "signature", "audit": "logged_at",
}
PARTITION_BY: dict[str, str] = {"events": "toYYYYMM(event_time)"}
#: tables whose DuckDB rowid queries read (path_steps.sql; engine.store.scope keeps it for filtered events)
ROWID_TABLES = ("events",)


def duckdb_columns(duck_con, table: str) -> list[tuple[str, str, bool]]:
    """``(name, DuckDB type, nullable)`` of a DuckDB table's columns, in order."""
    rows = duck_con.execute(
        "select column_name, data_type, is_nullable from information_schema.columns "
        "where table_name = ? and table_schema = 'main' order by ordinal_position", [table]).fetchall()
    return [(name, kind.upper(), nullable == "YES") for name, kind, nullable in rows]


def _ch_column_type(kind: str, nullable: bool, key: set[str], name: str) -> str:
    base = _TYPES.get(kind)
    if base is None:
        if kind.startswith("DECIMAL"):
            base = kind.replace("DECIMAL", "Decimal")
        elif kind.endswith("[]"):
            return f"Array({_ch_column_type(kind[:-2], False, set(), name)})"
        else:
            base = "String"
    return base if not nullable or name in key else f"Nullable({base})"


def _key_columns(table: str) -> set[str]:
    key = ORDER_BY.get(table, "")
    return set(re.findall(r"\w+", key)) - {"tuple"}


def create_statement(table: str, columns: Sequence[tuple[str, str, bool]], *, cluster: str | None = None,
                     name: str | None = None) -> str:
    """CREATE TABLE for one table (a key column stays non-Nullable: MergeTree sorts by it)."""
    key = _key_columns(table)
    body = ",\n    ".join(f"`{c}` {_ch_column_type(k, n, key, c)}" for c, k, n in columns)
    if table in ROWID_TABLES:
        # DuckDB's rowid (the import order that breaks ties between events at one instant): stored, and
        # like DuckDB's, left out of SELECT *
        body += ",\n    `rowid` Int64 MATERIALIZED 0"
    on = f" ON CLUSTER {cluster}" if cluster else ""
    engine = ("ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/" + (name or table) + "', '{replica}')"
              if cluster else "MergeTree")
    partition = f"\nPARTITION BY {PARTITION_BY[table]}" if table in PARTITION_BY else ""
    return (f"CREATE TABLE IF NOT EXISTS `{name or table}`{on} (\n    {body}\n) ENGINE = {engine}{partition}"
            f"\nORDER BY {ORDER_BY.get(table, 'tuple()')}")


def ddl(duck_con, cluster: str | None = None) -> list[str]:
    """The CREATE statements in ClickHouse of the tables of ``duck_con`` (a DuckDB warehouse, or an
    empty one migrated to Pond's schema: see :func:`engine.store.warehouse.schema_connection`).

    With ``cluster``, each table is a ``ReplicatedMergeTree`` table ``<t>_local`` on every node plus a
    ``Distributed`` table ``<t>`` over it, sharded by ``cityHash64(user_id)`` when it has a user id
    (one user's rows on one shard: per-user aggregates stay local) and ``rand()`` otherwise.
    """
    schema = {t: duckdb_columns(duck_con, t) for t in duckdb_tables(duck_con)}
    statements = []
    for table, columns in schema.items():
        if cluster is None:
            statements.append(create_statement(table, columns))
            continue
        local = f"{table}_local"
        statements.append(create_statement(table, columns, cluster=cluster, name=local))
        shard = "cityHash64(user_id)" if any(c == "user_id" for c, _, _ in columns) else "rand()"
        statements.append(f"CREATE TABLE IF NOT EXISTS `{table}` ON CLUSTER {cluster} AS `{local}` "
                          f"ENGINE = Distributed({cluster}, currentDatabase(), {local}, {shard})")
    return statements


def duckdb_tables(duck_con) -> list[str]:
    return [t for (t,) in duck_con.execute(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "and table_type = 'BASE TABLE' order by 1").fetchall()]


#: the suffix of a table being loaded; one left behind is an interrupted load's, dropped by the next
STAGING = "__pond_load"


def table_names(ch: ClickHouseConnection) -> set[str]:
    """The tables of the connection's database."""
    return set(ch.execute_native("SELECT name FROM system.tables WHERE database = currentDatabase()").df()["name"])


def load_from_duckdb(duck_con, ch: ClickHouseConnection, *, tables: Sequence[str] | None = None,
                     folder: str | Path | None = None, progress=None) -> dict[str, int]:
    """Copy tables of a DuckDB warehouse (default: all) into ClickHouse, replacing them; returns the
    rows per table. Each goes through a Parquet file (in ``folder`` or a temporary one), which chDB or
    the server must be able to read (``file()``): a remote server needs a shared folder.

    Each table is written as ``<table>__pond_load`` and then swapped in (``EXCHANGE TABLES``), so a
    reader sees its old rows or its new ones, never part; ``meta`` (the warehouse version) is swapped
    last, so the dashboard sees the new version once every other table is in place. An interrupted
    load leaves some tables new and the rest old, and staging tables that the next load drops first.
    """
    refuse_cluster(ch, "`clickhouse load`")
    counts = {}
    existing = table_names(ch)
    for leftover in sorted(n for n in existing if n.endswith(STAGING)):
        ch.command(f"DROP TABLE IF EXISTS `{leftover}`")
    chosen = list(tables or duckdb_tables(duck_con))
    chosen.sort(key=lambda name: name == "meta")  # the version last
    with tempfile.TemporaryDirectory(prefix="pond-ch-") as temp:
        where = Path(folder) if folder is not None else Path(temp)
        for step, table in enumerate(chosen):
            if progress:
                progress(step / len(chosen), f"copying {table}")
            counts[table] = _load_table(duck_con, ch, table, where, replace=table in existing)
    if progress:
        progress(1.0, "loaded")
    return counts


def _load_table(duck_con, ch: ClickHouseConnection, table: str, where: Path, *, replace: bool) -> int:
    staging = table + STAGING
    ch.command(f"DROP TABLE IF EXISTS `{staging}`")
    rows = stage_rows(duck_con, ch, table, staging, like=table, where=where, rowid=table in ROWID_TABLES)
    if replace:
        ch.command(f"EXCHANGE TABLES `{staging}` AND `{table}`")
        ch.command(f"DROP TABLE `{staging}`")
    else:
        ch.command(f"RENAME TABLE `{staging}` TO `{table}`")
    return rows


def query_columns(duck_con, select: str) -> list[tuple[str, str, bool]]:
    """``(name, DuckDB type, nullable)`` of a DuckDB query's result columns."""
    described = duck_con.execute(f"describe {select}").fetchall()
    return [(name, kind.upper(), null == "YES") for name, kind, null, *_ in described]


def as_select(source: str) -> str:
    """A DuckDB query for ``source``, a query already or the name of a table."""
    return source if source.lstrip().lower().startswith(("select", "with")) else f'select * from "{source}"'


def stage_rows(duck_con, ch: ClickHouseConnection, source: str, name: str, *, like: str,
               where: Path | None = None, rowid: bool = False, rowid_base: int = 0) -> int:
    """Create the ClickHouse table ``name`` (keyed like Pond's table ``like``) holding the rows of the DuckDB
    table or query ``source``, through a Parquet file in ``where`` (or a temporary folder); returns its rows.

    With ``rowid`` (``source`` a table), the rows keep DuckDB's ``rowid`` (plus ``rowid_base``: an import's rows
    come after the stored ones), the import order that breaks ties between events at one instant.
    """
    select = as_select(source)
    columns = query_columns(duck_con, select)
    listed, structure = [], []  # what the Parquet file holds: DuckDB's select list, ClickHouse's types
    for c, k, _ in columns:
        if k == "UHUGEINT":
            # two 64-bit halves: DuckDB's cast of a uhugeint to text takes 30 µs a value (30 s a million)
            listed += [f'("{c}" >> 64)::ubigint as "{c}__hi"',
                       f'("{c}" & 18446744073709551615::uhugeint)::ubigint as "{c}__lo"']
            structure += [f"`{c}__hi` Nullable(UInt64)", f"`{c}__lo` Nullable(UInt64)"]
        elif k == "HUGEINT":
            listed.append(f'cast("{c}" as varchar) as "{c}"')
            structure.append(f"`{c}` Nullable(String)")
        else:
            listed.append(f'"{c}"')
            structure.append(f"`{c}` {_ch_column_type(k, True, set(), c)}")
    body = f"({select}) as rows"
    if rowid:
        listed.append("rowid as rowid")
        structure.append("`rowid` Int64")
        body = f'"{source}"'
    with tempfile.TemporaryDirectory(prefix="pond-ch-") as temp:
        file = Path(where or temp) / f"{name}.parquet"
        duck_con.execute(f"copy (select {', '.join(listed)} from {body}) to '{file}' (format parquet)")
        ch.command(create_statement(like, columns, name=name))
        key = _key_columns(like)
        values = []
        for c, k, nullable in columns:
            if k == "UHUGEINT":
                values.append(f"bitShiftLeft(toUInt128(`{c}__hi`), 64) + toUInt128(`{c}__lo`)")
            elif k == "HUGEINT":
                values.append(f"toInt128(`{c}`)")
            elif nullable and c in key:
                values.append(f"assumeNotNull(`{c}`)")
            else:
                values.append(f"`{c}`")
        names = [f"`{c}`" for c, _, _ in columns]
        if rowid:
            names.append("`rowid`")
            values.append(f"`rowid` + {int(rowid_base)}")
        ch.insert_parquet(name, names, values, file, structure=", ".join(structure))
        file.unlink(missing_ok=True)
    return int(ch.execute_native(f"SELECT count() AS n FROM `{name}`").df()["n"].iloc[0])


def init(ch: ClickHouseConnection, schema_con, *, cluster: str | None = None) -> int:
    """Create Pond's tables (those of ``schema_con``, an empty DuckDB warehouse at Pond's schema) where
    they do not exist, and the warehouse's metadata where it is missing; returns the tables created."""
    before = table_names(ch)
    for statement in ddl(schema_con, cluster):
        ch.command(statement)
    meta = schema_con.execute("select key, value from meta order by key").fetchall()
    present = set(ch.execute_native("SELECT key FROM meta").df()["key"])
    for key, value in meta:
        if key not in present:
            ch.execute_native("INSERT INTO meta (key, value) VALUES ({key:String}, {value:String})",
                              {"key": ch_value(key), "value": ch_value(value)})
    return len(table_names(ch) - before)



def distributed(ch: ClickHouseConnection) -> bool:
    """Whether the warehouse's events are a ``Distributed`` table (``clickhouse init --cluster``)."""
    engine = ch.execute_native("SELECT engine FROM system.tables WHERE database = currentDatabase() "
                               "AND name = 'events'").df()
    return bool(len(engine)) and engine.iloc[0, 0] == "Distributed"


def refuse_cluster(ch: ClickHouseConnection, what: str) -> None:
    """Writes go to one server (or chDB) so far: on a cluster's Distributed tables a lightweight DELETE,
    an ALTER UPDATE and EXCHANGE TABLES need the ``_local`` tables ON CLUSTER, which no test here can run."""
    if distributed(ch):
        raise PondError(f"{what} on a ClickHouse cluster is not built yet (Pond writes to one server or chDB "
                        "so far); the cluster's tables from `clickhouse init --cluster` take reads, and rows "
                        "inserted into its Distributed tables with ClickHouse's own tools")


#: the table whose existence is the write lock: CREATE TABLE (without IF NOT EXISTS) succeeds for one
#: writer only
LOCK = "pond__write_lock"
#: a lock older than this is a killed writer's, taken over (an import of a large file stays well below)
STALE_LOCK_SECONDS = 3600.0
DEFAULT_LOCK_TIMEOUT = 60.0


@contextmanager
def write_lock(ch: ClickHouseConnection, *, timeout: float | None = None) -> Iterator[None]:
    """Hold the warehouse's write lock for the block: Pond's writers (the dashboards and command lines of a
    team) take turns, as on DuckDB's file. Waits up to ``timeout`` seconds for another writer, then refuses
    saying who holds it; a lock left by a writer killed over an hour ago is taken over."""
    refuse_cluster(ch, "an import, an undo or a segment save")
    held = getattr(_LOCKS, "held", None)
    if held is None:
        held = _LOCKS.held = {}
    if held.get(ch.url):  # this thread holds it already (an import deriving its tags): re-entered
        held[ch.url] += 1
        try:
            yield
        finally:
            held[ch.url] -= 1
        return
    holder = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
    deadline = time.monotonic() + (DEFAULT_LOCK_TIMEOUT if timeout is None else timeout)
    while True:
        try:
            ch.command(f"CREATE TABLE `{LOCK}` (holder String, since DateTime64(6, 'UTC')) ENGINE = Log")
            break
        except Exception as exc:  # noqa: BLE001 - the driver's "already exists", told apart below
            made = ch.execute_native("SELECT metadata_modification_time AS t FROM system.tables "
                                     "WHERE database = currentDatabase() AND name = {name:String}",
                                     {"name": LOCK}).df()
            if not len(made):
                raise
            owner = ch.execute_native(f"SELECT holder, since FROM `{LOCK}`").df()
            since = owner["since"].iloc[0] if len(owner) else made["t"].iloc[0]  # killed before it said who
            age = (_utc_now() - since).total_seconds()
            who = owner["holder"].iloc[0] if len(owner) else "another writer"
            if age > STALE_LOCK_SECONDS or _dead_here(who):
                # taken over by one waiter only: a RENAME of the stale lock succeeds once
                with suppress(Exception):  # another waiter took it over first
                    ch.command(f"RENAME TABLE `{LOCK}` TO `{LOCK}_stale_{os.getpid()}_{time.monotonic_ns()}`")
                for stale in [n for n in table_names(ch) if n.startswith(f"{LOCK}_stale_")]:
                    ch.command(f"DROP TABLE IF EXISTS `{stale}`")
                continue
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"the ClickHouse warehouse is busy: {who} is writing to it"
                    + f" (for {age:.0f} s)"
                    + "; try again when it finishes (an import usually takes under a minute)") from exc
            time.sleep(0.5)
    held[ch.url] = 1
    try:
        ch.execute_native(f"INSERT INTO `{LOCK}` VALUES ({{holder:String}}, {{since:DateTime64(6, 'UTC')}})",
                          {"holder": ch_value(holder), "since": ch_value(_utc_now())})
        yield
    finally:
        held[ch.url] = 0
        # released only while it is still this writer's (a waiter may have taken a stale one over)
        owner = ch.execute_native(f"SELECT holder FROM `{LOCK}`").df() if LOCK in table_names(ch) else None
        if owner is not None and (not len(owner) or owner["holder"].iloc[0] == holder):
            ch.command(f"DROP TABLE IF EXISTS `{LOCK}`")


#: the write locks this thread holds, by warehouse URL (a count: re-entered by the same thread)
_LOCKS = threading.local()


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` (``user@host pid N``) is a process of this machine that no longer runs."""
    match = re.fullmatch(r".+@(?P<host>[^ ]+) pid (?P<pid>\d+)", holder)
    if not match or match["host"] != socket.gethostname():
        return False
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # running, as another user
        return False
    return False


def _utc_now() -> pd.Timestamp:
    return pd.Timestamp(dt.datetime.now(dt.UTC).replace(tzinfo=None))


@contextmanager
def open_warehouse(url: str) -> Iterator[ClickHouseConnection]:
    """A connection to the Pond warehouse on the ClickHouse at ``url`` (what
    :func:`engine.store.warehouse.connect` gives on ``$POND_BACKEND=clickhouse``)."""
    try:
        con = ClickHouseConnection(url)
    except Exception as exc:  # noqa: BLE001 - a driver's own errors: say what to check
        raise WarehouseError(f"cannot reach ClickHouse at {backend.describe(url)}: {exc}") from exc
    try:
        if "meta" not in table_names(con):
            raise WarehouseError(f"no Pond warehouse on {backend.describe(url)}: create it with `python -m engine "
                                 "clickhouse init`, or copy one across with `python -m engine clickhouse load`")
        yield con
    finally:
        con.close()


