"""The type families whose values verify turns into one text each, and the decimal
places a value is rounded to before its text is made."""

from __future__ import annotations

from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import NullType, TypeEngine

from syncbeat.connectors.typemap import MYSQL
from syncbeat.vocabulary.errors import ConfigError

NUMBERS = ("integer", "decimal", "float", "float4")
PLAIN = frozenset((*NUMBERS, "boolean", "binary", "date", "time", "timestamp", "uuid"))
"""Families whose texts never hold a comma or a backslash (nor anything but ASCII)."""


def family(own: TypeEngine[Any], dialect: str) -> str:
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


def scale(own: TypeEngine[Any], dialect: str | None) -> int | None:
    """The decimal places a column holds its values to; SQLite keeps none (it stores a
    DECIMAL(p,s) value as it comes)."""
    if dialect == "sqlite" or isinstance(own, sa.Float) or not isinstance(own, sa.Numeric):
        return None
    return own.scale


def round_to(
    own: TypeEngine[Any], dialect: str, other: TypeEngine[Any] | None, other_dialect: str | None
) -> int | None:
    """The places to round a decimal to before its text is made: the other side's scale
    when it holds fewer places than this side (PostgreSQL's numeric into MariaDB's
    DECIMAL(65,30); SQLite's DECIMAL(38,10), unrounded in SQLite, into numeric(38,10))."""
    theirs = scale(other, other_dialect) if other is not None else None
    mine = scale(own, dialect)
    if theirs is None or (mine is not None and mine <= theirs):
        return None
    return theirs


def refuse(own: TypeEngine[Any], dialect: str, other_dialect: str | None, why: str) -> NoReturn:
    raise ConfigError(
        f"Verify cannot compare a {own} column of {dialect} with its copy in "
        f"{other_dialect}: {why}.",
        hint="Leave the column out of verify, or compare it in a --query that casts it to "
        "text on both sides.",
    )


def const(text: str) -> sa.ColumnElement[Any]:
    """A constant written into the statement (no bound parameter: these repeat)."""
    return sa.literal_column("'" + text.replace("'", "''") + "'")
