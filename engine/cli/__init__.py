"""Command line: ``python -m engine [--warehouse PATH] COMMAND ...``.

The warehouse is ``--warehouse PATH``, else ``$POND_WAREHOUSE``, else ``data/pond.duckdb``.
Exit status: 0 on success, 1 when Pond refused something (one line on stderr says why), 2 for
a malformed command line.

Each module of this package is one group of commands and registers its own sub-commands
(``register(sub)``), naming for each its handler and whether it needs the warehouse open:
:mod:`engine.cli.data` (ingest, inspect, mappings, uploads, undo, rejects, demo, timezone, summary),
:mod:`engine.cli.admin` (users, audit, backup, restore), :mod:`engine.cli.models` (train, evaluate)
:mod:`engine.cli.query` (query) and :mod:`engine.cli.clickhouse` (clickhouse init, load).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.cli import admin, clickhouse, data, models, query
from engine.cli.common import cli_actor
from engine.errors import PondError, WarehouseLockedError
from engine.store import backend, warehouse

GROUPS = (data, admin, models, query, clickhouse)
#: commands that change the warehouse
WRITES = ("ingest", "undo", "demo", "backup", "restore")
#: of those, the ones refused on ClickHouse (imports and undo go there in steps, engine.store.chwrites;
#: a demo, a backup and a restore are the DuckDB file's)
DUCKDB_ONLY = ("demo", "backup", "restore")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Pond from the command line.")
    parser.add_argument("--warehouse", type=Path, help="warehouse file (default: $POND_WAREHOUSE or "
                        "data/pond.duckdb)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    for command in sub.choices.values():  # also after the command name: `python -m engine ingest --warehouse W F`
        command.add_argument("--warehouse", type=Path, default=argparse.SUPPRESS,
                             help="warehouse file (default: $POND_WAREHOUSE or data/pond.duckdb)")
    return parser


def run(args: argparse.Namespace) -> int:
    if not args.opens_warehouse:  # e.g. train reads the warehouse briefly, then fits without holding it
        return args.handler(args)
    with warehouse.connect(args.warehouse) as con:
        if backend.dialect(con) != "duckdb":  # the leftovers and deferred entries are the DuckDB file's
            if args.command in DUCKDB_ONLY or (args.command == "timezone" and args.zone) or \
                    (args.command == "mappings" and args.action == "forget"):
                backend.require_duckdb(con, f"`{args.command}`")
            return args.handler(args, con) or 0
        for leftover in warehouse.remove_leftovers(con):  # of a killed restore or import
            print(f"pond: removed {leftover.name}, left by an interrupted restore or import", file=sys.stderr)
        from engine.admin import audit

        audit.flush_deferred(con)  # entries kept while another process held the warehouse
        return args.handler(args, con) or 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warehouse.private_files()  # the warehouse, its log and spill files, backups and keys: 0600
    try:
        return run(args)
    except PondError as exc:
        print(f"pond: {exc}", file=sys.stderr)
        if isinstance(exc, WarehouseLockedError):  # the trail keeps busy refusals (written once the file is free)
            from engine.admin import audit

            audit.defer(getattr(args, "warehouse", None) or warehouse.default_warehouse_path(), cli_actor(), "busy",
                        f"{args.command} refused: {exc}", ok=False)
        return 1
    except BrokenPipeError:  # e.g. `python -m engine uploads | head`
        return 0

