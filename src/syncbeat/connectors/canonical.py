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
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeEngine

MYSQL = ("mysql", "mariadb")


def text_of(
    column: sa.ColumnElement[Any],
    own: TypeEngine[Any],
    dialect: str,
    *,
    other: TypeEngine[Any] | None = None,
    other_dialect: str | None = None,
) -> sa.ColumnElement[str]:
    """The canonical text of ``column`` (of type ``own`` in a ``dialect`` database),
    as its database computes it; NULL for NULL."""
    return sa.cast(column, sa.Text())  # a placeholder: the families follow


def install(engine: sa.Engine) -> None:
    """Register, on a SQLite engine, the functions :func:`text_of` uses there."""
