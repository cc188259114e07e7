"""Which database holds the warehouse: DuckDB (the default: one file, no server) or ClickHouse.

Chosen from the environment, so that every command of ``python -m engine`` and the dashboard run
unchanged on either:

- ``POND_BACKEND``: ``duckdb`` (default) or ``clickhouse``.
- ``POND_CLICKHOUSE_URL``: ``chdb:/path/to/folder`` (embedded ClickHouse, chDB, the data kept in that
  folder) or ``http(s)://host:8123`` (a server, through clickhouse-connect).
- ``POND_CLICKHOUSE_USER``, ``POND_CLICKHOUSE_PASSWORD``, ``POND_CLICKHOUSE_DATABASE``: a server's
  credentials and database (they override any given in the URL, so a password need not sit in it).

No analysis module reads these: :func:`engine.store.warehouse.connect` gives them a connection of the
chosen kind, and every named query goes through :func:`engine.store.warehouse.execute_query`, which asks
the connection for its own text of the query (a ClickHouse override, or the DuckDB file translated).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, urlparse, urlunparse

from engine.errors import PondError

BACKENDS = ("duckdb", "clickhouse")


def name() -> str:
    """The backend in force: ``$POND_BACKEND``, else duckdb."""
    chosen = os.environ.get("POND_BACKEND", "").strip().lower() or "duckdb"
    if chosen not in BACKENDS:
        raise PondError(f"POND_BACKEND is {chosen!r}; use duckdb (the default) or clickhouse")
    return chosen


def clickhouse_url() -> str:
    """The ClickHouse to use, with credentials and database from the environment folded in."""
    url = os.environ.get("POND_CLICKHOUSE_URL", "").strip()
    if not url:
        raise PondError("POND_BACKEND=clickhouse needs POND_CLICKHOUSE_URL: chdb:/path/to/folder for embedded "
                        "ClickHouse, or http://host:8123 for a server")
    if url.startswith("chdb:"):
        return url
    parts = urlparse(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PondError(f"POND_CLICKHOUSE_URL {url!r} is neither chdb:/folder nor http(s)://host:port")
    user = os.environ.get("POND_CLICKHOUSE_USER") or parts.username or "default"
    password = os.environ.get("POND_CLICKHOUSE_PASSWORD") or parts.password or ""
    database = os.environ.get("POND_CLICKHOUSE_DATABASE") or parts.path.lstrip("/") or "default"
    credentials = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    netloc = f"{credentials}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunparse((parts.scheme, netloc, "/" + database, "", "", ""))


def describe(url: str) -> str:
    """The URL without its password, for messages and the dashboard's badge."""
    if url.startswith("chdb:"):
        return url
    parts = urlparse(url)
    host = f"{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunparse((parts.scheme, f"{parts.username or 'default'}@{host}", parts.path, "", "", ""))


def key_file(url: str) -> Path:
    """Where the pseudonym key of a ClickHouse warehouse lives unless ``$POND_KEY_FILE`` names it: beside
    a chDB folder (``<folder>.key``), else ``~/.pond/<host>-<port>-<database>.key`` on the machine that
    imports (keep it with the backups, as the DuckDB warehouse's ``.key`` file)."""
    if url.startswith("chdb:"):
        return Path(url[len("chdb:"):].rstrip("/") or "chdb").with_suffix(".key")
    parts = urlparse(url)
    name = f"{parts.hostname}-{parts.port or 8123}-{parts.path.strip('/') or 'default'}"
    return Path.home() / ".pond" / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.key"


def require_duckdb(con, what: str = "this change") -> None:
    """Refuse a change that only a DuckDB warehouse takes, saying the way round."""
    if dialect(con) != "duckdb":
        raise PondError(f"{what} works on a DuckDB warehouse only (on ClickHouse, Pond imports files and undoes "
                        "uploads): make it on the DuckDB warehouse (POND_BACKEND unset), then copy it across "
                        "with `python -m engine clickhouse load`")


def dialect(con) -> str:
    """The SQL dialect a connection speaks (``duckdb`` or ``clickhouse``)."""
    return getattr(con, "dialect", "duckdb")
