"""Where an import reads a file's text cells from: columns ``c0..cN``, header text never in SQL.

CSV files are read straight from DuckDB's ``read_csv`` inside the statement that types and checks
the rows (one pass over the file, no text copy kept in memory); their rows are numbered afterwards
from the order in which the typed table keeps them. JSON lines, Parquet and Excel files are first
staged into the temp table ``stage`` with a data-row number ``_row``.

Lines that cannot be split into the right number of fields (a truncated last line, a broken quote)
go to ``stage_rejects`` with DuckDB's own reason instead of failing the import.

Lines DuckDB cannot be trusted with are found first by a fast scan of the file's bytes
(:func:`needs_cleaning`) and, only when there are any, taken out by a pass over its lines
(:func:`clean_copy`) that writes a UTF-8 copy for DuckDB to read and rejects each such line with its
reason: text in neither UTF-8 nor GB18030 (each line is decoded on its own, so a UTF-8 file with
some GBK lines keeps both right), NUL bytes, a quote left open that would join the following lines
into one field, and lines with far more fields than the header (DuckDB stores one reject per extra
field, each holding the whole line: a 350,000-field line took minutes and gigabytes).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import os
import tempfile
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from engine.errors import ImportFormatError
from engine.ingest.formats import ImportPlan
from engine.ingest.sniff import decode_line, iter_xlsx_rows

XLSX_BATCH_ROWS = 50_000
#: a quoted field may run over this many line ends; a quote open for longer (or to the end of the
#: file) was left unterminated, and its line is rejected rather than swallowing the lines after it
MAX_QUOTED_LINES = 10
#: the bytes the fast scan reads at a time (its numpy arrays are a few times this)
SCAN_BLOCK = 1 << 22
#: the longest field a line may hold (Python's csv limit, 128 KB): an id or a name is never that long
MAX_FIELD = csv.field_size_limit()
#: an import reads at most this many rows (``$POND_MAX_IMPORT_ROWS`` changes it): a few hundred
#: kilobytes of Parquet can hold tens of millions of identical rows
DEFAULT_MAX_IMPORT_ROWS = 50_000_000
#: a Parquet file of events takes at least a few bytes per row; one that packs over a million rows
#: at more than this many rows per byte is refused, as a zip bomb is
MAX_PARQUET_ROWS_PER_BYTE = 10
#: how much of a line a reject the cleaning pass makes keeps, for the reject file
MAX_REJECT_TEXT = 2000


@dataclass
class Source:
    """A relation with the file's text columns ``c0..cN``, and ``_row`` when ``numbered``."""

    relation: str
    params: dict[str, object] = field(default_factory=dict)
    numbered: bool = True
    label: str = ""  # the file's name, for messages


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
        yield Source("stage", label=label)
        return
    skip = plan.skip_rows + (1 if plan.has_header else 0)
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in _names(len(plan.columns))) + "}"
    relation = f"""read_csv($csv_path, delim = $csv_delimiter, header = false, skip = $csv_skip,
                            columns = {columns}, quote = '"', escape = '"', auto_detect = false,
                            null_padding = false, store_rejects = true, rejects_table = 'csv_rejects',
                            rejects_scan = 'csv_reject_scans', max_line_size = 10000000)"""
    delimiter = "\t" if plan.delimiter == "whitespace" else plan.delimiter
    copy = None
    try:
        if plan.encoding not in ("utf-8", "utf-8-sig", None) or plan.delimiter == "whitespace" \
                or needs_cleaning(path, plan):
            copy = _cleaned(con, path, plan, skip)
        params = {"csv_path": str(copy or path), "csv_delimiter": delimiter, "csv_skip": skip}
        with _refusing_unreadable(plan, label):
            yield Source(relation, params, numbered=False, label=label)
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


def max_import_rows() -> int:
    """The most rows one import reads: ``$POND_MAX_IMPORT_ROWS``, else :data:`DEFAULT_MAX_IMPORT_ROWS`."""
    try:
        return max(int(float(os.environ.get("POND_MAX_IMPORT_ROWS", DEFAULT_MAX_IMPORT_ROWS))), 1)
    except ValueError:
        return DEFAULT_MAX_IMPORT_ROWS


def check_rows(rows: int, label: str, *, exact: bool = True) -> None:
    """Refuse a file with more rows than one import takes, saying the limit and what to do."""
    limit = max_import_rows()
    if rows > limit:
        held = f"{rows:,}" if exact else f"more than {limit:,}"
        raise ImportFormatError(f"{label}: the file holds {held} rows and an import takes at most {limit:,}; "
                                "split the export (e.g. by month), or raise POND_MAX_IMPORT_ROWS")


