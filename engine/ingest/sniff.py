"""Look at the start of a file and tell what it is: kind, text encoding, delimiter and header.

Nothing here touches the warehouse; the answer is a :class:`FileSample` that the format detector
and the loader use, and that the Upload page shows as a preview.
"""

from __future__ import annotations

import codecs
import csv
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

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
    if b"\x00" in head[:8192] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFormatError(f"{label}: this is a binary file, not a table; export it as CSV, "
                                "Excel .xlsx, Parquet or JSON lines")
    encoding, text = _decode_sample(head, label, complete=len(head) < SAMPLE_BYTES)
    if text.lstrip().startswith("{"):
        sample = _sniff_jsonl(path, label, encoding, text)
    else:
        sample = _sniff_delimited(path, label, encoding, text)
    sample.complete = len(head) < SAMPLE_BYTES and len(sample.rows) < SAMPLE_ROWS
    return sample


def _decode_sample(head: bytes, label: str, *, complete: bool) -> tuple[str, str]:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFormatError(f"{label}: the file is UTF-16 text; save it as UTF-8 (or GB18030) CSV")
    if not complete:  # don't judge an encoding by a character cut in half at the sample's end
        head = head[: head.rfind(b"\n") + 1] or head
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", head[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    for encoding in ("utf-8", "gb18030"):
        try:
            return encoding, head.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFormatError(f"{label}: the text is neither UTF-8 nor GB18030/GBK; save it as UTF-8")


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
    return next(csv.reader([line], delimiter=delimiter))


def _choose_delimiter(lines: list[str]) -> str | None:
    best, best_score = None, (0, 0)
    for delimiter in (*DELIMITERS, "whitespace"):
        counts = [len(_fields(line, delimiter)) for line in lines]
        width = max(set(counts), key=counts.count)
        if width < 2:
            continue
        agree = counts.count(width)
        score = (agree, width if delimiter != "whitespace" else 0)
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


def _frame(header: bool, table: list[list[str]]) -> tuple[list[str], pd.DataFrame]:
    width = max((len(r) for r in table), default=0)
    if header:
        columns = _unique_names(table[0] + [""] * (width - len(table[0])))
        body = table[1:]
    else:
        columns = [f"column_{i + 1}" for i in range(width)]
        body = table
    body = [r + [None] * (width - len(r)) for r in body[:SAMPLE_ROWS]]
    return columns, pd.DataFrame(body, columns=columns, dtype="object")


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
    columns, rows = _frame(has_header, table)
    return FileSample(path, "csv", encoding, delimiter, has_header, columns, rows, skip_rows=skip)


def _sniff_jsonl(path: Path, label: str, encoding: str, text: str) -> FileSample:
    import json

    records = []
    for line in _split_lines(text):
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a malformed line is the loader's business: it becomes a rejected row
        if isinstance(value, dict):
            records.append(value)
    if not records:
        raise ImportFormatError(f"{label}: not JSON lines: no line holds a JSON object")
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
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
    columns, rows = _frame(has_header, table)
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
