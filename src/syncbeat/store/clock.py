"""The store's clock, as SQL.

Every lease comparison and expiry is computed by the store's database, never by a
worker's clock, so clock skew between machines cannot make a live job look dead or a
dead one look alive. Times are seconds since the Unix epoch (a float): the same column
type and arithmetic on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class store_now(FunctionElement[float]):
    """The store's current time in epoch seconds, with sub-second precision."""

    type = sa.Double()
    inherit_cache = True
    name = "store_now"


@compiles(store_now, "postgresql")
def _pg_now(element: store_now, compiler: SQLCompiler, **kw: Any) -> str:
    # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
    return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


@compiles(store_now, "sqlite")
def _sqlite_now(element: store_now, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday('now') carries milliseconds; CURRENT_TIMESTAMP only whole seconds.
    return "((julianday('now') - 2440587.5) * 86400.0)"


def now() -> sa.ColumnElement[float]:
    return store_now()


def now_plus(seconds: float) -> sa.ColumnElement[float]:
    return store_now() + sa.literal(float(seconds), sa.Double())
