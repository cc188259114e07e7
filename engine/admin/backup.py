"""Backups: a consistent snapshot of the warehouse while it is in use, and a checked restore.

``backup`` copies every table inside one read transaction (DuckDB ``COPY FROM DATABASE``), so the
snapshot is consistent even while the dashboard runs; the pseudonym key is copied beside it,
because later imports need the same key to pseudonymise the same people the same way.
``restore`` first opens a copy of the backup as a warehouse (migrating an older schema, refusing a
newer one or a file that is not a Pond warehouse), then replaces every table's rows in one
transaction: a failure leaves the warehouse as it was. The audit trail is not replaced (the
restore itself is recorded in it), and the data version moves forward so that no cache mistakes
the restored data for what it held before.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from engine.errors import PondError, WarehouseError
from engine.ingest.personal import fingerprint, key_path, read_key, stored_fingerprint, write_key
from engine.store import warehouse

KEPT_ON_RESTORE = ("audit",)


class RestoreResult(dict):
    """Rows restored per table (a dict, as before), and whether the backup's pseudonym key came back."""

    def __init__(self, counts: dict[str, int], *, key_restored: bool, key: Path | None = None) -> None:
        super().__init__(counts)
        self.key_restored = key_restored
        self.key = key

    @property
    def message(self) -> str:
        events = self.get("events", 0)
        said = f"{events:,} events, {len(self)} tables"
        if self.key_restored:
            said += f"; pseudonym key restored to {self.key} (re-imported people get the same pseudonyms)"
        return said


@dataclass(frozen=True)
class BackupResult:
    path: Path
    tables: dict[str, int]
    key_copied: bool


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per table of the connection's own database."""
    names = [r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'main' and table_type = 'BASE TABLE' order by 1").fetchall()]
    return {n: con.execute(f"select count(*) from main.{_identifier(n)}").fetchall()[0][0] for n in names}


def backup(con: duckdb.DuckDBPyConnection, dest: str | Path) -> BackupResult:
    """Write a snapshot of the warehouse ``con`` is open on to ``dest`` (a new ``.duckdb`` file)."""
    dest = Path(dest).expanduser().resolve()
    if dest.suffix != ".duckdb":
        raise PondError(f"name the backup file …/{dest.stem}.duckdb, so it can be opened as a warehouse")
    if dest.exists():
        raise PondError(f"{dest} already exists; choose a new file name (backups are never overwritten)")
    with warehouse.creating_privately():  # a backup holds every customer's behaviour: 0600, folders 0700
        dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        source = con.execute("select current_database()").fetchall()[0][0]
        con.execute(f"attach {_literal(dest)} as pond_backup")
    dest.chmod(0o600)
    try:
        con.execute(f"copy from database {_identifier(source)} to pond_backup")
    finally:
        con.execute("detach pond_backup")
    with duckdb.connect(str(dest), read_only=True) as check:
        copied = _table_counts(check)
    if copied != _table_counts(con):
        dest.unlink(missing_ok=True)
        raise WarehouseError("the backup does not match the warehouse (it changed while copying?); try again")
    key = key_path(con)
    if key.exists():
        shutil.copy2(key, dest.with_suffix(".key"))
        dest.with_suffix(".key").chmod(0o600)
    return BackupResult(dest, copied, key.exists())


def restore(con: duckdb.DuckDBPyConnection, src: str | Path) -> dict[str, int]:
    """Replace the warehouse's data with the backup's, after checking the backup; rows per table."""
    src = Path(src).expanduser().resolve()
    if not src.is_file():
        what = "a folder, not a file" if src.is_dir() else "no such file"
        raise PondError(f"no backup file at {src} ({what}); give the path of a .duckdb file written by "
                        "`python -m engine backup`")
    target = con.execute("select path from duckdb_databases() where database_name = current_database()"
                         ).fetchall()[0][0]
    with tempfile.TemporaryDirectory(dir=Path(target).parent, prefix=".pond-restore-") as folder:
        copy = Path(folder) / "backup.duckdb"
        shutil.copyfile(src, copy)  # never open (or migrate) the backup itself
        try:
            # look before migrating: migrations would turn any DuckDB file into an empty warehouse
            with duckdb.connect(str(copy), read_only=True) as look:
                found = _table_counts(look)
                version = warehouse.schema_version(look) if "meta" in found else 0
                made_with = stored_fingerprint(look) if version >= 1 else None
            if version < 1 or "events" not in found or "uploads" not in found:
                raise PondError("it has no Pond schema, events or uploads")
            if version > warehouse.SCHEMA_VERSION:
                raise PondError(f"it was written by a newer Pond (schema {version}); upgrade Pond first")
            with warehouse.connect(copy, create=False) as check:
                counts = _table_counts(check)
        except (PondError, duckdb.Error) as exc:
            raise PondError(f"{src.name} is not a Pond warehouse backup ({exc}); choose a .duckdb file written by "
                            "`python -m engine backup` or the Admin page's backup") from exc
        ours = _table_counts(con)
        missing = set(ours) - set(counts)
        if missing:
            raise PondError(f"{src.name} lacks tables this warehouse has: {', '.join(sorted(missing))} (it is "
                            "incomplete or damaged); choose another backup written by `python -m engine backup`")
        key = _backup_key(con, src, made_with)
        current = warehouse.data_version(con)
        con.execute(f"attach {_literal(copy)} as pond_restore (read_only)")
        try:
            con.execute("begin transaction")
            try:
                for table in ours:
                    if table in KEPT_ON_RESTORE:
                        continue
                    name = _identifier(table)
                    con.execute(f"delete from main.{name}")
                    con.execute(f"insert into main.{name} by name select * from pond_restore.main.{name}")
                restored = int(con.execute("select value from meta where key = 'data_version'").fetchall()[0][0])
                con.execute("update meta set value = ? where key = 'data_version'", [str(max(current, restored) + 1)])
                # derived tables are rebuilt for the new version on first use
                con.execute("update meta set value = '-1' where key in ('tags_version', 'scores_version')")
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        finally:
            con.execute("detach pond_restore")
    target_key = key_path(con)
    if key is not None:  # after the data: a restore killed in between is caught by the key's fingerprint
        write_key(target_key, key)
    return RestoreResult({t: n for t, n in counts.items() if t not in KEPT_ON_RESTORE},
                         key_restored=key is not None, key=target_key)


def _backup_key(con: duckdb.DuckDBPyConnection, src: Path, made_with: str | None) -> str | None:
    """The key saved beside the backup ``src`` (to restore with it), None when there is none to restore;
    refuses a backup whose pseudonyms were made with a key that neither it nor the warehouse has."""
    beside = src.with_suffix(".key")
    try:
        key = read_key(beside)
    except PondError as exc:
        raise PondError(f"{src.name}: the key beside it cannot be used ({exc})") from exc
    if made_with is None:
        return key
    if key is not None:
        if fingerprint(key) != made_with:
            raise PondError(f"{src.name}: the key beside it ({beside.name}) is not the key its pseudonyms were made "
                            "with; put the key file saved with this backup there and restore again")
        return key
    try:
        current = read_key(key_path(con))
    except PondError:
        current = None
    if current is not None and fingerprint(current) == made_with:
        return None  # the warehouse's own key made the backup's pseudonyms: nothing to bring back
    raise PondError(f"{src.name} holds pseudonyms but its key {beside} is missing: restored, re-imported people "
                    "would get other pseudonyms. Put the backup's key file there (it was written beside the "
                    "backup, with the same name and .key) and restore again")
