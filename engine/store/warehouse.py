"""The DuckDB warehouse: where it lives, how to open it, its schema, version and rollups.

One process writes at a time (DuckDB's own file lock). Pond never keeps the file open longer than
one operation, so the dashboard and the command line can take turns; a writer that finds the file
locked waits a bounded time and then names the process that holds it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from engine.errors import PondError, WarehouseError, WarehouseLockedError
from engine.store import backend, scope
from engine.store.sqlfiles import PROJECT_ROOT, QUERY_DIR, bind_named, compose_query, load_query  # noqa: F401

#: Canonical event vocabulary (DESIGN.md). Other values are kept as they come (the vocabulary is
#: extensible) and reported by the importer.
EVENT_TYPES: tuple[str, ...] = (
    "impression", "view", "click", "cart", "fav", "purchase", "refund", "share", "comment",
    "like", "join_group", "coupon_issue", "coupon_redeem", "signup",
)

#: Events that happen *to* a user (content shown, a coupon pushed); they do not make a user active.
PASSIVE_EVENT_TYPES: tuple[str, ...] = ("impression", "coupon_issue")

DEFAULT_LOCK_TIMEOUT = 15.0
#: DuckDB's memory limit per process unless $POND_DUCKDB_MEMORY says otherwise. Larger work spills to
#: disk beside the warehouse, so the dashboard stays within its memory budget while it imports a
#: 5M-row file (2.7 GB peak without a limit, 1.2 GB with this one, for about a fifth more time).
DEFAULT_MEMORY_LIMIT = "1GB"
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)

# Each migration moves the schema one version up; never edit one that has shipped, add the next.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "create table if not exists meta (key varchar primary key, value varchar not null)",
        """create table if not exists events (
            event_id uhugeint not null,
            event_time timestamp not null,
            user_id varchar not null,
            event_type varchar not null,
            item_id varchar, category varchar, content_id varchar, campaign_id varchar,
            channel varchar, community_id varchar, referrer_id varchar, session_id varchar,
            order_id varchar, quantity double, amount double,
            upload_id integer not null
        )""",
        # users and items have no primary-key index: the single writer keeps ids unique with
        # anti-joins, which is several times cheaper than index upserts on big imports
        """create table if not exists users (
            user_id varchar not null, first_seen timestamp, last_seen timestamp,
            acquisition_channel varchar, gender varchar, age_band varchar, city varchar,
            upload_id integer
        )""",
        """create table if not exists items (
            item_id varchar not null, category varchar, price double, brand varchar,
            name varchar, tags varchar, in_stock boolean, upload_id integer
        )""",
        """create table if not exists contents (
            content_id varchar primary key, kind varchar, title varchar, tags varchar,
            published_at timestamp, community_id varchar, author_id varchar, upload_id integer
        )""",
        """create table if not exists communities (
            community_id varchar primary key, name varchar, kind varchar, created_at timestamp,
            upload_id integer
        )""",
        """create table if not exists campaigns (
            campaign_id varchar primary key, name varchar, kind varchar, channel varchar,
            start_time timestamp, end_time timestamp, upload_id integer
        )""",
        """create table if not exists experiments (
            experiment varchar not null, user_id varchar not null, variant varchar not null,
            assigned_at timestamp, upload_id integer, primary key (experiment, user_id)
        )""",
        """create table if not exists uploads (
            upload_id integer primary key, file_name varchar not null, sha256 varchar not null,
            format varchar, encoding varchar, timezone varchar,
            rows_read bigint, rows_imported bigint, rows_rejected bigint, rows_duplicate bigint,
            first_event timestamp, last_event timestamp,
            imported_by varchar, started_at timestamp, finished_at timestamp,
            status varchar not null, message varchar, mapping varchar, undone_at timestamp
        )""",
        """create table if not exists upload_rejects (
            upload_id integer not null, row_number bigint, reason varchar not null, raw varchar
        )""",
        """create table if not exists user_day (
            day date not null, user_id varchar not null, channel varchar,
            events integer, actions integer, impressions integer, views integer, clicks integer,
            carts integer, favs integer, purchases integer, refunds integer, shares integer, comments integer,
            orders integer, gmv double, refund_amount double
        )""",
        """create table if not exists daily_events (
            day date not null, channel varchar, event_type varchar not null,
            events bigint, users bigint, amount double
        )""",
    ),
    (
        # 2: a narrow rollup of who did which event type on which day, for retention, funnels and
        # lifecycle over any event type (user_day only has columns for the common ones)
        """create table if not exists user_day_type (
            day date not null, user_id varchar not null, channel varchar, event_type varchar not null,
            events integer
        )""",
        lambda con: _backfill_rollup(con, "user_day_type"),
    ),
    (
        # 3: engagement with content and campaigns per day and channel, for CTR and share rates
        """create table if not exists content_day (
            day date not null, content_id varchar, campaign_id varchar, channel varchar,
            impressions integer, clicks integer, shares integer, comments integer, likes integer
        )""",
        lambda con: _backfill_rollup(con, "content_day"),
    ),
    (
        # 4: saved segments of the segment builder (definitions are JSON, see engine.customers.segments)
        """create table if not exists segments (
            name varchar primary key, definition varchar not null, saved_at timestamp, saved_by varchar
        )""",
    ),
    (
        # 5: each user's top interest tags, derived once per data version (see engine.customers.tags)
        "create table if not exists user_tags (user_id varchar not null, tag varchar not null, score double)",
        "insert or ignore into meta values ('tags_version', '-1')",
    ),
    (
        # 6: churn risk and purchase propensity per user, derived once per data version (engine.predictions.churn)
        """create table if not exists user_scores (
            user_id varchar not null, risk double, churn_band varchar, propensity double, propensity_band varchar
        )""",
        "insert or ignore into meta values ('scores_version', '-1')",
    ),
    (
        # 7: the audit trail: sign-ins (failed ones too), imports, undos, segment saves, exports, backups
        """create table if not exists audit (
            logged_at timestamp not null, actor varchar not null, action varchar not null, detail varchar,
            rows bigint, ok boolean not null
        )""",
    ),
    (
        # 8: ids imported as integral floats ("17084.0") become the integer's text, as imports now write them
        lambda con: normalise_float_ids(con),
    ),
    (
        # 9: mappings an operator chose, per header signature, applied to the next such file (engine.ingest.remembered)
        """create table if not exists mappings (
            signature varchar primary key, columns varchar not null, plan varchar not null, upload_id integer,
            saved_at timestamp, saved_by varchar
        )""",
    ),
    (
        # 10: the users of static user-list segments (saved from a Paths node ...; see engine.customers.segments)
        "create table if not exists segment_user_lists (segment varchar not null, user_id varchar not null)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
ROLLUPS = ("user_day", "daily_events", "user_day_type", "content_day")

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


def default_warehouse_path() -> Path:
    """``$POND_WAREHOUSE`` if set, else ``data/pond.duckdb`` in the project folder."""
    env = os.environ.get("POND_WAREHOUSE")
    return Path(env).expanduser() if env else PROJECT_ROOT / "data" / "pond.duckdb"


#: DuckDB's own words when two connections of one process race to open (or close) the same file
_HANDLE_CONFLICT = ("Unique file handle conflict", "Cannot attach")
#: One opening at a time in a process: the dashboard's sessions (a dozen sign-ins at once) open the
#: warehouse from many threads, and DuckDB's database-instance cache can refuse concurrent opens of one
#: file with "Unique file handle conflict". Opening takes milliseconds; the lock is not held after it.
_OPENING = threading.Lock()
#: files and folders Pond creates are its user's only: the warehouse holds every customer's behaviour
PRIVATE_UMASK = 0o077


@contextmanager
def _private_creation() -> Iterator[None]:
    """Files created inside the block are 0600 and folders 0700 (call with :data:`_OPENING` held: the
    umask is the process's)."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


@contextmanager
def creating_privately() -> Iterator[None]:
    """Files and folders created inside the block (a backup's ``attach``, say) are private, whatever
    the process's umask; other threads do not open a warehouse meanwhile."""
    with _OPENING, _private_creation():
        yield


def private_files() -> None:
    """Make every file this process creates from now on private (0600, folders 0700): the warehouse's
    write-ahead log, spill files, results, backups and keys. The CLI and the dashboard call it at start."""
    with _OPENING:
        os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)


