"""Pseudonyms for personal identifiers, and their key; the key lives beside, never inside, the warehouse.

A person's id is replaced by ``p_`` and 20 hex digits of SHA-256 over the key and the id, so the same
phone number gets the same pseudonym in every import made with the same key. Which values are
replaced is decided per value, on every row (:data:`PERSONAL_VALUE_MACROS`): a column whose header or
sample says it holds personal ids is replaced as a whole, and in any other person column (user,
referrer) every value that is a phone number, an e-mail, a WeChat id or OpenID, or a Chinese
resident ID number is replaced wherever it stands.

The warehouse keeps a fingerprint of the key its pseudonyms were made with (``meta``, key
``pseudonym_key``), never the key: an import refuses a missing, empty or other key rather than give
the same people new pseudonyms (or, with an empty key, hashes anyone can reverse).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import duckdb

from engine.errors import PondError
from engine.store import backend

#: shortest key accepted: the generated one is 64 hex digits
MIN_KEY_LENGTH = 32
#: the meta key holding the fingerprint of the key the warehouse's pseudonyms were made with
FINGERPRINT = "pseudonym_key"
#: a pseudonym as Pond writes it
PSEUDONYM_PATTERN = "p_[0-9a-f]{20}"

# The per-value checks. Strict on purpose: a bare number of 10 digits or more is a phone number only
# when most of its column looks so (then the whole column is replaced); one by one it may be any id.
PERSONAL_VALUE_MACROS = (
    # a Chinese resident ID number: region, a real birth date, and the ISO 7064 MOD 11-2 check digit
    r"""create or replace temp macro pond_id_card(x) as
        length(x) = 18
        and regexp_full_match(x, '[1-9]\d{5}(18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{3}[\dXx]')
        and substr('10X98765432', cast(list_sum(list_transform(range(17), lambda i:
                coalesce(try_cast(substr(x, i + 1, 1) as integer), 0)
                * [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2][i + 1])) % 11 as integer) + 1, 1)
            = upper(right(x, 1))""",
    # the cheap length and character tests keep the regexes off most ids
    r"""create or replace temp macro pond_personal(x) as
        coalesce(length(x) >= 6 and (
            (contains(x, '@') and regexp_full_match(x, '[^@\s]+@[^@\s]+\.[A-Za-z]{2,}'))
            or (length(x) between 11 and 20 and (
                regexp_full_match(x, '(\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}')  -- mainland mobile
                or regexp_full_match(x, '\+\d[\d -]{7,}\d')                       -- +country number
                or pond_id_card(x)))
            or starts_with(x, 'wxid_') and regexp_full_match(x, 'wxid_[A-Za-z0-9_-]+')
            or length(x) = 28 and starts_with(x, 'o') and regexp_full_match(x, 'o[A-Za-z0-9_-]{27}')  -- OpenID
        ), false)""",
)


def pseudonym_sql(value: str, key: str) -> str:
    """SQL for the pseudonym of the SQL expression ``value`` under the bound key ``key`` (``$name``)."""
    return f"'p_' || left(sha256({key} || {value}), 20)"


def person_sql(value: str, key: str, *, whole_column: bool) -> str:
    """SQL for a person id as stored: its pseudonym when the column is personal as a whole or the value
    is personal on its own, else the value."""
    if whole_column:
        return pseudonym_sql(value, key)
    return f"case when pond_personal({value}) then {pseudonym_sql(value, key)} else {value} end"


#: the key file of the warehouse a scratch import works for (an import into ClickHouse), see :func:`key_for`
_SCRATCH_KEY: ContextVar[Path | None] = ContextVar("pond_scratch_key", default=None)


@contextmanager
def key_for(path: Path) -> Iterator[None]:
    """Within the block, :func:`key_path` is ``path`` (unless ``$POND_KEY_FILE`` says otherwise): a scratch
    warehouse in memory pseudonymises with the key of the warehouse it imports for."""
    token = _SCRATCH_KEY.set(path)
    try:
        yield
    finally:
        _SCRATCH_KEY.reset(token)


def key_path(con: duckdb.DuckDBPyConnection) -> Path:
    """``$POND_KEY_FILE`` if set, else ``<warehouse>.key`` next to the warehouse file (on ClickHouse, see
    :func:`engine.store.backend.key_file`)."""
    env = os.environ.get("POND_KEY_FILE")
    if env:
        return Path(env)
    if _SCRATCH_KEY.get() is not None:
        return _SCRATCH_KEY.get()
    if backend.dialect(con) == "clickhouse":
        return backend.key_file(con.url)
    db = con.execute("select path from duckdb_databases() where database_name = current_database()"
                     ).fetchone()[0]
    return Path(db).with_suffix(".key")


def fingerprint(key: str) -> str:
    """A one-way fingerprint of ``key`` (it tells keys apart without revealing them)."""
    return hashlib.sha256(b"pond pseudonym key fingerprint|" + key.encode("ascii")).hexdigest()[:16]


def stored_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The fingerprint of the key the warehouse's pseudonyms were made with; None when it holds none."""
    row = con.execute("select value from meta where key = ?", [FINGERPRINT]).fetchone()
    return row[0] if row else None


