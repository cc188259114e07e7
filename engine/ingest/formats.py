"""Known export formats and the import plan detected for a file.

A plan is plain data (JSON-serialisable) so that the Upload page can show it, let the user edit
the column mapping, and hand it back to :func:`engine.ingest.import_file`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import duckdb
import pandas as pd

from engine.errors import ImportFormatError
from engine.ingest.sniff import FileSample
from engine.ingest.vocabulary import (
    DEVICE_USER_HEADERS,
    EVENT_VOCABULARY,
    FIELDS,
    FLAG_FALSE,
    FLAG_TRUE,
    PERSONAL_HEADER_WORDS,
    PERSONAL_VALUE,
    REQUIRED_FIELDS,
    field_for_header,
    guess_field_for_header,
    is_contact_header,
    is_conversion_flag_header,
    normalise_header,
)

#: strptime patterns tried on text time columns; the one that parses most sample values wins.
#: Patterns whose text carries the zone (``%z``, a literal ``Z`` or ``UTC``) are not shifted by --tz.
TIME_PATTERNS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M", "%Y-%m-%d",
    "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ",
    "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y",
    "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y",
    "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日", "%Y%m%d%H%M%S", "%Y%m%d",
    "%Y年%m月%d日 %H时%M分%S秒", "%Y年%m月%d日 %H时%M分",
    "%d-%b-%Y %H:%M:%S", "%d-%b-%Y %H:%M", "%d-%b-%Y", "%d %b %Y", "%b %d, %Y %H:%M", "%b %d, %Y", "%B %d, %Y",
)
#: Excel stores dates as days since 1899-12-30; a text export of a date cell can carry that number.
#: Only values between these (1954 and 2119) count as serial dates.
EXCEL_SERIAL_RANGE = (20_000, 80_000)
ZONED_PATTERN = re.compile(r"%z|Z$|UTC$")


@dataclass
class ImportPlan:
    """How to read one file into events; detected by :func:`detect_plan`, editable by the user.

    ``mapping`` maps a canonical field to one source column, or to several that are tried in
    order (the first non-empty value wins).
    """

    format: str
    kind: str
    encoding: str | None
    delimiter: str | None
    has_header: bool
    columns: list[str]
    mapping: dict[str, list[str]] = field(default_factory=dict)
    event_type_rule: str = "column"  # column | constant | invoice
    event_type_constant: str | None = None
    vocabulary: dict[str, str] = field(default_factory=lambda: dict(EVENT_VOCABULARY))
    time_kind: str = "text"  # text | unix_s | unix_ms | excel_serial
    time_patterns: list[str] = field(default_factory=list)
    #: a set conversion flag (field ``converted``) adds this event at ``conversion_time`` (else the row's time)
    conversion_event_type: str = "purchase"
    conversion_time_kind: str = "text"
    conversion_time_patterns: list[str] = field(default_factory=list)
    timezone: str | None = None  # zone of naive source times; None means UTC
    pseudonymise: list[str] = field(default_factory=list)
    #: the operator chose to keep personal ids in clear: no value is pseudonymised, not even one by one
    keep_personal: bool = False
    notes: list[str] = field(default_factory=list)
    #: the preview's times: first and last (ISO, UTC), how many sample values parsed, of how many,
    #: and whether the sample is the whole file; filled by :func:`engine.ingest.inspect_file`
    time_range: dict | None = None
    #: the upload whose remembered mapping this plan applies (see engine.ingest.remembered)
    remembered_from: int | None = None
    #: lines (or sheet rows) above the header: a title or a merged group header
    skip_rows: int = 0

    @property
    def time_range_text(self) -> str | None:
        """One line for the preview: the span of the file's times, so that a wrong century shows at once."""
        r = self.time_range
        if not r:
            return None
        where = "the file's" if r["complete"] else f"the first {r['total']:,} rows'"
        if not r["parsed"]:
            return f"Dates: none of {where} times can be read; check the time column and its format"
        first, last = r["first"][:16], r["last"][:16]
        span = f"are all {first}" if first == last else f"run from {first} to {last}"
        unread = "" if r["parsed"] == r["total"] else f" ({r['total'] - r['parsed']:,} cannot be read)"
        return f"Dates: {where} times {span} UTC{unread}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ImportPlan:
        return cls(**data)

    def source(self, name: str) -> list[str]:
        return self.mapping.get(name, [])

    def set_column(self, name: str, column: str | None) -> None:
        """Map ``name`` to one column, or unmap it with None (used by the mapping editor)."""
        if column:
            if column not in self.columns:
                raise ImportFormatError(f"the file has no column {column!r} to map to {name}")
            self.mapping[name] = [column]
        else:
            self.mapping.pop(name, None)
        if name == "event_time":  # the import detects the new column's time format
            self.time_kind, self.time_patterns = "text", []
        if name == "conversion_time":
            self.conversion_time_kind, self.conversion_time_patterns = "text", []

    def set_event_type(self, event_type: str | None) -> None:
        """Import every row as ``event_type`` (None: read the event type column); the preview's note
        on the event type then says what was chosen."""
        if event_type:
            self.event_type_rule, self.event_type_constant = "constant", event_type
        elif self.source("event_type"):
            self.event_type_rule, self.event_type_constant = "column", None
        self.notes = [n for n in self.notes if not n.startswith(("No event type column", "Every row is imported as"))]
        if self.event_type_rule == "constant" and self.event_type_constant and not self.is_assignments:
            self.notes.insert(0, f"Every row is imported as {self.event_type_constant} (chosen for this file)")

    @property
    def date_order(self) -> str | None:
        """``month`` or ``day`` when the time column is read as M/D/Y or D/M/Y, else None."""
        first = next((p for p in self.time_patterns if p.startswith(("%m/%d", "%d/%m"))), None)
        return None if first is None else "month" if first.startswith("%m/%d") else "day"

    def set_date_order(self, order: str) -> None:
        """Read slash dates as month/day/year (``month``) or day/month/year (``day``)."""
        if order not in ("month", "day"):
            raise ImportFormatError(f"date order {order!r}: use month (01/02/2024 is 2 January) or day "
                                    "(1 February)")
        if self.date_order in (None, order):
            return
        old, new = ("%d/%m", "%m/%d") if order == "month" else ("%m/%d", "%d/%m")
        swapped = [new + p[len(old):] if p.startswith(old) else p for p in self.time_patterns]
        self.time_patterns = list(dict.fromkeys(swapped))
        self.notes = [n for n in self.notes if not n.startswith("Dates read as")]
        self.notes.append(f"Dates read as {'month/day' if order == 'month' else 'day/month'}/year (chosen)")

    @property
    def is_assignments(self) -> bool:
        """An experiment assignment file (user, experiment, variant) rather than events."""
        return self.format == "experiment_assignments"

    def check(self, label: str) -> None:
        """Refuse a plan that cannot produce events, saying which mapping to fix."""
        unknown = set(self.mapping) - set(FIELDS)
        if unknown:
            raise ImportFormatError(f"{label}: unknown field(s) in the mapping: {sorted(unknown)}")
        for name, sources in self.mapping.items():
            missing = [c for c in sources if c not in self.columns]
            if missing:
                raise ImportFormatError(f"{label}: {name} is mapped to {missing}, not a column of the "
                                        f"file (columns: {', '.join(self.columns)})")
        if self.is_assignments:
            for name in ("user_id", "experiment", "variant"):
                if not self.source(name):
                    raise ImportFormatError(f"{label}: an experiment assignment file needs a {name} column "
                                            f"(columns: {', '.join(self.columns)})")
            return
        for name in REQUIRED_FIELDS:
            if not self.source(name):
                what = "user" if name == "user_id" else "time"
                raise ImportFormatError(
                    f"{label}: no {what} column found among: {', '.join(self.columns)}; map one with "
                    f"--map {name}=COLUMN (on the Upload page: the {name} picker) or rename its header, "
                    f"e.g. to {name}"
                )
        if self.event_type_rule == "column" and not self.source("event_type"):
            raise ImportFormatError(
                f"{label}: no event type column; map one with --map event_type=COLUMN, or import every row "
                "as one event type with --event-type purchase (on the Upload page: the event type pickers)"
            )
        if self.event_type_rule == "constant" and not self.event_type_constant:
            raise ImportFormatError(f"{label}: say which event type every row is, e.g. --event-type purchase")
        if self.event_type_rule == "invoice" and not self.source("order_id"):
            raise ImportFormatError(f"{label}: an invoice export needs its invoice column as order_id")


