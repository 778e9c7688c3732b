"""The conversions a value goes through on its way into another kind of database.

Each is a rule of docs/types.md, chosen per column once (:func:`value_converter`) from
the source column's type and the destination column's: a timestamp with a zone into a
column without one becomes UTC, a UUID into a text column its canonical text, a decimal
into MySQL or SQLite every one of its digits as text. A value that the destination
cannot hold (NaN or infinity in MariaDB, a 25-hour MariaDB TIME in a time of day, an
integer past 2**63 in SQLite, text longer than its column) raises :class:`Unstorable`,
which the destination reports with the column and the row: it is never stored changed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import NullType, TypeEngine

from syncbeat.connectors.typemap import MYSQL
from syncbeat.vocabulary.errors import DestinationError

Convert = Callable[[Any], Any] | None


def duration_text(value: dt.timedelta) -> str:
    """A duration as MySQL writes a TIME: [-]HH:MM:SS.ffffff, hours past 24."""
    micros = abs(value) // dt.timedelta(microseconds=1)
    seconds, micros = divmod(micros, 1_000_000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    sign = "-" if value < dt.timedelta(0) else ""
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}"


def _show(value: Any) -> str:
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return str(Decimal(value))  # NaN, Infinity, -Infinity
    if isinstance(value, dt.timedelta):
        return duration_text(value)
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Unstorable(Exception):
    """A value that the destination column cannot hold; the destination turns it into a
    DestinationError naming the column and the row (:meth:`error`)."""

    def __init__(self, value: Any, reason: str, hint: str) -> None:
        super().__init__(reason)
        self.value, self.reason, self.hint = value, reason, hint

    def error(self, column: str, row: str) -> DestinationError:
        return DestinationError(
            f"The value {_show(self.value)} in column {column!r} of the row {row} cannot be "
            f"written: {self.reason}. Nothing of its batch was written.",
            hint=self.hint,
        )


def _finite(value: Any) -> Any:
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        raise Unstorable(
            value,
            "MariaDB and MySQL have no NaN or infinity",
            "Turn it into NULL in a --query (on PostgreSQL: NULLIF(x, 'NaN'), or CASE "
            "WHEN x IN ('Infinity', '-Infinity') THEN NULL ELSE x END), or sync into "
            "PostgreSQL, which stores it.",
        )
    return value


def _mysql_decimal(value: Any) -> Any:
    # Every digit, as text: str() may give 1.234567890123E-7, which MySQL reads as a double.
    value = _finite(value)
    return format(value, "f") if isinstance(value, Decimal) else value


def _not_nan(value: Any) -> Any:
    if isinstance(value, float | Decimal) and math.isnan(value):
        raise Unstorable(
            value,
            "SQLite stores NaN as NULL",
            "If NULL is what you want, say so in a --query (NULLIF(x, 'NaN') on "
            "PostgreSQL); or sync into PostgreSQL, which stores NaN.",
        )
    return value


def _sqlite_number(value: Any) -> Any:
    """A decimal into SQLite's NUMERIC as SQLite keeps it best: an integral one as an
    integer, one a double holds as that double (bound as text, SQLite would keep 15
    digits of it), a wider one as its text. (SQLAlchemy would make every one a double:
    2**63 - 1 would lose its last digits.)"""
    if not isinstance(value, Decimal):
        return value
    if not value.is_finite():
        return float(_not_nan(value))
    if value == value.to_integral_value() and -(2**63) <= value < 2**63:
        return int(value)
    double = float(value)
    return double if Decimal(repr(double)) == value else format(value, "f")


def _decimal_text(value: Any) -> Any:
    """A decimal into a text column (SQLite's home for decimals wider than a double):
    every digit, never 1E-10; NaN and Infinity as those words."""
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    return value


def _time_of_day(value: Any) -> Any:
    if not isinstance(value, dt.timedelta):
        return value
    if not dt.timedelta(0) <= value < dt.timedelta(days=1):
        raise Unstorable(
            value,
            "a time of day runs from 00:00 to 24:00, and this MariaDB TIME is a duration "
            "outside that",
            "Create the destination column yourself as interval (PostgreSQL) or text, or "
            "convert it in a --query (TIME_TO_SEC(x) gives seconds).",
        )
    return (dt.datetime.min + value).time()


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Unstorable(
        value,
        "a boolean column takes 0 and 1 (false and true) only",
        "Make it 0 or 1 in a --query (x <> 0 for a number; CASE WHEN x IN ('true', 't') "
        "THEN 1 WHEN x IN ('false', 'f') THEN 0 END for text), or create the destination "
        "column yourself as an integer or text.",
    )


def _int64(value: Any) -> Any:
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise Unstorable(
            value,
            "SQLite's integers stop at 9223372036854775807",
            "Sync into PostgreSQL or MariaDB, or keep it as text with CAST(x AS CHAR) in "
            "a --query.",
        )
    return value


def _at_most(length: int) -> Callable[[Any], Any]:
    def fits(value: Any) -> Any:
        if isinstance(value, str) and len(value) > length:
            raise Unstorable(
                value,
                f"it has {len(value)} characters and the column holds {length}",
                "Widen the destination column, or shorten the value in a --query "
                "(SUBSTR(x, 1, n)).",
            )
        return value

    return fits


def _uuid_text(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


def _json(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}: {_json(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(value)
        return str(value)  # a JSON number with every digit (1E-10 is one)
    if isinstance(value, dt.date | dt.time):
        return json.dumps(value.isoformat())
    return json.dumps(value, ensure_ascii=False, allow_nan=False, default=str)


def _json_text(value: Any) -> Any:
    """A value bound for a JSON column, as JSON text. A JSON column's value arrives as
    its text already (see read_expression); an array becomes a JSON array, its numbers
    with every digit."""
    if isinstance(value, str):
        return value
    try:
        return _json(value)
    except ValueError:
        raise Unstorable(
            value,
            "JSON has no NaN or infinity",
            "Turn those elements into NULL in a --query, or sync into PostgreSQL.",
        ) from None


def _utc_naive(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        try:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:
            raise Unstorable(
                value,
                "in UTC it falls outside the years 1 to 9999",
                "Filter it out or clamp it in a --query.",
            ) from None
    return value


def _utc_aware(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _parsed_date(value: Any) -> Any:
    if isinstance(value, str):  # the driver could not parse it: see engines
        raise Unstorable(
            value,
            "it is not a date (MariaDB/MySQL keep zero dates such as 0000-00-00 and, "
            "outside strict mode, impossible ones such as 2024-02-30)",
            "Turn such values into NULL or a real date in a --query "
            "(NULLIF(col, '0000-00-00'), or a CASE), or correct the rows.",
        )
    return value


def _steps(
    src_type: TypeEngine[Any], dest_type: TypeEngine[Any], src: str, dst: str
) -> list[Callable[[Any], Any]]:
    steps = _type_steps(src_type, dest_type, src, dst)
    if src in MYSQL and dst not in MYSQL and isinstance(src_type, sa.Date | sa.DateTime):
        return [_parsed_date, *steps]  # MariaDB takes its own zero dates back as they are
    return steps


def _type_steps(
    src_type: TypeEngine[Any], dest_type: TypeEngine[Any], src: str, dst: str
) -> list[Callable[[Any], Any]]:
    to_mysql = dst in MYSQL
    if isinstance(dest_type, sa.JSON):
        return [] if isinstance(src_type, sa.JSON) else [_json_text]
    if isinstance(dest_type, sa.DateTime):
        if dest_type.timezone:  # PostgreSQL's timestamptz: a naive value is UTC
            naive = isinstance(src_type, sa.DateTime) and not src_type.timezone
            return [_utc_aware] if naive else []
        aware = isinstance(src_type, sa.DateTime) and (src_type.timezone or src == "sqlite")
        return [_utc_naive] if aware else []  # (SQLite's text may carry an offset)
    if isinstance(dest_type, sa.Time):
        from_duration = src in MYSQL and isinstance(src_type, sa.Time) and not to_mysql
        return [_time_of_day] if from_duration else []
    if isinstance(dest_type, sa.Boolean):
        if src == dst == "sqlite":
            return []  # as stored, whatever it is
        checked = isinstance(src_type, sa.Boolean) and src != "sqlite"
        return [] if checked else [_boolean]
    if isinstance(dest_type, sa.Float):
        if to_mysql and src not in MYSQL:
            return [_finite]
        return [_not_nan] if dst == "sqlite" and src == "postgresql" else []
    if isinstance(dest_type, sa.Numeric):
        return [_mysql_decimal] if to_mysql else [_sqlite_number] if dst == "sqlite" else []
    if isinstance(dest_type, sa.Integer):
        unsigned = getattr(src_type, "unsigned", False)
        return [_int64] if dst == "sqlite" and unsigned else []
    steps: list[Callable[[Any], Any]] = []
    if isinstance(dest_type, sa.String):
        if isinstance(src_type, sa.Uuid):
            steps.append(_uuid_text)
        elif isinstance(src_type, sa.Numeric):
            steps.append(_decimal_text)
        length = dest_type.length
        if length and dst != "sqlite":  # SQLite does not hold a column to its length
            src_length = getattr(src_type, "length", None)
            if src == "sqlite" or src_length is None or src_length > length:
                steps.append(_at_most(length))
    return steps


def value_converter(
    src_type: TypeEngine[Any], dest_type: TypeEngine[Any], src: str, dst: str
) -> Convert:
    """The conversion a value needs on its way from a column of ``src_type`` in a ``src``
    database into a ``dest_type`` column of a ``dst`` database, or None; each one is a
    rule of docs/types.md. It raises :class:`Unstorable` for a value the destination
    cannot hold. Never called with None: NULL stays NULL."""
    steps = _steps(src_type, dest_type, src, dst)
    if len(steps) <= 1:
        return steps[0] if steps else None

    def chain(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return chain


def key_converter(
    src_type: TypeEngine[Any], dest_type: TypeEngine[Any], src: str, dst: str
) -> Convert:
    """:func:`value_converter` for a key column. A key that a DECIMAL(p,s) destination
    would round to s places is refused, not rounded: 1e-31 and 2e-31 both round to 0 in
    DECIMAL(65,30), and two source rows would become one. (SQLite holds a NUMERIC(p,s)
    value as it comes, unrounded.)"""
    convert = value_converter(src_type, dest_type, src, dst)
    scale = getattr(dest_type, "scale", None)
    if dst == "sqlite" or isinstance(dest_type, sa.Float) or scale is None:
        return convert
    if not isinstance(dest_type, sa.Numeric):
        return convert

    def unrounded(value: Any) -> Any:
        _refuse_rounding(value, int(scale))
        return convert(value) if convert else value

    return unrounded


def _refuse_rounding(value: Any, scale: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except ArithmeticError:
        return  # not a number: the column's own conversion says so
    if not exact.is_finite() or exact.as_tuple().exponent >= -scale:  # type: ignore[operator]
        return
    if exact == exact.quantize(Decimal(1).scaleb(-scale), context=Context(prec=1000)):
        return  # only trailing zeros past the scale: 1.50 into DECIMAL(p,1) is 1.5
    raise Unstorable(
        value,
        f"the destination's key column has {scale} decimal places, and a key rounded to "
        "them may equal another rounded key, making two source rows one",
        "Give the destination column more decimal places, sync into a new --to-table "
        "(PostgreSQL and SQLite keep every digit), or key on other columns with --key.",
    )


def insert_table(table: sa.Table, dst: str) -> sa.Table:
    """``table`` as a batch INSERT binds it: a JSON column takes the text it arrives as
    (its own type would encode that text again, as a JSON string), SQLite's NUMERIC
    takes ints, doubles and text as they are (SQLAlchemy would make them all doubles),
    and its BOOLEAN what a SQLite source holds (SQLAlchemy takes only True and False)."""

    def bound(col_type: TypeEngine[Any]) -> TypeEngine[Any]:
        if isinstance(col_type, sa.JSON):
            return sa.Text()
        if dst == "sqlite" and isinstance(col_type, sa.Numeric | sa.Boolean):
            return NullType()
        return col_type

    if all(bound(c.type) is c.type for c in table.columns):
        return table
    columns = (sa.Column(c.name, bound(c.type), primary_key=c.primary_key) for c in table.columns)
    return sa.Table(table.name, sa.MetaData(), *columns, schema=table.schema)
