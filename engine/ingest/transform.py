"""Turn a file's text cells into canonical, typed event rows with a reject reason per row.

The SQL is assembled here because its shape follows the mapping; it only ever names our own
staged columns (``c0..cN``) and binds every value that came from a user (patterns, zone, key,
vocabulary) as a parameter.
"""

from __future__ import annotations

import duckdb

from engine.ingest.formats import ZONED_PATTERN, ImportPlan
from engine.ingest.load import Source, check_rows, raw_cells_json
from engine.ingest.personal import PERSONAL_VALUE_MACROS, person_sql
from engine.ingest.vocabulary import FLAG_FALSE, FLAG_TRUE
from engine.store.warehouse import load_query

_MACROS = (
    # only short values can be a null token, so most values skip lower(); a null token, trimmed or
    # not, starts with a space, 'n', 'N', '-' or a backslash (or is empty), which most ids do not
    r"""create or replace temp macro pond_text(x) as
        case when length(x) <= 6 and strpos(' nN-\', left(x, 1)) > 0
                  and lower(trim(x)) in ('', 'null', 'nan', 'none', 'n/a', '\n', '-')
             then null else trim(x) end""",
    # money as operators' exports write it, currency already stripped: 1,299.00 and 1.299,00 (and 12,50)
    r"""create or replace temp macro pond_money(x) as
        case when regexp_full_match(x, '-?\d{1,3}(\.\d{3})+(,\d+)?|-?\d+,\d{1,2}')
             then try_cast(replace(replace(x, '.', ''), ',', '.') as double)
             else try_cast(replace(x, ',', '') as double) end""",
    # an id spelled as an integral float ("17084.0": a numeric id column typed as a double in Parquet,
    # Excel or a pandas export) is the integer's text, so that one customer is one user in every export;
    # the cheap test for a dot keeps the regex off most ids. Other text ids keep their spelling ("00001").
    r"""create or replace temp macro pond_id(x) as
        case when contains(x, '.') and regexp_full_match(x, '-?(0|[1-9][0-9]*)\.0+')
             then split_part(x, '.', 1) else x end""",
    # a number from text pond_text has already cleaned (every caller passes an s_ column): cleaning
    # it again cost a third of the checking pass. The currency-stripping regex runs only when a
    # plain cast fails (infinite values pass here and are rejected with a reason by the validation step)
    r"""create or replace temp macro pond_number(x) as
        coalesce(try_cast(x as double), pond_money(regexp_replace(x, '[¥$€£\s]|元|RMB|CNY|EUR|USD', '', 'g')))""",
)


class _Params:
    """Collects named parameters so that each bound value appears once in the SQL text."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def bind(self, name: str, value: object) -> str:
        self.values[name] = value
        return f"${name}"


#: id fields whose integral-float spellings are normalised (pond_id)
ID_FIELDS = ("user_id", "item_id", "order_id", "referrer_id", "content_id", "campaign_id")


def _text(plan: ImportPlan, name: str) -> str:
    columns = [f"pond_text(c{plan.columns.index(c)})" for c in plan.source(name)]
    if not columns:
        return "cast(null as varchar)"
    return columns[0] if len(columns) == 1 else f"coalesce({', '.join(columns)})"


def _time(plan: ImportPlan, raw: str, p: _Params, *, conversion: bool = False) -> str:
    """SQL for a UTC timestamp from text ``raw``: the row's time, or the conversion time."""
    kind = plan.conversion_time_kind if conversion else plan.time_kind
    patterns = plan.conversion_time_patterns if conversion else plan.time_patterns
    prefix = "conversion_" if conversion else ""
    number = f"pond_number({raw})"
    if kind == "unix_s":
        return f"case when abs({number}) < 1e11 then to_timestamp({number}) at time zone 'UTC' end"
    if kind == "unix_ms":
        return (f"case when abs({number}) < 1e14 then to_timestamp({number} / 1000) "
                "at time zone 'UTC' end")
    if kind == "excel_serial":  # days since 1899-12-30, in the zone of the file's naive times
        local = (f"case when {number} between 0 and 2958465 then timestamp '1899-12-30' "
                 f"+ to_microseconds(cast(round({number} * 86400000000) as bigint)) end")
        if plan.timezone and plan.timezone != "UTC":
            local = f"timezone({p.bind(prefix + 'serial_tz', plan.timezone)}, {local}) at time zone 'UTC'"
        return local
    zoned = [f for f in patterns if "%z" in f]
    utc_text = [f for f in patterns if "%z" not in f and ZONED_PATTERN.search(f)]
    naive = [f for f in patterns if not ZONED_PATTERN.search(f)]
    parts = []
    if zoned:
        parts.append(f"try_strptime({raw}, {p.bind(prefix + 'zoned', zoned)}) at time zone 'UTC'")
    if utc_text:
        parts.append(f"try_strptime({raw}, {p.bind(prefix + 'utc_text', utc_text)})")
    if naive:
        local = f"try_strptime({raw}, {p.bind(prefix + 'naive', naive)})"
        if plan.timezone and plan.timezone != "UTC":
            local = f"timezone({p.bind('tz', plan.timezone)}, {local}) at time zone 'UTC'"
        parts.append(local)
    if not parts:
        return "cast(null as timestamp)"
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def _local_time(plan: ImportPlan, utc: str, p: _Params) -> str:
    """SQL for a UTC time as the file wrote it, in the zone of its naive times (for placeholder checks)."""
    if not plan.timezone or plan.timezone == "UTC" or plan.time_kind not in ("text", "excel_serial"):
        return utc
    return f"timezone({p.bind('tz', plan.timezone)}, cast({utc} as timestamptz))"


