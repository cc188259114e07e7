"""Stage a file into the temp table ``stage``: text columns ``c0..cN`` and a data-row number.

Column names are always our own ``c<i>``; header text from the file never reaches SQL. Lines that
cannot be split into the right number of fields (a truncated last line, a broken quote) go to
``stage_rejects`` with DuckDB's own reason instead of failing the import.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import duckdb
import pandas as pd

from engine.errors import ImportFormatError
from engine.ingest.formats import ImportPlan
from engine.ingest.sniff import iter_xlsx_rows

XLSX_BATCH_ROWS = 50_000


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, label: str) -> None:
    """Create temp tables ``stage`` and ``stage_rejects(row_number, reason, raw)`` for a file."""
    con.execute("create or replace temp table stage_rejects "
                "(row_number bigint, reason varchar, raw varchar)")
    width = len(plan.columns)
    try:
        if plan.kind == "csv":
            _stage_delimited(con, path, plan, width)
        elif plan.kind == "jsonl":
            _stage_jsonl(con, path, plan)
        elif plan.kind == "parquet":
            _stage_parquet(con, path, width, label)
        elif plan.kind == "xlsx":
            _stage_xlsx(con, path, plan, width, label)
        else:
            raise ImportFormatError(f"{label}: unsupported kind {plan.kind!r}")
    except duckdb.Error as exc:
        # a file DuckDB's reader gives up on is refused as a whole, with its reason, never a traceback
        reason = str(exc).strip().splitlines()[0][:200]
        raise ImportFormatError(f"{label}: the file cannot be read as {plan.kind.upper()} ({reason}); check its "
                                "delimiter, quotes and line endings, or export it again") from exc


def _names(width: int) -> list[str]:
    return [f"c{i}" for i in range(width)]


def _text_copy(path: Path, plan: ImportPlan) -> Path | None:
    """A UTF-8 (tab-separated, for blank-separated input) copy, when DuckDB can't read the original."""
    whitespace = plan.delimiter == "whitespace"
    if plan.encoding in ("utf-8", "utf-8-sig", None) and not whitespace:
        return None
    fd, name = tempfile.mkstemp(suffix=".csv", prefix="pond-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out, \
            path.open("r", encoding=plan.encoding or "utf-8", errors="replace", newline="") as src:
        for line in src:
            out.write("\t".join(line.split()) + "\n" if whitespace else line)
    return Path(name)


def _stage_delimited(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, width: int) -> None:
    copy = _text_copy(path, plan)
    source = copy or path
    delimiter = "\t" if plan.delimiter == "whitespace" else plan.delimiter
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in _names(width)) + "}"
    skip = 1 if plan.has_header else 0
    try:
        con.execute(
            f"""create or replace temp table stage as
            select *, row_number() over () as _row
            from read_csv(?, delim = ?, header = false, skip = ?, columns = {columns},
                          quote = '"', escape = '"', auto_detect = false, null_padding = false,
                          store_rejects = true, rejects_table = 'csv_rejects',
                          rejects_scan = 'csv_reject_scans', max_line_size = 10000000)""",
            [str(source), delimiter, skip],
        )
        con.execute(
            "insert into stage_rejects select line - ?, 'malformed line: ' || error_message, csv_line "
            "from csv_rejects",
            [skip],
        )
    finally:
        with contextlib.suppress(duckdb.Error):  # after a failed read the transaction is aborted anyway
            con.execute("drop table if exists csv_rejects")
            con.execute("drop table if exists csv_reject_scans")
        if copy is not None:
            copy.unlink(missing_ok=True)


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan) -> None:
    copy = _text_copy(path, plan)
    source = copy or path
    paths = ['$."' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in plan.columns]
    extract = ", ".join(f"line ->> ? as c{i}" for i in range(len(paths)))
    try:
        # one text column per line; \x1e (record separator) never occurs in JSON text
        con.execute(
            """create or replace temp table stage_lines as
            select line, row_number() over () as _row
            from read_csv(?, delim = '\x1e', header = false, columns = {'line': 'VARCHAR'},
                          quote = '', escape = '', auto_detect = false, max_line_size = 10000000)
            where trim(coalesce(line, '')) <> ''""",
            [str(source)],
        )
        con.execute(
            "insert into stage_rejects select _row, 'malformed JSON line', line from stage_lines "
            "where not coalesce(json_valid(line), false) or json_type(line) <> 'OBJECT'"
        )
        con.execute(
            f"""create or replace temp table stage as
            select {extract}, _row from stage_lines
            where coalesce(json_valid(line), false) and json_type(line) = 'OBJECT'""",
            paths,
        )
    finally:
        con.execute("drop table if exists stage_lines")
        if copy is not None:
            copy.unlink(missing_ok=True)


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, width: int, label: str) -> None:
    names = ", ".join(_names(width))
    try:
        con.execute(
            f"""create or replace temp table stage as
            select cast(columns(* exclude (_row)) as varchar), _row
            from (select *, row_number() over () as _row from read_parquet(?) as t({names}))""",
            [str(path)],
        )
    except duckdb.Error as exc:
        raise ImportFormatError(f"{label}: cannot read this Parquet file "
                                f"({str(exc).splitlines()[0]})") from exc


def _stage_xlsx(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, width: int,
                label: str) -> None:
    names = _names(width)
    con.execute(f"create or replace temp table stage ({', '.join(n + ' varchar' for n in names)}, "
                "_row bigint)")
    rows = iter_xlsx_rows(path, label)
    if plan.has_header:
        next(rows, None)
    batch: list[list] = []
    number = 0

    def flush() -> None:
        frame = pd.DataFrame(batch, columns=[*names, "_row"], dtype="object")
        con.register("xlsx_batch", frame)
        con.execute("insert into stage select * from xlsx_batch")
        con.unregister("xlsx_batch")
        batch.clear()

    for row in rows:
        number += 1
        if not any(c not in (None, "") for c in row):
            continue
        batch.append([*(row + [None] * width)[:width], number])
        if len(batch) >= XLSX_BATCH_ROWS:
            flush()
    if batch:
        flush()


def raw_cells_json(width: int, alias: str) -> str:
    """SQL that packs a staged row's text cells into a JSON array (for the reject file)."""
    return "cast(to_json([" + ", ".join(f"{alias}.{n}" for n in _names(width)) + "]) as varchar)"


def unpack_raw(raw: str | None, columns: list[str]) -> dict[str, object]:
    """Inverse of :func:`raw_columns_json`: a rejected row's cells by the file's column names."""
    if raw is None:
        return {}
    try:
        values = json.loads(raw)
    except ValueError:
        return {"line": raw}
    if not isinstance(values, list):
        return {"line": raw}
    return dict(zip(columns, values, strict=False))
