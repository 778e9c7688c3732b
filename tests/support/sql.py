"""SQL against a database, by URL: each call opens its own engine and disposes of it.

Statements go to the driver as written (``exec_driver_sql``): no ``:name`` parameters
are parsed out of them, and for pymysql and psycopg a literal ``%`` is written ``%%``.
``execute(..., as_text=True)`` sends them through SQLAlchemy's ``text()`` instead,
which escapes ``%`` for each driver itself: one statement with a ``%`` then runs on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat.engine.compare import normalise, rows_in_key_order


@contextmanager
def engine(url: str, *, autocommit: bool = False) -> Iterator[sa.Engine]:
    """An engine of its own for ``url``, disposed of at the end."""
    made = (
        sa.create_engine(url, isolation_level="AUTOCOMMIT") if autocommit else sa.create_engine(url)
    )
    try:
        yield made
    finally:
        made.dispose()


def execute(url: str, *statements: str, autocommit: bool = False, as_text: bool = False) -> None:
    """Run SQL on a test database, as its owner, in one transaction (or each statement
    on its own with ``autocommit``, for what cannot run in a transaction)."""
    with engine(url, autocommit=autocommit) as made, made.begin() as conn:
        for statement in statements:
            if as_text:
                conn.execute(sa.text(statement))
            else:
                conn.exec_driver_sql(statement)


def scalar(url: str, statement: str) -> Any:
    """The first column of the first row of a query (None if it returns no row)."""
    with engine(url) as made, made.connect() as conn:
        return conn.exec_driver_sql(statement).scalar()


def query(url: str, statement: str) -> list[tuple[Any, ...]]:
    """Every row of a query, as tuples."""
    with engine(url) as made, made.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(statement)]


def count_rows(url: str, table: str, *, missing_ok: bool = False) -> int:
    """How many rows ``table`` holds. With ``missing_ok``, a table the server says does
    not exist (yet) holds none."""
    with engine(url) as made:
        try:
            with made.connect() as conn:
                return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
        except sa.exc.ProgrammingError:
            if missing_ok:
                return 0
            raise


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def has_table(url: str, table: str) -> bool:
    if url.startswith("sqlite") and not sqlite_path(url).exists():
        return False  # not even the file was created
    with engine(url) as made:
        return sa.inspect(made).has_table(table)


def table_rows(url: str, table: str, key: Sequence[str]) -> list[tuple[Any, ...]]:
    """Every row of a table in key order, each value normalised so that rows held by two
    different databases compare equal when they hold the same data."""
    with engine(url) as made:
        return [tuple(normalise(v) for v in row) for row in rows_in_key_order(made, table, key)]


def table_names(url: str, schema: str | None = None) -> set[str]:
    """The tables of the database (of ``schema``, if given)."""
    with engine(url) as made:
        return set(sa.inspect(made).get_table_names(schema=schema))


def primary_key(url: str, table: str) -> list[str]:
    """The columns of the table's primary key, in order."""
    with engine(url) as made:
        return list(sa.inspect(made).get_pk_constraint(table)["constrained_columns"])


def column_types(url: str, table: str) -> dict[str, sa.types.TypeEngine[Any]]:
    """Each column's type, as SQLAlchemy reflects it."""
    with engine(url) as made:
        return {c["name"]: c["type"] for c in sa.inspect(made).get_columns(table)}