def spill_folder(path: Path) -> Path:
    """Where DuckDB spills work bigger than its memory limit: ``<warehouse>.tmp`` (DuckDB's default),
    created private before DuckDB needs it."""
    return path.with_name(path.name + ".tmp")


def _open(path: Path, timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout
    delay = 0.05
    limit = memory_limit()
    while True:
        try:
            with _OPENING:
                new = not path.exists()
                with _private_creation():
                    con = duckdb.connect(str(path))
                if new:  # created under the private umask; say so explicitly for a file that predates it
                    os.chmod(path, 0o600)
        except (duckdb.IOException, duckdb.BinderException) as exc:
            message = str(exc)
            holder = _LOCK_HOLDER.search(message)
            conflict = any(words in message for words in _HANDLE_CONFLICT)
            if holder is None and not conflict:
                raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from exc
            if time.monotonic() >= deadline:
                if holder is None:
                    raise WarehouseError(f"cannot open the warehouse {path}: {exc}") from exc
                raise WarehouseLockedError(
                    f"the warehouse {path} is busy: process {holder['pid']} ({holder['prog']}) "
                    f"has held it for writing for over {timeout:.0f} s; try again when it finishes "
                    "(an import or demo build usually takes under a minute)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            continue
        con.execute("set memory_limit = ?", [limit])
        spill = spill_folder(path)
        if not spill.exists():
            with creating_privately():
                spill.mkdir(mode=0o700, exist_ok=True)
        return con


def memory_limit() -> str:
    """DuckDB's memory limit: ``$POND_DUCKDB_MEMORY`` (such as ``4GB``) or :data:`DEFAULT_MEMORY_LIMIT`."""
    limit = os.environ.get("POND_DUCKDB_MEMORY", "").strip() or DEFAULT_MEMORY_LIMIT
    if not _MEMORY.match(limit):
        raise WarehouseError(f"POND_DUCKDB_MEMORY={limit!r} is not a memory size; use a number and a unit, "
                             "such as 1GB or 512MB")
    return limit


@contextmanager
def connect(path: str | Path | None = None, *, timeout: float = DEFAULT_LOCK_TIMEOUT,
            create: bool = True, backend_name: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse for the length of a ``with`` block, migrating its schema if needed.

    On ClickHouse (``$POND_BACKEND=clickhouse``, see :mod:`engine.store.backend`) the connection is a
    :class:`engine.store.clickhouse.ClickHouseConnection` to ``$POND_CLICKHOUSE_URL`` and ``path``
    is not used; ``backend_name="duckdb"`` opens the DuckDB file whatever the environment says.

    Parameters
    ----------
    path
        Warehouse file; defaults to :func:`default_warehouse_path`.
    timeout
        Seconds to wait for another process's write lock before raising
        :class:`~engine.errors.WarehouseLockedError`.
    create
        When false, a missing file raises :class:`~engine.errors.WarehouseError` instead of
        creating an empty warehouse.
    """
    if (backend_name or backend.name()) == "clickhouse":
        from engine.store.clickhouse import open_warehouse

        with open_warehouse(backend.clickhouse_url()) as con:
            yield con
        return
    path = Path(path) if path is not None else default_warehouse_path()
    if not path.exists():
        if not create:
            raise WarehouseError(
                f"no warehouse at {path}; build one with `python -m engine demo` or import a file "
                "with `python -m engine ingest FILE`"
            )
        if not path.parent.exists():
            with creating_privately():
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    con = _open(path, timeout)
    try:
        # Every timestamp Pond stores is UTC; casts of time-zone-aware values must not depend on
        # the machine's local zone.
        con.execute("set TimeZone = 'UTC'")
        con.execute("set enable_progress_bar = false")
        migrate(con)
        yield con
    finally:
        con.close()


@contextmanager
def schema_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty in-memory warehouse at Pond's current schema (the tables other backends create)."""
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        migrate(con)
        yield con
    finally:
        con.close()


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    has_meta = con.execute(
        "select count(*) from information_schema.tables where table_name = 'meta'"
    ).fetchone()[0]
    if not has_meta:
        return 0
    row = con.execute("select value from meta where key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring the schema up to :data:`SCHEMA_VERSION`, one migration per transaction."""
    current = schema_version(con)
    if current > SCHEMA_VERSION:
        raise WarehouseError(
            f"this warehouse has schema version {current}, newer than this Pond ({SCHEMA_VERSION}); "
            "upgrade Pond before opening it"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        con.execute("begin transaction")
        try:
            for step in MIGRATIONS[version - 1]:
                if callable(step):
                    step(con)
                else:
                    con.execute(step)
            _set_meta(con, "schema_version", str(version))
            if version == 1:
                con.execute("insert or ignore into meta values ('data_version', '0')")
                con.execute("insert or ignore into meta values ('business_timezone', 'UTC')")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise


def _set_meta(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    con.execute("insert or replace into meta values (?, ?)", [key, value])


def data_version(con: duckdb.DuckDBPyConnection) -> int:
    """The warehouse version: every import, undo and demo build increases it by one."""
    return int(con.execute("select value from meta where key = 'data_version'").fetchone()[0])


def bump_data_version(con: duckdb.DuckDBPyConnection) -> int:
    new = data_version(con) + 1
    _set_meta(con, "data_version", str(new))
    return new


@contextmanager
def write_transaction(con: duckdb.DuckDBPyConnection, *, steps_on_clickhouse: bool = False) -> Iterator[None]:
    """One transaction for a change of data: on success it bumps the warehouse version (so the
    dashboard's caches refresh) and commits; on any error or interruption it rolls back all.
    Its reads see every row: a property filter (:mod:`engine.store.scope`) never reaches a writer.

    On ClickHouse, which has no transaction over several statements, only a change that says it may
    run as steps (``steps_on_clickhouse``: a segment saved or deleted) is taken: its statements run one
    by one, then the version moves on; anything else is refused."""
    if backend.dialect(con) == "clickhouse" and steps_on_clickhouse:
        with con.write_lock(), scope.applied(()):
            yield
            con.set_meta("data_version", str(data_version(con) + 1))
        return
    backend.require_duckdb(con)
    con.execute("begin transaction")
    try:
        with scope.applied(()):
            yield
        bump_data_version(con)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def business_timezone(con: duckdb.DuckDBPyConnection) -> str:
    """The zone whose calendar days the rollups and day-level charts use (events stay in UTC)."""
    return con.execute("select value from meta where key = 'business_timezone'").fetchone()[0]


def set_business_timezone(con: duckdb.DuckDBPyConnection, zone: str) -> None:
    """Change the business time zone and rebuild every rollup on the new calendar days."""
    check_timezone(con, zone)
    with write_transaction(con):
        _set_meta(con, "business_timezone", zone)
        rebuild_rollups(con)


def check_timezone(con: duckdb.DuckDBPyConnection, zone: str) -> str:
    """Return ``zone`` if DuckDB knows it, else raise a ``PondError`` naming an example."""

    known = con.execute("select count(*) from pg_timezone_names() where name = ?", [zone]).fetchone()[0]
    if not known:
        raise PondError(f"unknown time zone {zone!r}; use an IANA name such as Asia/Shanghai or UTC")
    return zone


def run_composed(con: duckdb.DuckDBPyConnection, name: str, params: dict, **slots: str) -> pd.DataFrame:
    """A composed query (:func:`compose_query`) run with bound parameters, as a DataFrame. The
    connection composes it in its own dialect when it has one (ClickHouse's overrides)."""
    composed = con.compose_query(name, **slots) if hasattr(con, "compose_query") else compose_query(name, **slots)
    return read_sql(con, composed, params).df()


def read_sql(con: duckdb.DuckDBPyConnection, sql: str, params: dict | Sequence | None = None
             ) -> duckdb.DuckDBPyConnection:
    """Execute ``sql`` through the current global filter (:mod:`engine.store.scope`), binding the named
    parameters it uses. Analyses that assemble their SQL run it through here."""
    if backend.dialect(con) != "duckdb":  # the connection scopes, translates or overrides in its dialect
        return con.read_sql(sql, params)
    if scope.current() and (params is None or isinstance(params, dict)):
        sql, params = scope.scoped(sql, params, business_timezone(con))
    if isinstance(params, dict):
        params = bind_named(sql, params)
    return con.execute(sql, params or {})


def execute_query(con: duckdb.DuckDBPyConnection, name: str, params: dict | Sequence | None = None
                  ) -> duckdb.DuckDBPyConnection:
    """Execute a named query, binding the named parameters it uses (reads see the global filter).

    On ClickHouse the connection runs the override ``engine/queries/clickhouse/<name>.sql`` where one
    exists, else the DuckDB file translated (:mod:`engine.store.clickhouse`)."""
    return read_sql(con, load_query(name), params)


def run_query(con: duckdb.DuckDBPyConnection, name: str, params: dict | Sequence | None = None
              ) -> pd.DataFrame:
    """Run a named query with bound parameters and return its result as a DataFrame."""
    return execute_query(con, name, params).df()


def refresh_rollups(con: duckdb.DuckDBPyConnection, days: Sequence[date]) -> None:
    """Recompute the rollups for the given business days (call inside the writer's transaction)."""
    _refresh_days(con, days, ROLLUPS)


def _backfill_rollup(con: duckdb.DuckDBPyConnection, rollup: str) -> None:
    """Fill one rollup from all events (used by the migration that adds it)."""
    days = execute_query(con, "event_days", {"tz": business_timezone(con)}).fetchall()
    _refresh_days(con, [d for (d,) in days], (rollup,))


#: the rollups summed from the touched events counted per day, user, channel and event type
_FROM_USER_DAY_TYPE = {"user_day", "daily_events", "user_day_type"}


def _refresh_days(con: duckdb.DuckDBPyConnection, days: Sequence[date], rollups: Sequence[str]) -> None:
    """Replace the given days' rows of the given rollups."""
    if not days:
        return
    tz = business_timezone(con)
    con.execute("create or replace temp table touched_days (day date)")
    con.execute("insert into touched_days select distinct unnest(?)", [sorted(set(days))])
    counted = bool(_FROM_USER_DAY_TYPE.intersection(rollups))
    if counted:
        read_sql(con, compose_query("rollup_touched_user_day_type", touched="rollup_touched_events"), {"tz": tz})
    for rollup in rollups:
        execute_query(con, f"rollup_{rollup}_delete", {"days": sorted(set(days))})
        read_sql(con, compose_query(f"rollup_{rollup}_insert", touched="rollup_touched_events"), {"tz": tz})
    con.execute("drop table touched_days")
    if counted:
        con.execute("drop table touched_user_day_type")


def refresh_user_activity(con: duckdb.DuckDBPyConnection) -> None:
    """First/last seen and acquisition channel for the users in temp table ``touched_users``;
    users seen for the first time are added."""
    for name in ("users_refresh_seen", "users_update_seen", "users_insert_new"):
        execute_query(con, name)
    con.execute("drop table user_activity")


#: where ids live: table -> id columns (events and every table derived from them)
_ID_COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",), "items": ("item_id",), "contents": ("content_id", "author_id"),
    "campaigns": ("campaign_id",), "experiments": ("user_id",), "user_tags": ("user_id",),
    "user_scores": ("user_id",),
}
#: the key of each table that keeps one row per id: a float spelling whose integer already has a row
#: is merged into that row (the integer's values first) rather than renamed into a second one
_ID_KEYS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",), "items": ("item_id",), "contents": ("content_id",), "campaigns": ("campaign_id",),
    "experiments": ("experiment", "user_id"), "user_scores": ("user_id",), "user_tags": ("user_id", "tag"),
}
_EVENT_ID_COLUMNS = ("user_id", "item_id", "order_id", "referrer_id", "content_id", "campaign_id")
_NATURAL_KEY = ("md5_number(concat_ws('|', {user_id}, event_type, cast(epoch_us(event_time) as varchar), "
                "coalesce({item_id}, ''), coalesce({order_id}, ''), coalesce({content_id}, ''), "
                "coalesce({campaign_id}, ''), coalesce(session_id, ''), coalesce(cast(quantity as varchar), ''), "
                "coalesce(cast(amount as varchar), '')))")


def normalise_float_ids(con: duckdb.DuckDBPyConnection) -> int:
    """Rewrite ids stored as integral floats (``17084.0``) as the integer's text, in the events and
    every table derived from them; returns how many events changed. Call inside a transaction.

    Events whose id is their natural key get the id the importer now computes, so that the same row
    imported again is a duplicate; two events that become one (a customer imported under both
    spellings) keep the first upload's copy. The days they fall on are rolled up again, and the data
    version moves on so that derived tags, scores and models are derived again.
    """
    con.execute(r"""create or replace temp macro pond_id(x) as
        case when contains(x, '.') and regexp_full_match(x, '-?(0|[1-9][0-9]*)\.0+')
             then split_part(x, '.', 1) else x end""")
    is_float = "(contains({c}, '.') and pond_id({c}) <> {c})"
    in_events = " or ".join(is_float.format(c=c) for c in _EVENT_ID_COLUMNS)
    changed = con.execute(f"select count(*) from events where {in_events}").fetchone()[0]
    others = {t: " or ".join(is_float.format(c=c) for c in cols) for t, cols in _ID_COLUMNS.items()}
    if not changed and not any(con.execute(f"select count(*) from {t} where {w}").fetchone()[0]
                               for t, w in others.items()):
        return 0
    tz = business_timezone(con)
    con.execute(f"""create or replace temp table float_id_days as
        select distinct cast((event_time at time zone 'UTC') at time zone ? as date) as day
        from events where {in_events}""", [tz])
    con.execute("create or replace temp table touched_users as select distinct pond_id(user_id) as user_id "
                f"from events where {in_events}")
    old_key = _NATURAL_KEY.format(**{c: c for c in _EVENT_ID_COLUMNS})
    new_key = _NATURAL_KEY.format(**{c: f"pond_id({c})" for c in _EVENT_ID_COLUMNS})
    assignments = ", ".join(f"{c} = pond_id({c})" for c in _EVENT_ID_COLUMNS)
    con.execute(f"""create or replace temp table float_id_events as
        select distinct case when event_id = {old_key} then {new_key} else event_id end as event_id
        from events where {in_events}""")
    con.execute(f"update events set event_id = case when event_id = {old_key} then {new_key} else event_id end, "
                f"{assignments} where {in_events}")
    con.execute("""delete from events where rowid in (
        select rowid from (
            select rowid, row_number() over (partition by event_id order by upload_id, rowid) as copy
            from events where event_id in (select event_id from float_id_events)
        ) where copy > 1)""")
    for table, columns in _ID_COLUMNS.items():
        key = _ID_KEYS[table]
        spelled = is_float.format(c=f"f.{key[-1]}")
        same = " and ".join(f"t.{k} = pond_id(f.{k})" if k in columns else f"t.{k} = f.{k}" for k in key)
        values = [c for c in _table_columns(con, table) if c not in key]
        if values:  # the integer's row takes what only the float spelling's row knew
            con.execute(f"update {table} as t set {', '.join(f'{c} = coalesce(t.{c}, f.{c})' for c in values)} "
                        f"from {table} as f where {spelled} and {same}")
        con.execute(f"delete from {table} as f where {spelled} and exists (select 1 from {table} as t where {same})")
        con.execute(f"update {table} set {', '.join(f'{c} = pond_id({c})' for c in columns)} where {others[table]}")
    refresh_user_activity(con)
    refresh_rollups(con, [d for (d,) in con.execute("select day from float_id_days").fetchall()])
    for temp in ("float_id_days", "float_id_events", "touched_users"):
        con.execute(f"drop table {temp}")
    if changed:
        bump_data_version(con)
    return changed


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute("select column_name from information_schema.columns where table_name = ? "
                                      "order by ordinal_position", [table]).fetchall()]


def rebuild_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Recompute every rollup from the events table."""
    days = execute_query(con, "event_days", {"tz": business_timezone(con)}).fetchall()
    for rollup in ROLLUPS:
        con.execute(f"delete from {rollup}")
    refresh_rollups(con, [d for (d,) in days])


def remove_leftovers(con: duckdb.DuckDBPyConnection) -> list[Path]:
    """Remove what a killed restore or import left beside the warehouse ``con`` is open on: the
    restore's ``.pond-restore-*`` copy folders, a half-written key, and DuckDB's spill files (the
    file's own grown, unused blocks are reused by the next write); returns what was removed.

    Call it right after opening, before this process does other work on the warehouse: holding the
    file means no other process is restoring into it or spilling beside it.
    """
    import shutil

    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchall()
    if not row or not row[0][0]:
        return []
    path = Path(row[0][0])
    removed = [folder for folder in path.parent.glob(".pond-restore-*") if folder.is_dir()]
    # a pseudonym key being written when the process was killed (engine.ingest.personal.write_key)
    removed += [part for part in path.parent.glob(f".{path.with_suffix('.key').name}.*.part") if part.is_file()]
    spill = spill_folder(path)
    removed += [file for file in spill.glob("*") if file.is_file()] if spill.is_dir() else []
    for leftover in removed:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    return removed