def _norm_columns(sample: FileSample) -> dict[str, str]:
    return {normalise_header(c): c for c in sample.columns}


def _values(sample: FileSample, column: str) -> pd.Series:
    return sample.rows[column].dropna().astype(str).str.strip().loc[lambda s: s != ""]


def _taobao(sample: FileSample) -> ImportPlan | None:
    if sample.has_header or len(sample.columns) != 5 or sample.rows.empty:
        return None
    behaviours = _values(sample, sample.columns[3]).str.lower()
    stamps = _values(sample, sample.columns[4])
    if not (behaviours.isin(["pv", "buy", "cart", "fav"]).mean() > 0.95
            and stamps.str.fullmatch(r"\d{9,10}").mean() > 0.95):
        return None
    c = sample.columns
    return _plan(sample, "taobao_userbehavior",
                 {"user_id": [c[0]], "item_id": [c[1]], "category": [c[2]],
                  "event_type": [c[3]], "event_time": [c[4]]},
                 time_kind="unix_s",
                 notes=["Taobao/Tianchi UserBehavior: pv→view, buy→purchase; unix seconds"])


def _by_headers(sample: FileSample, required: dict[str, tuple[str, ...]]) -> dict[str, str] | None:
    norm = _norm_columns(sample)
    found = {}
    for name, options in required.items():
        hit = next((norm[o] for o in options if o in norm), None)
        if hit is None:
            return None
        found[name] = hit
    return found