def _conversion_slots(plan: ImportPlan, p: _Params) -> dict[str, str]:
    """Template slots of the conversion flag: whether a row converted (null for an unreadable flag),
    when, and the conversion event's type and id."""
    if not plan.source("converted"):
        return {"converted": "false", "conversion_time": "cast(null as timestamp)",
                "conversion_type": "cast(null as varchar)", "conversion_event_id": "cast(null as uhugeint)"}
    flag = "lower(s_converted)"
    false, true = p.bind("flag_false", list(FLAG_FALSE)), p.bind("flag_true", list(FLAG_TRUE))
    converted = (f"case when s_converted is null or list_contains({false}, {flag}) then false "
                 f"when list_contains({true}, {flag}) then true end")
    when = _time(plan, "s_conversion_time", p, conversion=True) if plan.source("conversion_time") else "t_event_time"
    kind = p.bind("conversion_type", plan.conversion_event_type or "purchase")
    event_id = ("md5_number('conversion|' || s_event_id)" if plan.source("event_id") else
                f"md5_number(concat_ws('|', t_user_id, {kind}, cast(epoch_us(t_conversion_time) as varchar), "
                "coalesce(s_item_id, ''), coalesce(s_order_id, ''), coalesce(s_content_id, ''), "
                "coalesce(s_campaign_id, ''), coalesce(s_session_id, ''), '', ''))")
    return {"converted": converted, "conversion_time": when, "conversion_type": kind,
            "conversion_event_id": event_id}


def build_event_rows(con: duckdb.DuckDBPyConnection, plan: ImportPlan) -> None:
    """Create the view ``canon_events``: the good rows of ``canon`` as events, plus one conversion
    event per row whose conversion flag is set."""
    if not plan.source("converted"):
        con.execute("create or replace temp view canon_events as select * from canon where reason is null")
        return
    con.execute(
        """create or replace temp view canon_events as
        select * from canon where reason is null
        union all
        select * replace (conversion_event_id as event_id, conversion_time as event_time,
                          conversion_type as event_type, cast(null as double) as quantity,
                          cast(null as double) as amount)
        from canon where reason is null and converted"""
    )


def _event_type(plan: ImportPlan, p: _Params) -> tuple[str, str]:
    """SQL for the canonical event type, and the join that supplies its vocabulary."""
    if plan.event_type_rule == "constant":
        return p.bind("event_type", plan.event_type_constant), ""
    if plan.event_type_rule == "invoice":
        return ("case when upper(s_order_id) like 'C%' then 'refund' else 'purchase' end", "")
    return ("coalesce(v.canonical, lower(s_event_type))",
            "left join vocabulary as v on v.raw = lower(s_event_type)")


