"""One text per value, computed inside the database, the same whichever database holds it.

Verify compares a source and its destination by checksums each database computes over
its own rows, so both must turn a value into the same text: the value as syncbeat
copies it (docs/types.md), not as each database prints it. A value converted on purpose
(a ``timestamptz`` that arrives in UTC, a ``numeric`` rounded to MariaDB's 30 places,
a boolean that arrives as ``1``) must come out equal on both sides, and any other
difference must not.

:func:`text_of` is that text for one column on one side; ``other`` is the same column's
type on the other side, so that a conversion made on purpose on the way is applied
before the text is made. ``NULL`` stays ``NULL``: the caller marks it.

The texts are listed in docs/types.md ("How verify makes values comparable"): numbers
of every kind as plain decimals (``1e+20`` and ``1e20`` are ``100000000000000000000``),
floats by their shortest round-trip digits; times in one ISO form, instants in UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import NullType, TypeEngine

from syncbeat.connectors.typemap import MYSQL
from syncbeat.vocabulary.errors import ConfigError

NUMBERS = ("integer", "decimal", "float", "float4")

# -- families -------------------------------------------------------------------------


def _family(own: TypeEngine[Any], dialect: str) -> str:
    """The family of a reflected type: it picks the text. Order matters: a Float is a
    Numeric, an Enum and a SET are Strings, MySQL's BOOLEAN is TINYINT(1)."""
    if isinstance(own, postgresql.ARRAY):
        return "array"
    if isinstance(own, sa.JSON):
        return "json"
    if isinstance(own, sa.Boolean) or (
        dialect in MYSQL and isinstance(own, mysql.TINYINT) and own.display_width == 1
    ):
        return "boolean"
    if isinstance(own, sa.Integer):
        return "integer"
    if isinstance(own, sa.Float):
        # The 4-byte floats: their text is the shortest decimal of the float, not of
        # the double it widens to (3.14, not 3.140000104904175).
        four = isinstance(own, mysql.FLOAT) if dialect in MYSQL else type(own) is sa.REAL
        return "float4" if four and dialect != "sqlite" else "float"
    if isinstance(own, sa.Numeric):
        return "decimal"
    if isinstance(own, sa.Uuid):
        return "uuid"
    if isinstance(own, sa.types._Binary):  # BLOB, BYTEA, VARBINARY, MySQL's LONGBLOB...
        return "binary"
    if isinstance(own, sa.DateTime):
        return "timestamp"
    if isinstance(own, sa.Date):
        return "date"
    if isinstance(own, sa.Time) and not own.timezone:
        return "time"
    if isinstance(own, sa.String | NullType):  # text, varchar, enums, MariaDB's SET
        return "text"
    return "other"


def _scale(own: TypeEngine[Any], dialect: str | None) -> int | None:
    """The decimal places a column holds its values to; SQLite keeps none (it stores a
    DECIMAL(p,s) value as it comes)."""
    if dialect == "sqlite" or isinstance(own, sa.Float) or not isinstance(own, sa.Numeric):
        return None
    return own.scale


def _round_to(
    own: TypeEngine[Any], dialect: str, other: TypeEngine[Any] | None, other_dialect: str | None
) -> int | None:
    """The places to round a decimal to before its text is made: the other side's scale
    when it holds fewer places than this side (PostgreSQL's numeric into MariaDB's
    DECIMAL(65,30); SQLite's DECIMAL(38,10), unrounded in SQLite, into numeric(38,10))."""
    theirs = _scale(other, other_dialect) if other is not None else None
    mine = _scale(own, dialect)
    if theirs is None or (mine is not None and mine <= theirs):
        return None
    return theirs


def _refuse(own: TypeEngine[Any], dialect: str, other_dialect: str | None, why: str) -> NoReturn:
    raise ConfigError(
        f"Verify cannot compare a {own} column of {dialect} with its copy in "
        f"{other_dialect}: {why}.",
        hint="Leave the column out of verify, or compare it in a --query that casts it to "
        "text on both sides.",
    )


# -- PostgreSQL -------------------------------------------------------------------------


