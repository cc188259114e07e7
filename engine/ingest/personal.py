"""The key for pseudonymising personal identifiers; it lives beside, never inside, the warehouse."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import duckdb


def key_path(con: duckdb.DuckDBPyConnection) -> Path:
    """``$POND_KEY_FILE`` if set, else ``<warehouse>.key`` next to the warehouse file."""
    env = os.environ.get("POND_KEY_FILE")
    if env:
        return Path(env)
    db = con.execute("select path from duckdb_databases() where database_name = current_database()"
                     ).fetchone()[0]
    return Path(db).with_suffix(".key")


def pseudonym_key(con: duckdb.DuckDBPyConnection) -> str:
    """The secret that keys identifier hashes, created (readable by its owner only) on first use.

    Keep it with the backups: without it, re-imports of the same people get different pseudonyms.
    """
    path = key_path(con)
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key)
    return key