def stage_file(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, label: str) -> None:
    """Create temp table ``stage`` (text columns and ``_row``) for a JSON-lines, Parquet or Excel file."""
    width = len(plan.columns)
    if plan.kind == "jsonl":
        _stage_jsonl(con, path, plan, label)
    elif plan.kind == "parquet":
        _stage_parquet(con, path, width, label)
    elif plan.kind == "xlsx":
        _stage_xlsx(con, path, plan, width, label)
    else:
        raise ImportFormatError(f"{label}: unsupported kind {plan.kind!r}")


def _names(width: int) -> list[str]:
    return [f"c{i}" for i in range(width)]


def _field_threshold(width: int) -> int:
    """Delimiters on one line from which the line is checked field by field: about twice the header's
    (quoted delimiters, as in "1,299.00", stay well below it)."""
    return width + max(width, 16)


def needs_cleaning(path: Path, plan: ImportPlan) -> bool:
    """Whether a UTF-8 text file holds a line :func:`clean_copy` must take out before DuckDB reads it.

    A scan of the bytes, not the lines: NUL bytes, invalid UTF-8, a line over 128 KB, a line with an
    odd number of quotes (a quoted field over line ends: legitimate or a quote left open, the
    cleaning pass tells them apart) and, for delimited files, a line with far more delimiters than
    the header has columns.
    """
    rules = _ScanRules(plan)
    for chunk in _blocks(path):
        if not chunk.isascii():
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return True
        if not rules.plain(chunk):
            return True
    return False


def _blocks(path: Path, *, start: int = 0) -> Iterator[bytes]:
    """The file from byte ``start`` in blocks of about :data:`SCAN_BLOCK` bytes that end at a line end
    (the last one where the file ends)."""
    carry = b""
    with path.open("rb") as fh:
        fh.seek(start)
        while True:
            block = fh.read(SCAN_BLOCK)
            if not block:
                if carry:
                    yield carry
                return
            data = carry + block
            end = data.rfind(b"\n") + 1
            if end == 0:  # one line longer than a block: read on
                carry = data
                continue
            carry = data[end:]
            yield data[:end]


class _ScanRules:
    """What makes a block of a text file need the line-by-line pass, checked on its bytes."""

    def __init__(self, plan: ImportPlan) -> None:
        self.quotes = plan.kind == "csv"  # JSON escapes its quotes inside strings; they never span lines
        self.delimiter = None if plan.kind != "csv" or plan.delimiter == "whitespace" else ord(plan.delimiter)
        self.threshold = _field_threshold(len(plan.columns))

    def plain(self, chunk: bytes) -> bool:
        if b"\x00" in chunk:
            return False
        arr = np.frombuffer(chunk, dtype=np.uint8)
        ends = np.flatnonzero(arr == 10)
        lengths = np.diff(ends, prepend=-1, append=len(arr))
        if lengths.max() > MAX_FIELD:
            return False  # a line that may hold a field too long to be one

        def per_line(byte: int) -> np.ndarray | None:
            where = np.flatnonzero(arr == byte)
            if not len(where):
                return None
            # per line, from where the line ends fall among the bytes found (fewer searches than the reverse)
            return np.diff(np.searchsorted(where, ends), prepend=0, append=len(where))

        if self.quotes and b'"' in chunk:
            quotes = per_line(34)
            if quotes is not None and (quotes & 1).any():
                return False
        if self.delimiter is not None:
            fields = per_line(self.delimiter)
            if fields is not None and fields.max() >= self.threshold:
                return False
        return True


def _cleaned(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, skip: int) -> Path:
    """The :func:`clean_copy` of a file, its rejected lines stored in ``stage_rejects``; the caller
    removes the copy."""
    copy, rejects = clean_copy(path, plan, skip=skip)
    try:
        if rejects:
            con.executemany("insert into stage_rejects values (?, ?, ?)", rejects)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    return copy


def _line_end(text: str) -> str:
    return "\r\n" if text.endswith("\r\n") else "\n" if text.endswith(("\n", "\r")) else ""