def _pg(family: str, column: sa.ColumnElement[Any], rounding: int | None, keep_minus: bool,
        own: TypeEngine[Any]) -> sa.ColumnElement[Any]:  # fmt: skip
    text = sa.Text()
    if family in ("integer", "decimal"):
        value = sa.func.round(column, rounding) if rounding is not None else column
        return sa.cast(sa.func.trim_scale(sa.cast(value, sa.Numeric())), text)
    if family in ("float", "float4"):
        # float8out/float4out print the shortest round-trip digits (extra_float_digits
        # 1, the default); as a numeric they lose their exponent (1e+20), not a digit.
        printed = sa.cast(column, text)
        plain = sa.cast(sa.func.trim_scale(sa.cast(printed, sa.Numeric())), text)
        return sa.case((printed == "-0", printed), else_=plain) if keep_minus else plain
    if family == "boolean":
        return sa.cast(sa.cast(column, sa.Integer()), text)
    if family == "binary":
        return sa.func.encode(column, "hex")
    if family == "date":
        return sa.func.to_char(column, "YYYY-MM-DD")
    if family == "time":
        return sa.func.to_char(column, "HH24:MI:SS.US")
    if family == "timestamp":
        zoned = isinstance(own, sa.DateTime) and own.timezone
        value = sa.func.timezone("UTC", column) if zoned else column
        return sa.func.to_char(value, "YYYY-MM-DD HH24:MI:SS.US")
    if family == "array":
        return _pg_array(column)
    if family == "uuid":
        return sa.func.lower(sa.cast(column, text))
    return sa.cast(column, text)  # text, varchar, enum labels, json and jsonb as printed


