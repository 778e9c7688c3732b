"""PostgreSQL rows printed by PostgreSQL as MariaDB/MySQL's ``LOAD DATA`` reads them.

The relay (engine/relay_to_mysql.py) never decodes a row: PostgreSQL converts each
column in the SELECT of a ``COPY (…) TO STDOUT (FORMAT csv, NULL 'NULL', FORCE_QUOTE
*)``, and the bytes are loaded as they are. So each column's SQL form must be exactly
the text the row path writes for the same value (conversions.py, then bulk.py's
``_field``): a timestamptz as its UTC time, a boolean as 1 or 0, an array as the JSON
text conversions._json makes (PostgreSQL's jsonb text spells it alike for integers,
text and booleans: ``[1, null]``, ``["a\\n"]``), bytes as hex that LOAD DATA unhexes.

CSV, not COPY's text format: the text format writes \\f, \\v and \\b as backslash
escapes that LOAD DATA does not read back. Every field is quoted except NULL, which
LOAD DATA reads as SQL NULL when unquoted and as the text 'NULL' when quoted.

What the row path refuses must still be refused with its error (the column and the
row's key named). NaN, infinities, dates outside the years 1 to 9999, ``24:00`` and a
key rounded by its DECIMAL column all print as something MariaDB warns about
(``UNFIT``), and a batch that warns is written again by the row path, which says why.
A type with no exact SQL form here (interval, timetz, money, arrays of decimals...)
makes the table :meth:`MysqlCsv.unfit` for the relay: it takes the row path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

from syncbeat.connectors.typemap import BINARY

UNFIT = "unrepresentable"
"""Printed for a value the row path refuses: no DATE, DATETIME, TIME, DECIMAL or DOUBLE
reads it without a warning, so the batch falls back to the row path and its error."""

FIELDS = (
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n'"
)
"""How LOAD DATA reads the CSV PostgreSQL writes: quotes doubled inside a quoted field,
newlines and backslashes in it literal."""

COPY_OPTIONS = "(FORMAT csv, NULL 'NULL', FORCE_QUOTE *)"

SESSION = (
    # What the printed forms depend on, pinned for the batch's transaction only: the
    # ISO date style, a float's shortest round-trip digits, and UTF-8 (LOAD DATA reads
    # utf8mb4). A URL's options may set any of them otherwise.
    "SET LOCAL datestyle = 'ISO, YMD'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL client_encoding = 'UTF8'",
)

_FIRST, _LAST = "0001-01-01", "10000-01-01"  # the years Python (the row path) reads


@dataclass(frozen=True)
class CsvColumn:
    """One column of the COPY: what PostgreSQL prints, and whether it is hex that LOAD
    DATA reads into a variable and unhexes (``SET col = UNHEX(@v)``)."""

    name: str
    expression: sa.ColumnElement[Any]
    hexed: bool = False


class _NoForm(Exception):
    """This pair of column types has no exact SQL form here."""


def _text(expression: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.cast(expression, sa.Text)


def _unless(fits: sa.ColumnElement[bool], value: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """``value`` as text where ``fits``, else UNFIT (NULL stays NULL: CASE's ELSE is
    never reached by a NULL value, for which ``fits`` is NULL too, so it is checked)."""
    return sa.case(
        (value.is_(None), sa.null()),
        (fits, _text(value)),
        else_=sa.literal(UNFIT, sa.Text),
    )


def _in_years(moment: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A date or timestamp outside the years 1 to 9999 (BC, 'infinity', year 10000 in
    UTC) has no Python form, so the row path fails on it: UNFIT here."""
    first: sa.ColumnElement[Any] = sa.literal_column(f"'{_FIRST}'")
    last: sa.ColumnElement[Any] = sa.literal_column(f"'{_LAST}'")
    return _unless(sa.and_(moment >= first, moment < last), moment)


def _array_json(src: TypeEngine[Any]) -> bool:
    """Arrays whose elements jsonb prints as Python's json does: integers, booleans,
    text. (Decimals and floats print otherwise: 1E-10, 1e+16; dates with a T.)"""
    if not isinstance(src, postgresql.ARRAY):
        return False
    item = src.item_type
    if isinstance(item, sa.Enum):
        return False
    return isinstance(item, sa.Integer | sa.Boolean | sa.Text | sa.VARCHAR)


