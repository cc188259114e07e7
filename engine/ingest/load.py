"""Where an import reads a file's text cells from: columns ``c0..cN``, header text never in SQL.

CSV files are read straight from DuckDB's ``read_csv`` inside the statement that types and checks
the rows (one pass over the file, no text copy kept in memory); their rows are numbered afterwards
from the order in which the typed table keeps them. JSON lines, Parquet and Excel files are first
staged into the temp table ``stage`` with a data-row number ``_row``.

Lines that cannot be split into the right number of fields (a truncated last line, a broken quote)
go to ``stage_rejects`` with DuckDB's own reason instead of failing the import.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from engine.errors import ImportFormatError
from engine.ingest.formats import ImportPlan
from engine.ingest.sniff import iter_xlsx_rows

XLSX_BATCH_ROWS = 50_000


@dataclass
class Source:
    """A relation with the file's text columns ``c0..cN``, and ``_row`` when ``numbered``."""

    relation: str
    params: dict[str, object] = field(default_factory=dict)
    numbered: bool = True


@contextlib.contextmanager
def open_source(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, label: str) -> Iterator[Source]:
    """Yield the file as a :class:`Source`; creates ``stage_rejects(row_number, reason, raw)``.

    A file DuckDB's reader gives up on (also half-way through a CSV, inside the statement that
    reads it) is refused as a whole with an :class:`ImportFormatError` carrying DuckDB's reason.
    """
    con.execute("create or replace temp table stage_rejects "
                "(row_number bigint, reason varchar, raw varchar)")
    if plan.kind != "csv":
        with _refusing_unreadable(plan, label):
            stage_file(con, path, plan, label)
        yield Source("stage")
        return
    copy = _text_copy(path, plan)
    skip = plan.skip_rows + (1 if plan.has_header else 0)
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in _names(len(plan.columns))) + "}"
    relation = f"""read_csv($csv_path, delim = $csv_delimiter, header = false, skip = $csv_skip,
                            columns = {columns}, quote = '"', escape = '"', auto_detect = false,
                            null_padding = false, store_rejects = true, rejects_table = 'csv_rejects',
                            rejects_scan = 'csv_reject_scans', max_line_size = 10000000)"""
    delimiter = "\t" if plan.delimiter == "whitespace" else plan.delimiter
    params = {"csv_path": str(copy or path), "csv_delimiter": delimiter, "csv_skip": skip}
    try:
        with _refusing_unreadable(plan, label):
            yield Source(relation, params, numbered=False)
            # only the last scan's: a sample read before it (time-format detection) stores its rejects too
            # DuckDB stores one reject per missing column of a short line: one line, one reject
            con.execute("insert into stage_rejects select line - ?, 'malformed line: ' || error_message, "
                        "trim(csv_line, chr(13) || chr(10)) from csv_rejects "
                        "where scan_id = (select max(scan_id) from csv_reject_scans) "
                        "qualify row_number() over (partition by line order by column_idx) = 1", [skip])
    finally:
        with contextlib.suppress(duckdb.Error):  # after a failed read the transaction is aborted anyway
            con.execute("drop table if exists csv_rejects")
            con.execute("drop table if exists csv_reject_scans")
        if copy is not None:
            copy.unlink(missing_ok=True)


@contextlib.contextmanager
def _refusing_unreadable(plan: ImportPlan, label: str) -> Iterator[None]:
    try:
        yield
    except duckdb.Error as exc:
        # never a traceback: the reader's first line of complaint, and what to check
        reason = str(exc).strip().splitlines()[0][:200]
        raise ImportFormatError(f"{label}: the file cannot be read as {plan.kind.upper()} ({reason}); check its "
                                "delimiter, quotes and line endings, or export it again") from exc


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, label: str) -> None:
    """Create temp table ``stage`` (text columns and ``_row``) for a JSON-lines, Parquet or Excel file."""
    width = len(plan.columns)
    if plan.kind == "jsonl":
        _stage_jsonl(con, path, plan)
    elif plan.kind == "parquet":
        _stage_parquet(con, path, width, label)
    elif plan.kind == "xlsx":
        _stage_xlsx(con, path, plan, width, label)
    else:
        raise ImportFormatError(f"{label}: unsupported kind {plan.kind!r}")


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
    names = _names(width)
    try:
        types = [t for _, t, *_ in con.execute("describe select * from read_parquet(?)", [str(path)]).fetchall()]
        # whole floating-point values as integers ("17084", not "17084.0" or "1e+16"), like Excel cells
        cells = ", ".join(
            f"case when {n} = trunc({n}) and abs({n}) < 1e18 then cast(cast({n} as hugeint) as varchar) "
            f"else cast({n} as varchar) end as {n}" if t in ("DOUBLE", "FLOAT") else f"cast({n} as varchar) as {n}"
            for n, t in zip(names, types, strict=False))
        con.execute(
            f"""create or replace temp table stage as
            select {cells}, _row
            from (select *, row_number() over () as _row from read_parquet(?) as t({", ".join(names)}))""",
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
    for _ in range(plan.skip_rows + (1 if plan.has_header else 0)):  # title rows, then the header
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


def raw_cells_json(width: int) -> str:
    """SQL that packs a row's text cells ``c0..cN`` into a JSON array (for the reject file)."""
    return "cast(to_json([" + ", ".join(_names(width)) + "]) as varchar)"


def unpack_raw(raw: str | None, columns: list[str]) -> dict[str, object]:
    """Inverse of :func:`raw_cells_json`: a rejected row's cells by the file's column names."""
    if raw is None:
        return {}
    try:
        values = json.loads(raw)
    except ValueError:
        return {"line": raw}
    if not isinstance(values, list):
        return {"line": raw}
    return dict(zip(columns, values, strict=False))