def _materialise(con: duckdb.DuckDBPyConnection, name: str, select: str, params: dict[str, object],
                 source: Source) -> None:
    """Temp table ``<name>_rows`` from ``select``, and the view ``name`` over it with ``_row``."""
    con.execute(f"create or replace temp table {name}_rows as {select}", {**params, **source.params})
    if not source.numbered:  # a text file read straight from disk: its rows are counted only now
        check_rows(con.execute(f"select count(*) from {name}_rows").fetchone()[0], source.label)
    row = "" if source.numbered else f", {_row_number(con, name + '_rows')} as _row"
    con.execute(f"create or replace temp view {name} as select *{row} from {name}_rows")


def _row_number(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """SQL for the 1-based number of each row of ``table`` in the order it was inserted.

    A CSV read straight from the file is numbered by the order the table keeps its rows in, which is
    the file's order (DuckDB preserves insertion order): the same numbers as ``row_number() over ()``
    on the read, without a pass of their own. Row ids inside a transaction start at a large offset
    and run on consecutively; should they ever not, the rows are ranked by row id instead.
    """
    first, last, count = con.execute(f"select min(rowid), max(rowid), count(*) from {table}").fetchone()
    if count and last - first + 1 != count:
        return "row_number() over (order by rowid)"
    return f"rowid - {int(first or 0)} + 1"


def _source_slots(plan: ImportPlan, source: Source) -> dict[str, str]:
    """The template slots every check fills the same way: the relation read, its text cells (kept for
    the reject file) and row number when it has one, the cells packed as JSON, and ``_row`` passed on."""
    cells = [f"c{i}" for i in range(len(plan.columns))]
    return {"relation": source.relation, "source": ", ".join(cells + (["_row"] if source.numbered else [])),
            "raw": raw_cells_json(len(plan.columns)), "row": ", _row" if source.numbered else ""}


def build_canonical(con: duckdb.DuckDBPyConnection, plan: ImportPlan, source: Source, *,
                    key: str | None) -> None:
    """Create the view ``canon``: canonical columns, ``reason`` (null = good row), ``raw`` and ``_row``.

    ``raw`` packs the original cells of rejected rows only.
    """
    for macro in (*_MACROS, *PERSONAL_VALUE_MACROS):
        con.execute(macro)
    con.execute("create or replace temp table vocabulary (raw varchar primary key, canonical varchar)")
    if plan.vocabulary:
        con.executemany("insert into vocabulary values (?, ?)",
                        [[k.lower(), v] for k, v in plan.vocabulary.items()])
    p = _Params()
    text_fields = ("user_id", "event_type", "item_id", "category", "content_id", "campaign_id",
                   "channel", "community_id", "referrer_id", "session_id", "order_id", "event_id",
                   "item_name", "brand", "gender", "age_band", "city", "converted", "conversion_time")
    slots = _source_slots(plan, source)
    columns = ",\n".join(
        [f"{_text(plan, f)} as s_{f}" for f in text_fields]
        + [f"{_text(plan, f)} as s_{f}" for f in ("event_time", "quantity", "amount", "price")]
        + [slots.pop("source")]
    )
    # ids are normalised over the cleaned column, in a step of their own: inside one expression the
    # macro would repeat pond_text for each use of its argument (2.3 s of CPU per 2M rows, measured)
    ids = [f"pond_id(s_{f}) as s_{f}" for f in ID_FIELDS if plan.source(f)]
    identified = f"select * replace ({', '.join(ids)}) from source" if ids else "select * from source"
    event_type, vocabulary_join = _event_type(plan, p)
    person = {}
    for name in ("user_id", "referrer_id"):  # personal ids are decided per value, on every row
        person[name] = f"s_{name}"
        if key is not None and not plan.keep_personal:
            person[name] = person_sql(f"s_{name}", p.bind("key", key), whole_column=name in plan.pseudonymise)
    refund_sign = "case when t_event_type = 'refund' then abs({x}) else {x} end"
    has_amount = bool(plan.source("amount"))
    amount = (refund_sign.format(x="pond_number(s_amount)") if has_amount else
              "case when t_event_type in ('purchase', 'refund') "
              "then round(abs(pond_number(s_price) * coalesce(t_quantity, 1)), 6) end")
    # cancelled invoices carry negative quantities; any other negative line is an error
    quantity = ("case when upper(s_order_id) like 'C%' then abs(pond_number(s_quantity)) "
                "else pond_number(s_quantity) end" if plan.event_type_rule == "invoice"
                else "pond_number(s_quantity)")
    sql = load_query("ingest_canonical").format(
        source=columns,
        identified=identified,
        **slots,
        user_id=person["user_id"],
        referrer_id=person["referrer_id"],
        event_time=_time(plan, "s_event_time", p),
        local_time=_local_time(plan, "t_event_time", p),
        event_type=event_type,
        vocabulary_join=vocabulary_join,
        quantity=quantity,
        amount=amount,
        event_id=("md5_number('id|' || s_event_id)" if plan.source("event_id") else "null"),
        **_conversion_slots(plan, p),
    )
    _materialise(con, "canon", sql, p.values, source)
    _reject_negative_purchases(con, plan)


#: canonical columns of ``canon_rows`` that hold a mapped column's value as read (cleaned, typed)
_KEPT_FIELDS = ("event_time", "user_id", "event_type", "item_id", "category", "content_id", "campaign_id",
                "channel", "community_id", "referrer_id", "session_id", "order_id", "quantity", "amount",
                "price", "item_name", "brand", "gender", "age_band", "city")


def _reject_negative_purchases(con: duckdb.DuckDBPyConnection, plan: ImportPlan) -> None:
    """Reject a purchase with a negative amount, which would lower GMV. A refund says so in its event
    type (or, in invoice lines, with a ``C`` invoice: those become refunds with positive amounts);
    negative quantities outside refunds are rejected the same way. The reject keeps the row's mapped
    cells as they were read."""
    by_column = {}
    for name in _KEPT_FIELDS:
        for column in plan.source(name)[:1]:
            by_column.setdefault(plan.columns.index(column), name)
    cells = ", ".join(f"cast({by_column[i]} as varchar)" if i in by_column else "null"
                      for i in range(len(plan.columns)))
    con.execute(f"update canon_rows set reason = 'negative amount ' || cast(amount as varchar) || "
                f"' on a line that is not a refund', raw = cast(to_json([{cells}]) as varchar) "
                "where reason is null and event_type = 'purchase' and amount < 0")


def sample_time_range(plan: ImportPlan, values: list[str | None], *, complete: bool) -> dict | None:
    """First and last time of sample values, read exactly as the import reads them (for the preview)."""
    if not plan.source("event_time"):
        return None
    values = [v for v in values if v is not None and str(v).strip()]
    if not values:
        return None
    con = duckdb.connect()
    try:
        con.execute("set TimeZone = 'UTC'")
        for macro in _MACROS:
            con.execute(macro)
        p = _Params()
        expr = _time(plan, "s_event_time", p)
        first, last, parsed = con.execute(
            f"select min(t), max(t), count(t) from (select {expr} as t from "
            f"(select pond_text(v) as s_event_time from unnest($values) as u(v)))",
            {**p.values, "values": [str(v) for v in values]},
        ).fetchone()
    finally:
        con.close()
    return {"first": first.isoformat(sep=" ") if first else None, "last": last.isoformat(sep=" ") if last else None,
            "parsed": parsed, "total": len(values), "complete": complete}


def build_assignments(con: duckdb.DuckDBPyConnection, plan: ImportPlan, source: Source) -> None:
    """Create the view ``canon_assignments`` (user, experiment, variant, assigned_at, reason, raw, _row)."""
    for macro in _MACROS:
        con.execute(macro)
    p = _Params()
    has_time = bool(plan.source("event_time"))
    sql = load_query("ingest_assignments").format(
        user_id=_text(plan, "user_id"), experiment=_text(plan, "experiment"), variant=_text(plan, "variant"),
        time_text=_text(plan, "event_time"),
        assigned_at=_time(plan, "s_time", p) if has_time else "cast(null as timestamp)",
        **_source_slots(plan, source),
    )
    _materialise(con, "canon_assignments", sql, p.values, source)