def _rees46(sample: FileSample) -> ImportPlan | None:
    cols = _by_headers(sample, {"event_time": ("eventtime",), "event_type": ("eventtype",),
                                "item_id": ("productid",), "user_id": ("userid",),
                                "session_id": ("usersession",)})
    if cols is None:
        return None
    norm = _norm_columns(sample)
    mapping = {k: [v] for k, v in cols.items()}
    mapping["category"] = [norm[c] for c in ("categorycode", "categoryid") if c in norm]
    for name, header in (("price", "price"), ("brand", "brand")):
        if header in norm:
            mapping[name] = [norm[header]]
    return _plan(sample, "rees46", mapping,
                 notes=["REES46 e-commerce events: times in UTC; amount = price on purchases"])


def _retailrocket(sample: FileSample) -> ImportPlan | None:
    cols = _by_headers(sample, {"event_time": ("timestamp",), "user_id": ("visitorid",),
                                "event_type": ("event",), "item_id": ("itemid",)})
    if cols is None:
        return None
    mapping = {k: [v] for k, v in cols.items()}
    norm = _norm_columns(sample)
    if "transactionid" in norm:
        mapping["order_id"] = [norm["transactionid"]]
    return _plan(sample, "retailrocket", mapping, time_kind="unix_ms",
                 notes=["RetailRocket events: addtocart→cart, transaction→purchase; unix milliseconds"])


def _invoice(sample: FileSample) -> ImportPlan | None:
    cols = _by_headers(sample, {
        "order_id": ("invoiceno", "invoice", "invoicenumber"),
        "item_id": ("stockcode", "sku", "itemcode"),
        "quantity": ("quantity", "qty"),
        "event_time": ("invoicedate", "date"),
        "price": ("unitprice", "price"),
        "user_id": ("customerid", "customer"),
    })
    if cols is None:
        return None
    mapping = {k: [v] for k, v in cols.items()}
    norm = _norm_columns(sample)
    if "description" in norm:
        mapping["item_name"] = [norm["description"]]
    return _plan(sample, "invoice_lines", mapping, event_type_rule="invoice",
                 notes=["Invoice lines: one purchase per line, amount = quantity × unit price; "
                        "invoices starting with C are cancellations and become refunds; "
                        "lines without a customer are rejected"])


