"""The canonical texts on SQLite: Python functions registered on its connections (it
holds each value with its own type, whatever the column's, so SQL alone cannot)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from syncbeat.connectors.canonical.families import NUMBERS


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


def text(
    family: str, column: sa.ColumnElement[Any], rounding: int | None, keep_minus: bool
) -> sa.ColumnElement[Any]:
    if family in NUMBERS:
        return sa.func.syncbeat_number(column, rounding, int(keep_minus))
    name = {"uuid": "lower"}.get(family, family)
    if name not in ("lower", "date", "time", "timestamp"):
        name = "text"  # text, labels, JSON, booleans (as stored: 0 and 1), bytes (as hex)
    return sa.sql.functions.Function(f"syncbeat_{name}", column)