def _number(src: TypeEngine[Any]) -> bool:
    return isinstance(src, sa.Integer | sa.Numeric | sa.Float)  # (no Float is a Numeric)


def _expression(
    column: sa.ColumnElement[Any], src: TypeEngine[Any], dest: TypeEngine[Any], is_key: bool
) -> sa.ColumnElement[Any]:
    """The SQL form of one column, by the rule conversions._steps applies to the pair."""
    if isinstance(dest, BINARY):
        if isinstance(src, sa.LargeBinary):
            return sa.func.encode(column, sa.literal_column("'hex'"))
        raise _NoForm
    if isinstance(dest, sa.JSON):
        if isinstance(src, sa.JSON):
            return _text(column)  # as the row path reads it: CAST(col AS TEXT)
        if _array_json(src):
            return _text(sa.func.to_jsonb(column))
        raise _NoForm
    if isinstance(dest, sa.DateTime):
        if isinstance(src, sa.DateTime):
            utc = sa.func.timezone(sa.literal_column("'UTC'"), column) if src.timezone else column
            return _in_years(utc)
        raise _NoForm
    if isinstance(dest, sa.Date):
        if isinstance(src, sa.Date):
            return _in_years(column)
        raise _NoForm
    if isinstance(dest, sa.Time):
        if isinstance(src, sa.Time) and not src.timezone:
            # PostgreSQL's time runs to 24:00:00, which Python (the row path) cannot read.
            return _unless(column < sa.literal_column("'24:00:00'"), column)
        raise _NoForm
    if isinstance(dest, sa.Boolean | sa.Integer):
        if isinstance(src, sa.Boolean):
            return sa.cast(column, sa.Integer)  # 1 and 0, as bulk._field writes a bool
        if isinstance(src, sa.Integer) and not isinstance(dest, sa.Boolean):
            return column
        raise _NoForm
    if isinstance(dest, sa.Float):
        if _number(src):
            return column  # NaN and infinities print as words MariaDB warns about
        raise _NoForm
    if isinstance(dest, sa.Numeric):
        if isinstance(src, sa.Float):
            if is_key:
                raise _NoForm  # conversions.key_converter's check of a double's digits
            return column
        if not _number(src):
            raise _NoForm
        scale = dest.scale
        if is_key and scale is not None and not isinstance(src, sa.Integer):
            # conversions.key_converter: a key its column would round is refused.
            return _unless(column == sa.func.round(column, scale), column)
        return column
    if isinstance(dest, sa.String):
        if isinstance(src, sa.Float):
            raise _NoForm  # Python's repr and PostgreSQL print a double differently
        if isinstance(src, sa.String | sa.Uuid) or _number(src):
            return column  # an enum's label, a uuid's canonical text, every digit
        raise _NoForm
    raise _NoForm


class MysqlCsv:
    """The COPY that prints a PostgreSQL table's rows for one MariaDB/MySQL table."""

    def __init__(
        self,
        source: Sequence[sa.ColumnElement[Any]],
        dest: sa.Table,
        key: Sequence[str],
    ) -> None:
        self.columns: list[CsvColumn] = []
        self.unfit: str | None = None
        for column in source:
            name = str(column.key)
            src_type, dest_type = column.type, dest.c[name].type
            try:
                expression = _expression(column, src_type, dest_type, name in key)
            except _NoForm:
                self.unfit = (
                    f"column {name} ({src_type} into {dest_type}) has no SQL form for "
                    "MariaDB's LOAD DATA"
                )
                return
            hexed = isinstance(dest_type, BINARY)
            self.columns.append(CsvColumn(name, expression.label(name), hexed))

    @property
    def hexed(self) -> list[str]:
        return [c.name for c in self.columns if c.hexed]

    def select(self, selectable: sa.FromClause, where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        """The rows ``where`` selects, each column in its SQL form."""
        return sa.select(*(c.expression for c in self.columns)).select_from(selectable).where(where)