def _assignments(sample: FileSample) -> ImportPlan | None:
    if not sample.has_header:
        return None
    mapping = {}
    for column in sample.columns:
        name = field_for_header(column)
        if name and name not in mapping:
            mapping[name] = [column]
    if not {"user_id", "experiment", "variant"} <= set(mapping) or "event_type" in mapping:
        return None
    keep = {k: v for k, v in mapping.items() if k in ("user_id", "experiment", "variant", "event_time")}
    return _plan(sample, "experiment_assignments", keep, event_type_rule="constant",
                 event_type_constant="assignment",
                 notes=["Experiment assignments: one row per user, experiment and variant; they feed the "
                        "Experiments page"])


def _generic(sample: FileSample) -> ImportPlan:
    mapping: dict[str, list[str]] = {}
    notes: list[str] = []
    if sample.has_header:
        for column in sample.columns:
            name = field_for_header(column)
            if name and name not in mapping:
                mapping[name] = [column]
        if "user_id" not in mapping:  # a phone, e-mail or WeChat column identifies the person
            contact = next((c for c in sample.columns if is_contact_header(c)), None)
            if contact:
                mapping["user_id"] = [contact]
        notes += _map_by_clues(sample, mapping)
    else:
        _map_headerless(sample, mapping)
    rule, constant, fmt = "column", None, "generic"
    if "event_type" not in mapping:
        rule = "constant"
        money = mapping.get("amount") or (mapping.get("price") if "order_id" in mapping else None)
        time_column = (mapping.get("event_time") or [""])[0]
        if money:
            constant, fmt = "purchase", "orders"
            notes.append(f"No event type column, but the rows carry money ({money[0]}): every row is imported "
                         "as a purchase (an order or payment log); map an event type column or pick another "
                         "type to change it")
        elif "click" in time_column.lower() or "converted" in mapping:
            constant = "click"
            notes.append(f"No event type column: every row is imported as a click (a click log: {time_column}); "
                         "pick another type to change it")
        else:
            constant = "view"
            notes.append("No event type column: every row is imported as a view; map an event type column or "
                         "pick another type to change it")
    if "converted" in mapping:
        when = mapping.get("conversion_time", mapping.get("event_time", ["the row's time"]))[0]
        notes.append(f"Conversion flag {mapping['converted'][0]}: each row where it is set also becomes a "
                     f"purchase at {when}")
    notes.append("Columns mapped by header names" if sample.has_header else "Columns mapped by values")
    return _plan(sample, fmt, mapping, event_type_rule=rule, event_type_constant=constant, notes=notes)


def _numeric_share(values: pd.Series) -> float:
    if values.empty:
        return 0.0
    cleaned = values.str.replace(r"[¥$€£,\s]|元|RMB", "", regex=True)
    return float(pd.to_numeric(cleaned, errors="coerce").notna().mean())


def _map_by_clues(sample: FileSample, mapping: dict[str, list[str]]) -> list[str]:
    """Map fields no header names outright from weaker clues (money and quantity words, ``*_time``,
    device and visitor ids, conversion flags); returns what was guessed, for the preview."""
    taken = {c for columns in mapping.values() for c in columns}
    guesses: dict[str, list[str]] = {}
    flag = None
    for column in sample.columns:
        if column in taken:
            continue
        values = _values(sample, column)
        if flag is None and is_conversion_flag_header(column) and (
                values.empty or values.str.lower().isin(FLAG_TRUE + FLAG_FALSE).mean() >= 0.5):
            flag = column
            continue
        name = guess_field_for_header(column)
        if name in ("amount", "quantity") and _numeric_share(values) < 0.9:
            continue
        if name:
            guesses.setdefault(name, []).append(column)
    notes = []
    if flag:
        mapping["converted"] = [flag]
        stem = re.sub(r"^(is|has)_?|ed$|ion$|是否", "", str(flag).strip().lower())[:5]
        times = guesses.get("event_time", [])
        own = next((c for c in times if stem and stem in c.lower()), None)
        if own:
            mapping["conversion_time"] = [own]
            times.remove(own)
    for name in ("user_id", "event_time", "amount", "quantity"):
        if name in mapping or not guesses.get(name):
            continue
        options = guesses[name]
        if name == "user_id":
            options = sorted(options, key=lambda c: DEVICE_USER_HEADERS.index(normalise_header(c)))
        mapping[name] = [options[0]]
        notes.append(f"{options[0]} taken as {name} (no column is named as one)")
    return notes