def read_key(path: Path) -> str | None:
    """The key in ``path``, None when there is no such file; refuses an empty or short one."""
    if not path.exists():
        return None
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise PondError(f"the pseudonym key {path} cannot be read ({exc}); restore it from a backup "
                        "(the .key file beside the backup's .duckdb file)") from exc
    if len(key) < MIN_KEY_LENGTH:
        what = "empty" if not key else f"only {len(key)} characters long"
        raise PondError(f"the pseudonym key {path} is {what}: pseudonyms made with it could be reversed by "
                        "anyone. Restore the key from a backup (the .key file beside the backup's .duckdb "
                        "file); if the warehouse holds no pseudonyms yet, delete the file and Pond makes a new key")
    return key


def write_key(path: Path, key: str) -> None:
    """Write ``key`` to ``path`` (readable by its owner only), replacing any file there in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def pseudonym_key(con: duckdb.DuckDBPyConnection) -> str:
    """The secret that keys identifier hashes, created (readable by its owner only) on first use.

    Keep it with the backups: without it, re-imports of the same people get different pseudonyms.
    Refused when it is missing, empty or another key than the one the warehouse's pseudonyms were
    made with.
    """
    path = key_path(con)
    key = read_key(path)
    stored = stored_fingerprint(con)
    if key is None:
        if stored is not None:
            raise PondError(f"the pseudonym key {path} is missing, and this warehouse holds pseudonyms made with "
                            "it: a new key would give the same people other pseudonyms. Restore the key from a "
                            "backup (copy the .key file beside the backup's .duckdb file to that path, or set "
                            "$POND_KEY_FILE to it)")
        key = secrets.token_hex(32)
        write_key(path, key)
    elif stored is not None and fingerprint(key) != stored:
        raise PondError(f"the pseudonym key {path} is not the key this warehouse's pseudonyms were made with: "
                        "the same people would get other pseudonyms. Restore the right key from a backup (the "
                        ".key file beside the backup's .duckdb file)")
    return key


def remember_key(con: duckdb.DuckDBPyConnection, key: str) -> None:
    """Record (inside the import's transaction) that the warehouse holds pseudonyms made with ``key``."""
    con.execute("insert or replace into meta values (?, ?)", [FINGERPRINT, fingerprint(key)])


#: personal values inside a rejected row's original text (a JSON list of cells, or the raw line): the
#: same kinds as pond_personal, found anywhere in the text rather than as a whole cell
_IN_TEXT = re.compile(
    r"[^@\s\"',;\t|\[\]]+@[^@\s\"',;\t|\[\]]+\.[A-Za-z]{2,}"          # e-mail
    r"|(?<![\d+])(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"      # mainland mobile
    r"|(?<![\d+])\+\d[\d -]{7,}\d(?!\d)"                                # +country number
    r"|(?<!\d)[1-9]\d{16}[\dXx](?![\dA-Za-z])"                           # ID card (check digit below)
    r"|wxid_[A-Za-z0-9_-]+"                                                   # WeChat id
    r"|(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])")                # OpenID


def _id_card(text: str) -> bool:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(text[:17], weights, strict=True)) % 11] == text[-1].upper()


def mask_personal_text(text: str | None, key: str) -> str | None:
    """``text`` with every personal value in it replaced by its pseudonym (the same one an imported
    id gets), so that a rejected row keeps no phone number or e-mail in clear."""
    if not text:
        return text

    def replace(match: re.Match) -> str:
        value = match.group(0)
        if len(value) == 18 and value[:17].isdigit() and not _id_card(value):
            return value  # 18 digits without a valid check digit: an id, not an ID card
        return "p_" + hashlib.sha256((key + value).encode()).hexdigest()[:20]

    return _IN_TEXT.sub(replace, text)
