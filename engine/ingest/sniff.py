"""Look at the start of a file and tell what it is: kind, text encoding, delimiter and header.

Nothing here touches the warehouse; the answer is a :class:`FileSample` that the format detector
and the loader use, and that the Upload page shows as a preview.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import ParseError

import duckdb
import pandas as pd

from engine.errors import ImportFormatError

SAMPLE_BYTES = 1 << 20
#: Larger files are refused before anything is read (``$POND_MAX_IMPORT_MB`` changes it).
DEFAULT_MAX_IMPORT_MB = 1024
#: An .xlsx is a zip: refuse one whose contents would unpack to more than this, or that is packed
#: suspiciously tightly (a "zip bomb" inflates a few kilobytes into gigabytes).
MAX_XLSX_UNPACKED = 1 << 30
MAX_XLSX_RATIO = 100
SAMPLE_ROWS = 200
#: A file with more columns is refused: no export of events needs them, and reading thousands of
#: columns exhausts the warehouse's memory cap (a wrong delimiter or a broken header is the usual cause).
MAX_COLUMNS = 1000
#: Python's csv module refuses fields over 128 KB; a sample line holding one is a malformed line.
MAX_SAMPLE_FIELD = csv.field_size_limit()
DELIMITERS = (",", "\t", ";", "|")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d+)*|\d*\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^\d{4}[-/年.]\d{1,2}|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}")


@dataclass
class FileSample:
    """What :func:`sniff_file` found out about a file."""

    path: Path
    kind: str  # csv | xlsx | parquet | jsonl
    encoding: str | None = None  # utf-8 | utf-8-sig | gb18030 (text kinds only)
    delimiter: str | None = None  # one character, or "whitespace" for runs of blanks
    has_header: bool = True
    columns: list[str] = field(default_factory=list)
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # sample rows, all text
    complete: bool = False  # the sample holds every row of the file
    skip_rows: int = 0  # lines (or sheet rows) above the header: a title, a merged group header, blanks

    @property
    def format_label(self) -> str:
        if self.kind != "csv":
            return {"xlsx": "Excel workbook", "parquet": "Parquet", "jsonl": "JSON lines"}[self.kind]
        name = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe", "whitespace": "whitespace"}
        return f"{name.get(self.delimiter, self.delimiter)}-separated text ({self.encoding})"


def sniff_file(path: str | Path, *, name: str | None = None) -> FileSample:
    """Identify a file's kind and layout and read a sample of its rows as text.

    Raises
    ------
    ImportFormatError
        The file is empty, binary, an old ``.xls`` workbook, or not a table.
    """
    path = Path(path)
    label = name or path.name
    if not path.exists():
        raise ImportFormatError(f"{label}: no such file")
    check_size(path, label)
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if not head.strip():
        raise ImportFormatError(f"{label}: the file is empty; export it again with its rows")
    if head.startswith(b"PK\x03\x04"):
        return _sniff_xlsx(path, label)
    if head.startswith(b"PAR1"):
        return _sniff_parquet(path, label)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFormatError(f"{label}: this is an old Excel .xls workbook; save it as .xlsx or CSV")
    if _looks_binary(head) and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFormatError(f"{label}: this is a binary file, not a table; export it as CSV, "
                                "Excel .xlsx, Parquet or JSON lines")
    encoding, text = _decode_sample(head, label, complete=len(head) < SAMPLE_BYTES)
    if "\x00" in text:  # a line with a NUL byte is rejected by the import; the sample does without it
        text = "\n".join("" if "\x00" in line else line for line in text.split("\n"))
    if text.lstrip().startswith("{"):
        sample = _sniff_jsonl(path, label, encoding, text)
    else:
        sample = _sniff_delimited(path, label, encoding, text)
    sample.complete = len(head) < SAMPLE_BYTES and len(sample.rows) < SAMPLE_ROWS
    return sample


def _looks_binary(head: bytes) -> bool:
    """NUL bytes in more than one line in ten of the first 8 KB: a binary file, not text with a bad line."""
    lines = head[:8192].split(b"\n")
    return sum(1 for line in lines if b"\x00" in line) * 10 > len(lines)


def _decode_sample(head: bytes, label: str, *, complete: bool) -> tuple[str, str]:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFormatError(f"{label}: the file is UTF-16 text; save it as UTF-8 (or GB18030) CSV")
    if not complete:  # don't judge an encoding by a character cut in half at the sample's end
        head = head[: head.rfind(b"\n") + 1] or head
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", head[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    try:
        return "utf-8", head.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # not one encoding throughout: each line is decoded on its own, as the import does (a UTF-8 file
    # with a few GBK lines stays UTF-8; decoding it all as GB18030 would garble its UTF-8 lines)
    lines = head.splitlines(keepends=True)
    utf8 = sum(1 for line in lines if not line.isascii() and _is_utf8(line))
    encoding = "utf-8" if utf8 else "gb18030"
    decoded = [decode_line(line, gbk_file=encoding == "gb18030") for line in lines]
    undecodable = sum(1 for _, reason in decoded if reason is not None)
    if undecodable * 2 > sum(1 for line in lines if line.strip()):
        raise ImportFormatError(f"{label}: the text is neither UTF-8 nor GB18030/GBK; save it as UTF-8")
    # a line the import will reject stays a blank line here, so that lines keep their numbers
    return encoding, "".join(text if reason is None else "\n" for text, reason in decoded)


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


#: UTF-8 for a character from U+0800 on (CJK among them): two-byte UTF-8 can be GBK text by chance
_UTF8_WIDE = re.compile(rb"[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def decode_line(raw: bytes, *, gbk_file: bool = False) -> tuple[str, str | None]:
    """A line's text, decided for the line alone (UTF-8, else GB18030), and a reason to reject it.

    In a file sniffed as GB18030 a line is taken as UTF-8 only when it holds UTF-8 for a character
    from U+0800 on, such as a Chinese one: a line of GBK text is rarely valid UTF-8, and then only
    with two-byte sequences."""
    if b"\x00" in raw:
        return raw.replace(b"\x00", b"").decode("utf-8", errors="replace"), \
            "NUL byte in the line (binary data, not text): export the file again"
    if raw.isascii():
        return raw.decode("ascii"), None
    try:
        text = raw.decode("utf-8")
        if not gbk_file or _UTF8_WIDE.search(raw):
            return text, None
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), \
            "undecodable text (neither UTF-8 nor GB18030): save the file as UTF-8"


def _split_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()][: SAMPLE_ROWS + 1]


#: at most this many rows above the header are taken for a title
MAX_TITLE_ROWS = 5


def _title_rows(table: list[list[str]]) -> int:
    """How many leading rows are a title or a merged group header rather than the table: rows with
    at most half as many filled cells as the table's usual row, before the first row that has more."""
    filled = [sum(1 for c in row if str(c).strip()) for row in table]
    if len(filled) < 3:
        return 0
    usual = max(set(filled[1:]), key=filled[1:].count)
    count = 0
    while count < min(MAX_TITLE_ROWS, len(filled) - 2) and usual >= 2 and filled[count] <= usual // 2:
        count += 1
    return count