def _map_headerless(sample: FileSample, mapping: dict[str, list[str]]) -> None:
    """Guess a header-less file's columns from their values: event words, times, the rest ids."""
    for column in sample.columns:
        values = _values(sample, column)
        if values.empty:
            continue
        if "event_type" not in mapping and values.str.lower().isin(EVENT_VOCABULARY).mean() > 0.9:
            mapping["event_type"] = [column]
        elif "event_time" not in mapping and (
            values.str.fullmatch(r"\d{9,10}|\d{12,13}").mean() > 0.9
            or values.str.match(r"\d{4}[-/年]\d{1,2}").mean() > 0.9
        ):
            mapping["event_time"] = [column]
    ids = [c for c in sample.columns if c not in {v[0] for v in mapping.values()}]
    for name, column in zip(("user_id", "item_id"), ids, strict=False):
        mapping[name] = [column]


def _plan(sample: FileSample, fmt: str, mapping: dict[str, list[str]], **kwargs) -> ImportPlan:
    notes = kwargs.pop("notes", [])
    if sample.skip_rows:
        notes = [f"The header is on line {sample.skip_rows + 1}: the {sample.skip_rows} line(s) above it "
                 "(a title or a group header) are skipped", *notes]
    return ImportPlan(format=fmt, kind=sample.kind, encoding=sample.encoding,
                      delimiter=sample.delimiter, has_header=sample.has_header,
                      columns=list(sample.columns), mapping=mapping, skip_rows=sample.skip_rows,
                      notes=notes, **kwargs)


DETECTORS = {
    "taobao_userbehavior": _taobao,
    "rees46": _rees46,
    "retailrocket": _retailrocket,
    "invoice_lines": _invoice,
    "experiment_assignments": _assignments,
}
FORMAT_NAMES = (*DETECTORS, "orders", "generic")


def detect_plan(sample: FileSample, *, format: str = "auto", timezone: str | None = None,
                con: duckdb.DuckDBPyConnection | None = None) -> ImportPlan:
    """Detect the export format of a sampled file and build its import plan.

    Parameters
    ----------
    format
        ``auto`` or one of :data:`FORMAT_NAMES` to force a format.
    timezone
        IANA zone of naive source times (ignored for unix times and zoned text).
    """
    label = sample.path.name
    if format not in ("auto", *FORMAT_NAMES):
        raise ImportFormatError(f"unknown format {format!r}; choose auto or one of {', '.join(FORMAT_NAMES)}")
    plan = None
    if format == "auto":
        for detector in DETECTORS.values():
            plan = detector(sample)
            if plan is not None:
                break
    elif format in DETECTORS:
        plan = DETECTORS[format](sample)
        if plan is None:
            raise ImportFormatError(f"{label}: does not look like a {format} export "
                                    f"(columns: {', '.join(sample.columns)}); try --format auto")
    if plan is None:
        plan = _generic(sample)
        if format == "orders":
            plan.format, plan.event_type_rule, plan.event_type_constant = "orders", "constant", "purchase"
    plan.timezone = timezone
    _detect_time(plan, sample, con)
    _detect_personal(plan, sample)
    return plan


def _detect_time(plan: ImportPlan, sample: FileSample, con: duckdb.DuckDBPyConnection | None) -> None:
    if plan.source("conversion_time"):
        detect_conversion_time_format(plan, _values(sample, plan.source("conversion_time")[0]), con)
    if plan.time_kind != "text" or not plan.source("event_time"):
        return
    detect_time_format(plan, _values(sample, plan.source("event_time")[0]), con)