def clean_copy(path: Path, plan: ImportPlan, *, skip: int) -> tuple[Path, list[tuple[int, str, str]]]:
    """A UTF-8 copy of a text file for DuckDB to read, and the lines it rejected: (row, reason, text).

    Each rejected line is written as an empty line, which DuckDB counts but does not read, so that
    its reasons for other lines keep their numbers. Rows are numbered as DuckDB numbers them after
    the ``skip`` lines above the first row: a quoted field over several lines is one row. Blank-
    separated text becomes tab-separated. A block of lines that is plain (one encoding, nothing
    :class:`_ScanRules` objects to) is decoded and written whole; only the others go line by line.
    """
    text_file = plan.kind == "csv"
    whitespace = plan.delimiter == "whitespace"
    delimiter = None if not text_file or whitespace else plan.delimiter
    width = len(plan.columns)
    threshold = _field_threshold(width)
    gbk_file = plan.encoding == "gb18030"
    rules = _ScanRules(plan)
    rejects: list[tuple[int, str, str]] = []
    with path.open("rb") as fh:
        start = len(codecs.BOM_UTF8) if fh.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8 else 0
    blocks = _blocks(path, start=start)
    raw_lines: deque[bytes] = deque()
    pending: deque[tuple[str, str | None]] = deque()

    def next_line() -> tuple[str, str | None] | None:
        if pending:
            return pending.popleft()
        if not raw_lines:
            block = next(blocks, None)
            if block is None:
                return None
            raw_lines.extend(_split_keeping_ends(block))
        return decode_line(raw_lines.popleft(), gbk_file=gbk_file)

    def write(text: str) -> None:
        out.write("\t".join(text.split()) + "\n" if whitespace else text)

    fd, name = tempfile.mkstemp(suffix=".csv", prefix="pond-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        row = -skip
        while row < 0 and (line := next_line()) is not None:  # the title and header lines: sniffed already
            row += 1
            write(line[0])
        while True:
            if not pending and not raw_lines:  # at a block's start: the whole block at once when it is plain
                block = next(blocks, None)
                if block is None:
                    break
                text = _plain_text(block, rules, gbk_file=gbk_file)
                if text is not None:
                    row += block.count(b"\n") + (not block.endswith(b"\n"))
                    out.write("\n".join("\t".join(t.split()) for t in text.split("\n")) if whitespace else text)
                    continue
                raw_lines.extend(_split_keeping_ends(block))
            line = next_line()
            if line is None:
                break
            text, reason = line
            row += 1
            if reason is None and text_file and text.count('"') % 2:
                # a quoted field over line ends: it must close within a few lines
                taken: list[tuple[str, str | None]] = []
                while len(taken) < MAX_QUOTED_LINES and (more := next_line()) is not None:
                    taken.append(more)
                    if more[1] is not None or more[0].count('"') % 2:
                        break
                if taken and taken[-1][1] is None and taken[-1][0].count('"') % 2:
                    text = text + "".join(t for t, _ in taken)
                else:
                    pending.extendleft(reversed(taken))  # read on from the next line
                    reason = (f"unterminated quote: a quote on this line is not closed within "
                              f"{MAX_QUOTED_LINES} lines; close or remove it")
            if reason is None and delimiter is not None and (
                    text.count(delimiter) >= threshold or len(text) > MAX_FIELD):
                try:
                    count = len(next(csv.reader(io.StringIO(text), delimiter=delimiter)))
                except csv.Error:
                    reason = (f"a field longer than {MAX_FIELD:,} characters, which no event field needs: "
                              "check the line's quotes and delimiters")
                else:
                    if count != width:
                        reason = f"malformed line: {count:,} fields where the header has {width}"
            if reason is not None:
                rejects.append((row, reason, text.rstrip("\r\n")[:MAX_REJECT_TEXT]))
                out.write(_line_end(text) or "\n")
            else:
                write(text)
    return Path(name), rejects


def _split_keeping_ends(block: bytes) -> list[bytes]:
    """A block's lines, each with its ``\\n`` (a lone ``\\r`` does not end a line, as for readline)."""
    lines = block.split(b"\n")
    last = lines.pop()
    return [line + b"\n" for line in lines] + ([last] if last else [])


def _plain_text(block: bytes, rules: _ScanRules, *, gbk_file: bool) -> str | None:
    """A block's text when the block needs nothing of the line pass: no line to reject or join, and
    one encoding throughout (the file's; a GB18030 file's block that is ASCII or wholly GB18030)."""
    if not rules.plain(block):
        return None
    if block.isascii():
        return block.decode("ascii")
    try:
        return block.decode("gb18030" if gbk_file else "utf-8")
    except UnicodeDecodeError:
        return None


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, plan: ImportPlan, label: str) -> None:
    copy = _cleaned(con, path, plan, 0) \
        if plan.encoding not in ("utf-8", "utf-8-sig", None) or needs_cleaning(path, plan) else None
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
        check_rows(con.execute("select count(*) from stage_lines").fetchone()[0], label)
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
        # from the file's footer, before a row is read: a small file can expand to millions of rows
        rows = int(con.execute("select coalesce(sum(num_rows), 0) from parquet_file_metadata(?)",
                               [str(path)]).fetchone()[0])
        check_rows(rows, label)
        size = max(path.stat().st_size, 1)
        if rows > 1_000_000 and rows / size > MAX_PARQUET_ROWS_PER_BYTE:
            raise ImportFormatError(f"{label}: this {size / 1024:,.0f} KB Parquet file expands to {rows:,} rows, "
                                    f"over {MAX_PARQUET_ROWS_PER_BYTE} rows per byte, which is not what an export "
                                    "of events looks like (a file of repeated rows); refused. If the rows are "
                                    "real, export them as CSV")
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

    limit = max_import_rows()
    for row in rows:
        number += 1
        if not any(c not in (None, "") for c in row):
            continue
        if number > limit:
            check_rows(number, label, exact=False)
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
