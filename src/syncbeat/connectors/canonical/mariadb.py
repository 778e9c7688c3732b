"""The canonical texts, as MariaDB (and MySQL) computes them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeEngine

from syncbeat.connectors.canonical.families import const


class utf8mb4(FunctionElement[str]):
    """CONVERT(x USING utf8mb4): md5 must see UTF-8 bytes, as PostgreSQL's does, and
    the caller's CONCAT must meet one character set."""

    type = sa.Text()
    inherit_cache = True


@compiles(utf8mb4)
def _compileutf8mb4(element: utf8mb4, compiler: Any, **kw: Any) -> str:
    (argument,) = element.clauses
    return f"CONVERT({compiler.process(argument, **kw)} USING utf8mb4)"


def _strip_zeros(text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """'12.500' → '12.5', '1.000' → '1'; a text without a point is left alone."""
    stripped = sa.func.regexp_replace(text, const("[.]?0+$"), const(""))
    return sa.case((sa.func.locate(const("."), text) > 0, stripped), else_=text)


def _my_plain(printed: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """A double as MariaDB prints it (shortest digits, '1.5e-7' past its range of plain
    numbers) as a plain decimal: the exponent moves the point."""
    negative = sa.func.left(printed, 1) == const("-")
    unsigned = sa.case((negative, sa.func.substring(printed, 2)), else_=printed)
    mantissa = sa.func.substring_index(unsigned, const("e"), 1)
    exponent = sa.cast(sa.func.substring_index(unsigned, const("e"), -1), mysql.INTEGER())
    whole = sa.func.substring_index(mantissa, const("."), 1)
    fraction = sa.case(
        (
            sa.func.locate(const("."), mantissa) > 0,
            sa.func.substring_index(mantissa, const("."), -1),
        ),
        else_=const(""),
    )
    digits = sa.func.concat(whole, fraction)
    point = sa.func.length(whole) + exponent  # where the point goes, counted in digits
    size = sa.func.length(digits)
    body = sa.case(
        (point <= 0, sa.func.concat(const("0."), sa.func.repeat(const("0"), -point), digits)),
        (point >= size, sa.func.concat(digits, sa.func.repeat(const("0"), point - size))),
        else_=sa.func.concat(
            sa.func.left(digits, point), const("."), sa.func.substring(digits, point + 1)
        ),
    )
    signed = sa.func.concat(sa.case((negative, const("-")), else_=const("")), _strip_zeros(body))
    return sa.case((sa.func.locate(const("e"), printed) == 0, printed), else_=signed)


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
        text = sa.func.concat(digits_of(count), const("e"), magnitude + 1 - count)
        return sa.cast(sa.cast(text, mysql.DOUBLE()), mysql.FLOAT()) == size

    count = sa.case(*((reads_back(n), n) for n in (6, 7, 8)), else_=9)
    number = sa.cast(sa.cast(digits_of(count), mysql.DECIMAL(10, 0)), mysql.CHAR())
    power = magnitude + 1 - count
    padded = sa.func.lpad(number, sa.func.greatest(sa.func.length(number), 1 - power), const("0"))
    cut = sa.func.length(padded) + power
    small = sa.func.concat(
        sa.func.left(padded, cut), const("."), sa.func.substring(padded, cut + 1)
    )
    body = sa.case(
        (power >= 0, sa.func.concat(number, sa.func.repeat(const("0"), power))),
        else_=_strip_zeros(small),
    )
    sign = sa.case((column < 0, const("-")), else_=const(""))
    return sa.case((column == 0, const("0")), else_=sa.func.concat(sign, body))


class _trailing_trimmed(FunctionElement[str]):
    """TRIM(TRAILING 'c' FROM x), which SQLAlchemy has no function for."""

    type = sa.Text()
    inherit_cache = True


@compiles(_trailing_trimmed)
def _compile_trailing(element: _trailing_trimmed, compiler: Any, **kw: Any) -> str:
    character, argument = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"TRIM(TRAILING {character} FROM {argument})"


def _trailing(character: str, text: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return _trailing_trimmed(const(character), text)


def text(
    family: str, column: sa.ColumnElement[Any], rounding: int | None, own: TypeEngine[Any]
) -> sa.ColumnElement[Any]:
    char = mysql.CHAR()
    if family in ("integer", "boolean"):
        return sa.cast(column, char)
    if family == "decimal":
        places = getattr(own, "scale", None)
        if rounding is None and places == 0:
            return sa.cast(column, char)
        if rounding is None and places:
            # DECIMAL(p,s) prints its s places, and never a negative zero: trimming is all
            # (by far the cheapest way: this runs for every row of a verify).
            return _trailing(".", _trailing("0", sa.cast(column, char)))
        value = sa.func.round(column, rounding) if rounding is not None else column
        text = _strip_zeros(sa.cast(value, char))
        return sa.case((text == const("-0"), const("0")), else_=text)
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
        if getattr(own, "fsp", None) == 6:  # prints as wanted, cheaper than formatting
            return sa.cast(column, char)
        return sa.func.date_format(column, "%Y-%m-%d %H:%i:%s.%f")
    if family == "uuid":
        return sa.func.lower(sa.cast(column, char))
    return column  # text, ENUM and SET labels, JSON: the text as stored