def _fields(line: str, delimiter: str) -> list[str]:
    if delimiter == "whitespace":
        return line.split()
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except csv.Error:  # a field over the csv module's limit: the line counts as one malformed cell
        return [line]


def _usual_width(table: list[list[str]]) -> int:
    """The number of fields most rows have (the widest of equally usual widths)."""
    counts = [len(r) for r in table]
    return max(set(counts), key=lambda w: (counts.count(w), w)) if counts else 0


def _choose_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits most lines into the same number (at least 2) of fields. One that
    does so for nine lines in ten beats blanks, which split every line of times such as
    ``2026-01-05 10:00:00`` in two: a few malformed lines must not turn a CSV into blank-separated text."""
    best, best_score = None, (0, 0)
    for delimiter in (*DELIMITERS, "whitespace"):
        counts = [len(_fields(line, delimiter)) for line in lines]
        width = max(set(counts), key=counts.count)
        if width < 2:
            continue
        agree = counts.count(width)
        blanks = delimiter == "whitespace"
        if blanks and best is not None and best_score[0] >= 0.9 * len(lines):
            continue
        score = (agree, 0 if blanks else width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _looks_like_value(cell: str) -> bool:
    cell = cell.strip()
    return bool(_NUMBER.match(cell) or _DATE.match(cell))


def _detect_header(first: list[str], rest: list[list[str]]) -> bool:
    from engine.ingest.vocabulary import field_for_header, is_contact_header

    if not rest:
        return not any(_looks_like_value(c) for c in first)
    if any(_looks_like_value(c) for c in first if c.strip()):
        return False
    if any(field_for_header(c) or is_contact_header(c) for c in first):
        return True
    for i in range(len(first)):
        column = [r[i] for r in rest if i < len(r) and r[i].strip()]
        if column and sum(map(_looks_like_value, column)) / len(column) > 0.5:
            return True
    return False


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, raw in enumerate(names):
        name = str(raw).strip() or f"column_{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out


def _frame(header: bool, table: list[list[str]], label: str) -> tuple[list[str], pd.DataFrame]:
    """Column names and the sample rows. The width is the header's, or the usual row's when rows carry
    more (a trailing delimiter): a line with another number of fields is a malformed line, left out
    of the sample and rejected by the import; it never widens the table and shifts the others."""
    body = table[1:] if header else table
    width = _usual_width(body) if body else len(table[0])
    if header:
        width = max(width, len(table[0]))
    check_width(width, label)
    if header:
        columns = _unique_names(table[0] + [""] * (width - len(table[0])))
    else:
        columns = [f"column_{i + 1}" for i in range(width)]
    body = [r for r in body if len(r) == width][:SAMPLE_ROWS]
    return columns, pd.DataFrame(body, columns=columns, dtype="object")


def check_width(width: int, label: str) -> None:
    """Refuse a table wider than :data:`MAX_COLUMNS`, saying the limit and what to fix."""
    if width > MAX_COLUMNS:
        raise ImportFormatError(f"{label}: the table has {width:,} columns and Pond reads at most {MAX_COLUMNS:,}; "
                                "check that the header is the file's first line and that the delimiter is the "
                                "one that separates its columns, or export only the columns you need")


def _sniff_delimited(path: Path, label: str, encoding: str, text: str) -> FileSample:
    lines = _split_lines(text)
    delimiter = _choose_delimiter(lines)
    if delimiter is None:
        raise ImportFormatError(f"{label}: not a table: found no delimiter (comma, tab, semicolon, "
                                "pipe or blanks) that splits the lines into columns")
    table = [_fields(line, delimiter) for line in lines]
    titles = _title_rows(table)
    skip = 0
    if titles:  # lines to skip in the file, blank ones included
        physical = [i for i, line in enumerate(text.splitlines()) if line.strip()]
        skip = physical[titles]
        table = table[titles:]
    has_header = _detect_header(table[0], table[1:])
    columns, rows = _frame(has_header, table, label)
    return FileSample(path, "csv", encoding, delimiter, has_header, columns, rows, skip_rows=skip)


def _sniff_jsonl(path: Path, label: str, encoding: str, text: str) -> FileSample:
    import json

    records = []
    for line in _split_lines(text):
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: nested too deep for Python's parser
            continue  # a malformed line is the loader's business: it becomes a rejected row
        if isinstance(value, dict):
            records.append(value)
    if not records:
        raise ImportFormatError(f"{label}: not JSON lines: no line holds a JSON object")
    columns: list[str] = list(dict.fromkeys(k for record in records for k in record))
    check_width(len(columns), label)
    rows = pd.DataFrame(
        [[None if r.get(c) is None else _json_text(r[c]) for c in columns] for r in records],
        columns=columns, dtype="object",
    )
    return FileSample(path, "jsonl", encoding, None, True, columns, rows)


def _json_text(value: object) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _sniff_parquet(path: Path, label: str) -> FileSample:
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        rel = con.execute("select * from read_parquet(?) limit ?", [str(path), SAMPLE_ROWS])
        columns = _unique_names([d[0] for d in rel.description])
        check_width(len(columns), label)
        data = rel.fetchall()
    except duckdb.Error as exc:
        raise ImportFormatError(f"{label}: cannot read this Parquet file ({_first_line(exc)}); "
                                "export it again") from exc
    finally:
        con.close()
    rows = pd.DataFrame([[cell_text(v) for v in r] for r in data], columns=columns, dtype="object")
    return FileSample(path, "parquet", None, None, True, columns, rows, complete=len(rows) < SAMPLE_ROWS)


def _sniff_xlsx(path: Path, label: str) -> FileSample:
    table, physical = [], []
    for number, row in enumerate(iter_xlsx_rows(path, label)):
        if any(c not in (None, "") for c in row):
            table.append(["" if c is None else c for c in row])
            physical.append(number)
        if len(table) > SAMPLE_ROWS + MAX_TITLE_ROWS:
            break
    if not table:
        raise ImportFormatError(f"{label}: the workbook's first sheet is empty")
    titles = _title_rows(table)
    skip = physical[titles] if titles else 0
    table = table[titles:][: SAMPLE_ROWS + 1]
    has_header = _detect_header(table[0], table[1:])
    columns, rows = _frame(has_header, table, label)
    return FileSample(path, "xlsx", None, None, has_header, columns, rows, complete=len(rows) < SAMPLE_ROWS,
                      skip_rows=skip)


def max_import_bytes() -> int:
    import os

    try:
        return int(float(os.environ.get("POND_MAX_IMPORT_MB", DEFAULT_MAX_IMPORT_MB)) * 2**20)
    except ValueError:
        return DEFAULT_MAX_IMPORT_MB * 2**20


def check_size(path: Path, label: str) -> None:
    """Refuse a file over the import limit, saying the limit and what to do."""
    size, limit = path.stat().st_size, max_import_bytes()
    if size > limit:
        raise ImportFormatError(f"{label}: the file is {size / 2**20:,.0f} MB and imports are limited to "
                                f"{limit / 2**20:,.0f} MB; split the export (e.g. by month), or raise "
                                "POND_MAX_IMPORT_MB")


def check_xlsx_unpacked(path: Path, label: str) -> None:
    """Refuse a workbook that would unpack to far more than it weighs before opening it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportFormatError(f"{label}: not a readable .xlsx workbook ({exc}); "
                                "open it in Excel and save it again") from exc
    unpacked = sum(m.file_size for m in members)
    packed = max(sum(m.compress_size for m in members), 1)
    if unpacked > MAX_XLSX_UNPACKED or (unpacked > 50 * 2**20 and unpacked / packed > MAX_XLSX_RATIO):
        raise ImportFormatError(f"{label}: this workbook would unpack to {unpacked / 2**20:,.0f} MB from "
                                f"{packed / 2**20:,.1f} MB, which is not what a spreadsheet looks like; refused. "
                                "Export the sheet as CSV instead")


def iter_xlsx_rows(path: Path, label: str):
    """Rows of the first worksheet as lists of text cells (dates as ISO text)."""
    import openpyxl

    check_xlsx_unpacked(path, label)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFormatError(f"{label}: not a readable .xlsx workbook ({exc}); "
                                "open it in Excel and save it again") from exc
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield [cell_text(c) for c in row]
    except (ParseError, zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError) as exc:
        # a sheet cut short (a broken download or copy) fails half-way through its XML
        raise ImportFormatError(f"{label}: the workbook's first sheet is damaged ({_first_line(exc)[:120]}); "
                                "open it in Excel and save it again, or export it as CSV") from exc
    finally:
        book.close()


def cell_text(value: object) -> str | None:
    """A cell as text: whole floats without ``.0``, dates and times as ISO text."""
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
