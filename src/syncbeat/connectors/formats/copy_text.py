"""PostgreSQL's COPY text lines, written by MariaDB/MySQL's own SQL functions.

A relay from MariaDB to PostgreSQL (engine.relay_to_postgres) asks MariaDB for each row
as the line ``COPY … FROM STDIN`` reads: every column as its COPY text (``\\N`` for NULL;
backslash, tab, newline and carriage return escaped), joined by tabs. Each column's text
must be the value the row path (PyMySQL, conversions, psycopg's ``write_row``) stores,
so each is chosen from the source column's type and the destination column's, as
conversions.value_converter chooses the row path's rule, and a pair without an exact
SQL form has none here: the whole table takes the row path (:func:`unfit` says why).

A value the row path refuses (a boolean of 2, a MariaDB TIME outside a day, text longer
than its column) has a condition (:attr:`CopyText.refused`) that the relay counts in the
same statement: a batch holding one goes through the row path, which names it. So does
a long text that needs escapes (see _SHORT).

Literals are hex, with a character set, so that no ``sql_mode`` (NO_BACKSLASH_ESCAPES)
changes what they mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

_BACKSLASH = "_utf8mb4 X'5C'"
_ESCAPES = (  # backslash first: the escapes' own backslashes are not doubled again
    (_BACKSLASH, "_utf8mb4 X'5C5C'"),
    ("_utf8mb4 X'09'", "_utf8mb4 X'5C74'"),  # tab -> \t
    ("_utf8mb4 X'0A'", "_utf8mb4 X'5C6E'"),  # newline -> \n
    ("_utf8mb4 X'0D'", "_utf8mb4 X'5C72'"),  # carriage return -> \r
)
NULL = "_utf8mb4 X'5C4E'"  # \N
TAB, NEWLINE = "_utf8mb4 X'09'", "_utf8mb4 X'0A'"
_BYTEA_HEX = "_utf8mb4 X'5C5C78'"  # \\x: COPY reads \x, bytea's hex form
_UTF8 = {"utf8mb4", "utf8mb3", "utf8", "ascii"}  # their bytes are UTF-8 already


@dataclass(frozen=True)
class _Field:
    """One column's COPY text and refusal, as templates of the column's SQL ``{c}``."""

    text: str
    refused: str | None = None
    textual: bool = False
    """The column is text: read in UTF-8 (converted if its character set is another)."""


_SHORT = 4096
"""Bytes up to which a text is escaped in SQL. MariaDB's REPLACE (and REGEXP_REPLACE)
moves the rest of the string for every match: quadratic, hours for a few MB of tabs. A
longer text goes as it is when it holds nothing to escape, and sends its batch through
the row path when it does (:func:`_long_escapes`)."""


def _escaped(c: str) -> str:
    short = c
    for raw, escape in _ESCAPES:
        short = f"REPLACE({short}, {raw}, {escape})"
    return f"IF(LENGTH({c}) <= {_SHORT}, {short}, {c})"


def _long_escapes(c: str) -> str:
    """A text too long to escape in SQL that needs escapes (LOCATE is linear)."""
    found = " OR ".join(f"LOCATE({raw}, {c}) > 0" for raw, _ in _ESCAPES)
    return f"LENGTH({c}) > {_SHORT} AND ({found})"


def _number(dst: TypeEngine[Any]) -> bool:
    return isinstance(dst, sa.Numeric | sa.Integer)  # (sa.Float is a Numeric)


def _integer(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    if isinstance(dst, sa.Boolean):  # conversions._boolean: 0 and 1 only
        return _Field("CASE {c} WHEN 1 THEN 't' WHEN 0 THEN 'f' END", "{c} NOT IN (0, 1)")
    return _Field("{c}") if _number(dst) else _other(src, dst)


def _decimal(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    if not _number(dst) or isinstance(dst, sa.Integer):
        return _other(src, dst)
    scale, src_scale = getattr(dst, "scale", None), getattr(src, "scale", None)
    rounds = scale is not None and (src_scale is None or src_scale > scale)
    if is_key and not isinstance(dst, sa.Float) and rounds:
        # conversions.key_converter refuses a key that would round: not said in SQL.
        return "its key would be rounded to the destination's scale"
    return _Field("{c}")  # plain digits: MariaDB never writes a DECIMAL with an exponent


def _double(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    if isinstance(src, mysql.FLOAT):
        # The row path writes the shortest decimal of the 4-byte float (typemap._Float4,
        # docs/types.md); MariaDB prints a FLOAT with six digits and has no such function.
        return "FLOAT has no exact text in MariaDB's SQL"
    # MariaDB prints a DOUBLE as it sends it to PyMySQL, and PostgreSQL reads that text
    # into the double Python reads (both round correctly).
    return _Field("{c}") if isinstance(dst, sa.Float) else _other(src, dst)


def _text(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    if isinstance(dst, sa.JSON):  # JSON as its text, never parsed
        return _Field(_escaped("{c}"), _long_escapes("{c}"), textual=True)
    if not isinstance(dst, sa.String):
        return _other(src, dst)
    length, src_length = dst.length, getattr(src, "length", None)
    refused = _long_escapes("{c}")
    if length and (src_length is None or src_length > length):  # conversions._at_most
        refused = f"CHAR_LENGTH({{c}}) > {int(length)} OR {refused}"
    return _Field(_escaped("{c}"), refused, textual=True)


def _binary(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    if isinstance(dst, sa.LargeBinary):
        return _Field(f"CONCAT({_BYTEA_HEX}, HEX({{c}}))")
    return _other(src, dst)


def _date(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    # YYYY-MM-DD. A zero date ('0000-00-00') reaches PostgreSQL as that text, as the row
    # path's string does (PyMySQL returns what it cannot parse as text): refused there.
    ok = isinstance(dst, sa.Date) and not isinstance(dst, sa.DateTime)
    return _Field("{c}") if ok else _other(src, dst)


def _datetime(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    # As MariaDB prints it, to the column's fraction of a second. A TIMESTAMP prints in
    # the session's zone, UTC (typemap.exact_sessions); into a timestamptz the naive
    # value is UTC (conversions._utc_aware), said by the offset.
    if not isinstance(dst, sa.DateTime):
        return _other(src, dst)
    return _Field("CONCAT({c}, _utf8mb4 X'2B3030')" if dst.timezone else "{c}")  # +00


def _time(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    if not isinstance(dst, sa.Time) or dst.timezone:
        return _other(src, dst)
    # MariaDB's TIME is a duration: one outside a day is refused (conversions._time_of_day).
    return _Field("{c}", "{c} < TIME '00:00:00' OR {c} >= TIME '24:00:00'")


def _uuid(src: TypeEngine[Any], dst: TypeEngine[Any], is_key: bool) -> _Field | str:
    return _Field("{c}") if isinstance(dst, sa.Uuid) else _other(src, dst)


def _other(src: TypeEngine[Any], dst: TypeEngine[Any]) -> str:
    return f"{_type_name(src)} into {_type_name(dst)} has no exact text in MariaDB's SQL"


def _type_name(t: TypeEngine[Any]) -> str:
    try:
        return str(t.compile(dialect=mysql.dialect()))
    except Exception:  # a type that this dialect cannot write: its class says enough
        return type(t).__name__


_Choose = Callable[[TypeEngine[Any], TypeEngine[Any], bool], "_Field | str"]


def _chooser(src: TypeEngine[Any]) -> _Choose | None:
    """The family of a source type (first match: a Float is a Numeric, an Enum a String)."""
    families: list[tuple[type[Any], _Choose]] = [
        (sa.Integer, _integer),
        (sa.Float, _double),
        (sa.Numeric, _decimal),
        (sa.JSON, _text),
        (sa.String, _text),  # CHAR, VARCHAR, TEXT, ENUM (its label), SET ('a,c')
        (sa.types._Binary, _binary),  # BLOB, BINARY, VARBINARY
        (sa.DateTime, _datetime),
        (sa.Date, _date),
        (sa.Time, _time),
        (sa.Uuid, _uuid),
    ]
    if isinstance(src, mysql.YEAR | mysql.BIT):
        return None  # PyMySQL gives them as an int and bytes: their SQL text differs
    return next((choose for kind, choose in families if isinstance(src, kind)), None)


def _field(column: sa.Column[Any], dest: sa.Table, key: Sequence[str]) -> _Field | str:
    name = column.name
    if name not in dest.c:
        return f"column {name} is missing in the destination"
    choose = _chooser(column.type)
    if choose is None:
        return f"column {name} is {_type_name(column.type)}, which has no exact text in SQL"
    found = choose(column.type, dest.c[name].type, name in key)
    return f"column {name}: {found}" if isinstance(found, str) else found


def unfit(columns: Sequence[sa.Column[Any]], dest: sa.Table, key: Sequence[str]) -> str | None:
    """Why some column has no exact COPY text in MariaDB's SQL, or None."""
    for column in columns:
        found = _field(column, dest, key)
        if isinstance(found, str):
            return found
    return None