def _pg_array(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """An array as the JSON text syncbeat writes for it (conversions._json): elements
    joined by ", " (to_json would join them by ","), NULL as null, text JSON-escaped."""
    elements = (
        sa.func.unnest(column).table_valued("v", with_ordinality="n").render_derived(name="e")
    )
    element = sa.func.coalesce(sa.cast(sa.func.to_json(elements.c.v), sa.Text()), "null")
    joined = sa.func.string_agg(element, postgresql.aggregate_order_by(_lit(", "), elements.c.n))
    inner = sa.select(sa.func.coalesce(joined, "")).select_from(elements).scalar_subquery()
    return sa.case((column.is_(None), None), else_="[" + inner + "]")


# -- MariaDB ------------------------------------------------------------------------------


class _utf8mb4(FunctionElement[str]):
    """CONVERT(x USING utf8mb4): md5 must see UTF-8 bytes, as PostgreSQL's does, and
    the caller's CONCAT must meet one character set."""

    type = sa.Text()
    inherit_cache = True


@compiles(_utf8mb4)
def _compile_utf8mb4(element: _utf8mb4, compiler: Any, **kw: Any) -> str:
    (argument,) = element.clauses
    return f"CONVERT({compiler.process(argument, **kw)} USING utf8mb4)"


def _lit(text: str) -> sa.ColumnElement[Any]:
    """A constant written into the statement (no bound parameter: these repeat)."""
    return sa.literal_column("'" + text.replace("'", "''") + "'")


def _strip_zeros(text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """'12.500' → '12.5', '1.000' → '1'; a text without a point is left alone."""
    stripped = sa.func.regexp_replace(text, _lit("[.]?0+$"), _lit(""))
    return sa.case((sa.func.locate(_lit("."), text) > 0, stripped), else_=text)


def _my_plain(printed: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A double as MariaDB prints it (shortest digits, '1.5e-7' past its range of plain
    numbers) as a plain decimal: the exponent moves the point."""
    negative = sa.func.left(printed, 1) == _lit("-")
    unsigned = sa.case((negative, sa.func.substring(printed, 2)), else_=printed)
    mantissa = sa.func.substring_index(unsigned, _lit("e"), 1)
    exponent = sa.cast(sa.func.substring_index(unsigned, _lit("e"), -1), mysql.INTEGER())
    whole = sa.func.substring_index(mantissa, _lit("."), 1)
    fraction = sa.case(
        (sa.func.locate(_lit("."), mantissa) > 0, sa.func.substring_index(mantissa, _lit("."), -1)),
        else_=_lit(""),
    )
    digits = sa.func.concat(whole, fraction)
    point = sa.func.length(whole) + exponent  # where the point goes, counted in digits
    size = sa.func.length(digits)
    body = sa.case(
        (point <= 0, sa.func.concat(_lit("0."), sa.func.repeat(_lit("0"), -point), digits)),
        (point >= size, sa.func.concat(digits, sa.func.repeat(_lit("0"), point - size))),
        else_=sa.func.concat(
            sa.func.left(digits, point), _lit("."), sa.func.substring(digits, point + 1)
        ),
    )
    signed = sa.func.concat(sa.case((negative, _lit("-")), else_=_lit("")), _strip_zeros(body))
    return sa.case((sa.func.locate(_lit("e"), printed) == 0, printed), else_=signed)


def _my_float4(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A FLOAT as the shortest decimal that is the 4-byte float (MariaDB prints six
    digits, 123457000 for 123456792): the first of 6 to 9 significant digits that reads
    back as the same float, made as digits N and a power of ten k (N·10^k), so that no
    double is printed on the way. (As typemap._Float4 reads it.)"""
    size = sa.func.abs(column + sa.literal_column("0E0"))  # the exact widened double
    magnitude = sa.func.floor(sa.func.log10(size))

    def digits_of(count: Any) -> sa.ColumnElement[Any]:
        return sa.func.round(size * sa.func.pow(10, count - 1 - magnitude))

    def reads_back(count: int) -> sa.ColumnElement[bool]:
        text = sa.func.concat(digits_of(count), _lit("e"), magnitude + 1 - count)
        return sa.cast(sa.cast(text, mysql.DOUBLE()), mysql.FLOAT()) == size

    count = sa.case(*((reads_back(n), n) for n in (6, 7, 8)), else_=9)
    number = sa.cast(sa.cast(digits_of(count), mysql.DECIMAL(10, 0)), mysql.CHAR())
    power = magnitude + 1 - count
    padded = sa.func.lpad(number, sa.func.greatest(sa.func.length(number), 1 - power), _lit("0"))
    cut = sa.func.length(padded) + power
    small = sa.func.concat(sa.func.left(padded, cut), _lit("."), sa.func.substring(padded, cut + 1))
    body = sa.case(
        (power >= 0, sa.func.concat(number, sa.func.repeat(_lit("0"), power))),
        else_=_strip_zeros(small),
    )
    sign = sa.case((column < 0, _lit("-")), else_=_lit(""))
    return sa.case((column == 0, _lit("0")), else_=sa.func.concat(sign, body))


def _mysql(
    family: str, column: sa.ColumnElement[Any], rounding: int | None
) -> sa.ColumnElement[Any]:
    char = mysql.CHAR()
    if family in ("integer", "boolean"):
        return sa.cast(column, char)
    if family == "decimal":
        value = sa.func.round(column, rounding) if rounding is not None else column
        text = _strip_zeros(sa.cast(value, char))
        return sa.case((text == _lit("-0"), _lit("0")), else_=text)
    if family == "float":
        return _my_plain(sa.cast(column, char))
    if family == "float4":
        return _my_float4(column)
    if family == "binary":
        return sa.func.lower(sa.func.hex(column))
    if family == "date":
        return sa.func.date_format(column, "%Y-%m-%d")
    if family == "time":  # a duration: -00:00:01.500000 and 838:59:59.000000 print too
        return sa.func.time_format(column, "%H:%i:%s.%f")
    if family == "timestamp":  # a TIMESTAMP prints in the session's zone: UTC
        return sa.func.date_format(column, "%Y-%m-%d %H:%i:%s.%f")
    if family == "uuid":
        return sa.func.lower(sa.cast(column, char))
    return column  # text, ENUM and SET labels, JSON: the text as stored


# -- SQLite ---------------------------------------------------------------------------


def _plain(number: Decimal) -> str:
    if not number.is_finite():
        return "NaN" if number.is_nan() else ("-Infinity" if number < 0 else "Infinity")
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _number(value: Any, scale: int | None, keep_minus: int) -> str | None:
    """A SQLite number (an integer, a double, or the exact digits as text) as a plain
    decimal; a double by its shortest round-trip digits (repr)."""
    if value is None:
        return None
    if isinstance(value, float):
        if keep_minus and value == 0 and math.copysign(1, value) < 0:
            return "-0"
        exact = Decimal(repr(value)) if math.isfinite(value) else Decimal(str(value))
    elif isinstance(value, int | str):
        try:
            exact = Decimal(value)
        except InvalidOperation:
            return str(value)  # not a number: its text, which no number equals
    else:
        return _text(value)
    if scale is not None and exact.is_finite():
        exact = exact.quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP, Context(prec=1000))
    return _plain(exact)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.hex() if isinstance(value, bytes) else str(value)  # a float: repr


def _parsed(parse: Callable[[str], str]) -> Callable[[Any], str | None]:
    """SQLite holds dates and times as ISO text, in whatever ISO form it was given."""

    def canonical(value: Any) -> str | None:
        if not isinstance(value, str):
            return _text(value)
        try:
            return parse(value)
        except (ValueError, OverflowError):
            return value  # not a date: its text, which no canonical date equals

    return canonical


def _utc(value: str) -> str:
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is not None:  # an offset: the instant, in UTC (as syncbeat copies it)
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(" ", "microseconds")


SQLITE_FUNCTIONS: dict[str, tuple[int, Callable[..., str | None]]] = {
    "syncbeat_number": (3, _number),
    "syncbeat_text": (1, _text),
    "syncbeat_lower": (1, lambda v: None if v is None else str(_text(v)).lower()),
    "syncbeat_date": (1, _parsed(lambda v: dt.date.fromisoformat(v).isoformat())),
    "syncbeat_time": (1, _parsed(lambda v: dt.time.fromisoformat(v).isoformat("microseconds"))),
    "syncbeat_timestamp": (1, _parsed(_utc)),
}


def _sqlite(
    family: str, column: sa.ColumnElement[Any], rounding: int | None, keep_minus: bool
) -> sa.ColumnElement[Any]:
    if family in NUMBERS:
        return sa.func.syncbeat_number(column, rounding, int(keep_minus))
    name = {"uuid": "lower"}.get(family, family)
    if name not in ("lower", "date", "time", "timestamp"):
        name = "text"  # text, labels, JSON, booleans (as stored: 0 and 1), bytes (as hex)
    return sa.sql.functions.Function(f"syncbeat_{name}", column)


# -- the interface ------------------------------------------------------------------------


def text_of(
    column: sa.ColumnElement[Any],
    own: TypeEngine[Any],
    dialect: str,
    *,
    other: TypeEngine[Any] | None = None,
    other_dialect: str | None = None,
) -> sa.ColumnElement[str]:
    """The canonical text of ``column`` (of type ``own`` in a ``dialect`` database),
    as its database computes it; NULL for NULL. Raises ConfigError for a column whose
    values cannot be made equal to their copies'."""
    family = _family(own, dialect)
    theirs = _family(other, other_dialect or dialect) if other is not None else family
    if family == "text" and theirs in NUMBERS and dialect == "sqlite":
        family = "decimal"  # SQLite's TEXT home for wide decimals: '0.0000000000' is 0
    elif family == "text" and theirs == "uuid":
        family = "uuid"
    if "other" in (family, theirs) and other_dialect not in (None, dialect):
        _refuse(own, dialect, other_dialect, "syncbeat copies it through a generic type")
    if "array" in (family, theirs) and other_dialect not in (None, "postgresql"):
        array = own if family == "array" else other
        item = getattr(array, "item_type", None)
        if isinstance(item, sa.Enum) or not isinstance(item, sa.Integer | sa.String | sa.Boolean):
            _refuse(
                own,
                dialect,
                other_dialect,
                f"an array of {item} becomes JSON whose text PostgreSQL would write otherwise "
                "(only arrays of integers, text and booleans are written as to_json writes them)",
            )
    rounding = _round_to(own, dialect, other, other_dialect) if family == "decimal" else None
    # -0.0 survives only between PostgreSQL databases: MariaDB and SQLite store it as 0.
    keep_minus = dialect == "postgresql" and other_dialect in (None, "postgresql")
    if dialect == "postgresql":
        text = _pg(family, column, rounding, keep_minus, own)
    elif dialect in MYSQL:
        text = _utf8mb4(_mysql(family, column, rounding))
    elif dialect == "sqlite":
        text = _sqlite(family, column, rounding, keep_minus)
    else:
        raise ConfigError(f"Verify does not know the {dialect} database.")
    return sa.type_coerce(text, sa.Text())


def install(engine: sa.Engine) -> None:
    """Register, on a SQLite engine, the functions :func:`text_of` uses there."""
    if engine.dialect.name != "sqlite":
        return

    def register(dbapi_connection: Any, _record: Any) -> None:
        for name, (arity, function) in SQLITE_FUNCTIONS.items():
            dbapi_connection.create_function(name, arity, function, deterministic=True)

    sa.event.listen(engine, "connect", register)
