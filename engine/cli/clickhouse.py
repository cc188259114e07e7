"""ClickHouse from the command line: ``clickhouse init`` creates Pond's tables, ``clickhouse load`` copies
a DuckDB warehouse across. The ClickHouse is ``$POND_CLICKHOUSE_URL`` (see :mod:`engine.store.backend`)."""

from __future__ import annotations

import sys
from pathlib import Path

from engine.cli.common import progress_printer
from engine.errors import PondError
from engine.store import backend, warehouse


def register(sub) -> None:
    """Add this group's commands to the command line's sub-parsers."""
    p = sub.add_parser("clickhouse", help="run Pond on ClickHouse: create its tables (init), copy a DuckDB "
                       "warehouse across (load)")
    p.add_argument("action", choices=("init", "load"),
                   help="init: create the tables; load: copy every table of a DuckDB warehouse, replacing them")
    p.add_argument("--cluster", metavar="NAME",
                   help="init: a sharded, replicated layout on this cluster (ReplicatedMergeTree tables "
                        "<t>_local on every node, Distributed tables <t> sharded by cityHash64(user_id))")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="init: print the statements instead of running them (for a DBA to review)")
    p.add_argument("--from", dest="source", type=Path, metavar="WAREHOUSE.duckdb",
                   help="load: the DuckDB warehouse to copy (default: --warehouse, $POND_WAREHOUSE or "
                        "data/pond.duckdb)")
    p.set_defaults(handler=cmd_clickhouse, opens_warehouse=False)


def cmd_clickhouse(args) -> int:
    if args.action == "init":
        if args.print_only:
            from engine.store.clickhouse import ddl

            with warehouse.schema_connection() as schema:
                for statement in ddl(schema, args.cluster):
                    print(statement.rstrip(";") + ";\n")
            return 0
        from engine.store.clickhouse import ClickHouseConnection, init

        url = backend.clickhouse_url()
        with ClickHouseConnection(url) as ch, warehouse.schema_connection() as schema:
            created = init(ch, schema, cluster=args.cluster)
        print(f"{backend.describe(url)}: {created} tables ready" + (f" on cluster {args.cluster}" if args.cluster
                                                                      else ""))
        return 0
    if args.cluster or args.print_only:
        raise PondError("--cluster and --print go with `clickhouse init`")
    from engine.store.clickhouse import ClickHouseConnection, load_from_duckdb

    source = args.source or getattr(args, "warehouse", None) or warehouse.default_warehouse_path()
    url = backend.clickhouse_url()
    with warehouse.connect(source, create=False, backend_name="duckdb") as duck, ClickHouseConnection(url) as ch:
        counts = load_from_duckdb(duck, ch, progress=progress_printer("load"))
    for table, rows in counts.items():
        print(f"  {table:<22} {rows:>12,} rows")
    print(f"loaded {source} into {backend.describe(url)}: {len(counts)} tables, "
          f"{counts.get('events', 0):,} events", file=sys.stderr)
    return 0