@dataclass(frozen=True)
class CopyText:
    """A source table's rows as COPY text lines, in SQL (a table :func:`unfit` passed)."""

    line: str
    """One row's line, ending in a newline, as UTF-8 bytes; NULL when a value's text is
    past max_allowed_packet."""
    refused: str
    """1 for a row the row path must write (a value it refuses, a long text with
    escapes), else 0."""

    @classmethod
    def build(
        cls,
        columns: Sequence[sa.Column[Any]],
        dest: sa.Table,
        key: Sequence[str],
        quote: Callable[[str], str],
        charsets: Mapping[str, str | None],
    ) -> CopyText:
        """``charsets``: each text column's character set (information_schema)."""
        texts, refusals = [], []
        for column in columns:
            found = _field(column, dest, key)
            assert not isinstance(found, str), found
            sql = quote(column.name)
            charset = charsets.get(column.name)
            if found.textual and charset is not None and charset.lower() not in _UTF8:
                sql = f"CONVERT({sql} USING utf8mb4)"
            text = found.text.replace("{c}", sql)
            if not found.textual:  # IF would read \N as the column's type (a UUID: NULL)
                text = f"CONCAT({text})"
            # NULL's text only for NULL: a value past max_allowed_packet is NULL too (a
            # warning), and must make the whole line NULL (CONCAT), never a NULL value.
            texts.append(f"IF({sql} IS NULL, {NULL}, {text})")
            if found.refused is not None:
                refusals.append(f"({found.refused.replace('{c}', sql)})")
        line = f"CAST(CONCAT({f', {TAB}, '.join(texts)}, {NEWLINE}) AS BINARY)"
        refused = f"CASE WHEN {' OR '.join(refusals)} THEN 1 ELSE 0 END" if refusals else "0"
        return cls(line, refused)


def charsets(conn: sa.Connection, table: str) -> dict[str, str | None]:
    """Each column's character set, for :meth:`CopyText.build`."""
    schema, _, name = table.rpartition(".")
    rows = conn.execute(
        sa.text(
            "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name"
        ),
        {"schema": schema or None, "name": name},
    ).all()
    return {column: charset for column, charset in rows}