def detect_time_format(plan: ImportPlan, values: pd.Series, con: duckdb.DuckDBPyConnection | None = None
                       ) -> None:
    """Set the plan's time kind and patterns from sample values of its time column."""
    plan.time_kind, plan.time_patterns, note = time_format(values, con)
    if note:
        plan.notes.append(note)


def detect_conversion_time_format(plan: ImportPlan, values: pd.Series,
                                  con: duckdb.DuckDBPyConnection | None = None) -> None:
    """The same for the conversion time column."""
    plan.conversion_time_kind, plan.conversion_time_patterns, _ = time_format(values, con)


def time_format(values: pd.Series, con: duckdb.DuckDBPyConnection | None = None
                ) -> tuple[str, list[str], str | None]:
    """Time kind, strptime patterns (best first) and a note on an ambiguous day/month order."""
    values = values.dropna().astype(str).str.strip().loc[lambda s: s != ""]
    if values.empty:
        return "text", [], None
    if (values != "0").any():  # zero timestamps are placeholders, rejected as such; they say nothing of the kind
        values = values[values != "0"]
    if values.str.fullmatch(r"\d{9,10}(\.\d+)?").mean() > 0.9:
        return "unix_s", [], None
    if values.str.fullmatch(r"\d{12,13}").mean() > 0.9:
        return "unix_ms", [], None
    serial = pd.to_numeric(values.where(values.str.fullmatch(r"\d{5}(\.\d+)?")), errors="coerce")
    if serial.between(*EXCEL_SERIAL_RANGE).mean() > 0.9:
        return "excel_serial", [], "Times read as Excel serial dates (days since 1899-12-30)"
    own = con is None
    con = con or duckdb.connect()
    try:
        # strptime needs a constant pattern, so each pattern gets its own bound column
        counted = ", ".join("count(try_strptime(v, ?))" for _ in TIME_PATTERNS)
        row = con.execute(f"select {counted} from unnest(?) as t(v)",
                          [*TIME_PATTERNS, values.tolist()]).fetchone()
        counts = zip(TIME_PATTERNS, row, strict=True)
    finally:
        if own:
            con.close()
    hits = {p: n for p, n in counts if n}
    if not hits:
        return "text", [], None  # every row will be rejected with "unparseable time" and the value shown
    # Ambiguous day/month orders: keep the family that parses the most values, then the rest.
    best = max(hits, key=lambda p: (hits[p], -TIME_PATTERNS.index(p)))
    clash = "%d/%m" if best.startswith("%m/%d") else "%m/%d" if best.startswith("%d/%m") else None
    patterns = sorted((p for p in hits if not (clash and p.startswith(clash))),
                      key=lambda p: (-hits[p], TIME_PATTERNS.index(p)))
    note = None
    if best.startswith(("%m/%d", "%d/%m")):
        order, other, flag = (("month/day", "day/month", "day") if best.startswith("%m/%d")
                              else ("day/month", "month/day", "month"))
        also = max((n for p, n in hits.items() if clash and p.startswith(clash)), default=0)
        why = (f"{hits[best]} of {len(values)} sample values read so, {also} as {other}/year" if also < hits[best]
               else f"{hits[best]} of {len(values)} sample values read either way: month/day is assumed")
        note = (f"Dates read as {order}/year ({why}); switch with --date-order {flag} "
                "(Upload page: the date order picker)")
    return "text", patterns, note


def _detect_personal(plan: ImportPlan, sample: FileSample) -> None:
    for name in ("user_id", "referrer_id"):
        for column in plan.source(name):
            values = _values(sample, column)
            header_says = any(w in column.lower() for w in PERSONAL_HEADER_WORDS)
            values_say = not values.empty and values.str.match(PERSONAL_VALUE).mean() > 0.5
            if (header_says or values_say) and name not in plan.pseudonymise:
                plan.pseudonymise.append(name)
                plan.notes.append(f"{name} looks like personal data (phone, e-mail or WeChat id) and "
                                  "is pseudonymised with a keyed hash")
