"""Accounts, the audit trail, backup and restore: users, audit, backup, restore."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from engine.cli.common import cli_actor, emit
from engine.errors import PondError
from engine.store import warehouse


def register(sub) -> None:
    """Add this group's commands to the command line's sub-parsers."""
    p = sub.add_parser("users", help="dashboard accounts: add, list, change role, remove")
    p.add_argument("action", choices=("add", "list", "role", "remove"))
    p.add_argument("name", nargs="?")
    p.add_argument("--role", choices=("viewer", "marketer", "admin"), help="add, role: the account's role")
    p.add_argument("--password-stdin", action="store_true",
                   help="add: read the password from standard input (else it is asked for twice)")

    p = sub.add_parser("audit", help="the audit trail, newest first")
    p.add_argument("--user", help="only this actor")
    p.add_argument("--action", help="only this action (import, export, sign_in_failed ...)")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--format", default="table", choices=("table", "csv", "json"))

    p = sub.add_parser("backup", help="write a consistent snapshot of the warehouse (safe while it is in use)")
    p.add_argument("dest", type=Path, metavar="DEST.duckdb")

    p = sub.add_parser("restore", help="replace the warehouse's data with a backup's, after checking it")
    p.add_argument("src", type=Path, metavar="SRC.duckdb")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for name, (handler, opens_warehouse) in {
        "users": (cmd_users, False),
        "audit": (cmd_audit, True),
        "backup": (cmd_backup, True),
        "restore": (cmd_backup, True),
    }.items():
        sub.choices[name].set_defaults(handler=handler, opens_warehouse=opens_warehouse)


def cmd_users(args) -> int:
    import getpass

    from engine.admin import access, audit

    path = args.warehouse or warehouse.default_warehouse_path()
    if args.action == "list":
        emit(pd.DataFrame(access.list_users(path), columns=["name", "role", "created_at"]), "table")
        return 0
    if not args.name:
        raise PondError(f"say which user: python -m engine users {args.action} NAME")
    if args.action == "add":
        if not args.role:
            raise PondError("give the account a role: --role viewer|marketer|admin")
        if args.password_stdin or not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"Password for {args.name}: ")
            if getpass.getpass("Again: ") != password:
                raise PondError("the two passwords differ")
        access.add_user(path, args.name, args.role, password)
        detail = f"{args.name} as {args.role}"
        print(f"account {args.name} ({args.role}) saved in {access.users_file(path)}")
    elif args.action == "role":
        if not args.role:
            raise PondError("say the new role: --role viewer|marketer|admin")
        access.set_role(path, args.name, args.role)
        detail = f"{args.name} is now {args.role}"
        print(detail)
    else:
        access.remove_user(path, args.name)
        detail = f"{args.name} removed"
        print(detail)
    with warehouse.connect(path) as con:
        audit.record(con, cli_actor(), {"add": "user_add", "role": "user_role", "remove": "user_remove"}[args.action],
                     detail)
    return 0


def cmd_backup(args, con) -> int:
    from engine.admin import audit
    from engine.admin.backup import backup, restore

    if args.command == "backup":
        done = backup(con, args.dest)
        rows = sum(done.tables.values())
        audit.record(con, cli_actor(), "backup", str(done.path), rows=rows)
        print(f"backup written to {done.path}: {len(done.tables)} tables, {rows:,} rows"
              + (f"; pseudonym key copied to {done.path.with_suffix('.key')}" if done.key_copied else ""))
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise PondError("restore replaces the warehouse's data: add --yes to confirm")
        if input(f"Replace every table of the warehouse with {args.src}? [y/N] ").strip().lower() != "y":
            print("nothing restored")
            return 1
    counts = restore(con, args.src)
    audit.record(con, cli_actor(), "restore", str(args.src), rows=counts.get("events"))
    print(f"restored {args.src}: {counts.message}")
    return 0


def cmd_audit(args, con) -> int:
    from engine.admin.audit import entries

    emit(entries(con, actor=args.user, action=args.action, limit=args.limit), args.format)
    return 0
