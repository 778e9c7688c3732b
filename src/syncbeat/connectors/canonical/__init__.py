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

from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

from syncbeat.connectors.canonical import families, mariadb, postgres, sqlite
from syncbeat.connectors.typemap import MYSQL
from syncbeat.vocabulary.errors import ConfigError


def _families(
    own: TypeEngine[Any], dialect: str, other: TypeEngine[Any] | None, other_dialect: str | None
) -> tuple[str, str]:
    """The family of a column on this side and on the other: the same for both sides of
    a copy (a text that holds the other side's uuids or wide decimals is one of those)."""
    family = families.family(own, dialect)
    theirs = families.family(other, other_dialect or dialect) if other is not None else family
    if family == "text" and theirs in families.NUMBERS and dialect == "sqlite":
        family = "decimal"  # SQLite's TEXT home for wide decimals: '0.0000000000' is 0
    elif family == "text" and theirs == "uuid":
        family = "uuid"
    return family, theirs


def plain(
    own: TypeEngine[Any],
    dialect: str,
    *,
    other: TypeEngine[Any] | None = None,
    other_dialect: str | None = None,
) -> bool:
    """Whether the column's canonical text is plain (digits, signs, points, colons,
    dashes, hex: never a comma or a backslash), on both sides alike. A checksum's row
    text joins plain texts as they are; any other is length-prefixed."""
    return _families(own, dialect, other, other_dialect)[0] in families.PLAIN


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
    family, theirs = _families(own, dialect, other, other_dialect)
    if "other" in (family, theirs) and other_dialect not in (None, dialect):
        families.refuse(own, dialect, other_dialect, "syncbeat copies it through a generic type")
    if "array" in (family, theirs) and other_dialect not in (None, "postgresql"):
        array = own if family == "array" else other
        item = getattr(array, "item_type", None)
        if isinstance(item, sa.Enum) or not isinstance(item, sa.Integer | sa.String | sa.Boolean):
            families.refuse(
                own,
                dialect,
                other_dialect,
                f"an array of {item} becomes JSON whose text PostgreSQL would write otherwise "
                "(only arrays of integers, text and booleans are written as to_json writes them)",
            )
    rounding = (
        families.round_to(own, dialect, other, other_dialect) if family == "decimal" else None
    )
    # -0.0 survives only between PostgreSQL databases: MariaDB and SQLite store it as 0.
    keep_minus = dialect == "postgresql" and other_dialect in (None, "postgresql")
    if dialect == "postgresql":
        text = postgres.text(family, column, rounding, keep_minus, own)
    elif dialect in MYSQL:
        text = mariadb.text(family, column, rounding, own)
        # md5 must see UTF-8 bytes, as PostgreSQL's does; a plain text is ASCII anyway.
        text = text if family in families.PLAIN else mariadb.utf8mb4(text)
    elif dialect == "sqlite":
        text = sqlite.text(family, column, rounding, keep_minus)
    else:
        raise ConfigError(f"Verify does not know the {dialect} database.")
    return sa.type_coerce(text, sa.Text())


def install(engine: sa.Engine) -> None:
    """Register, on a SQLite engine, the functions :func:`text_of` uses there."""
    if engine.dialect.name != "sqlite":
        return

    def register(dbapi_connection: Any, _record: Any) -> None:
        for name, (arity, function) in sqlite.SQLITE_FUNCTIONS.items():
            dbapi_connection.create_function(name, arity, function, deterministic=True)

    sa.event.listen(engine, "connect", register)
