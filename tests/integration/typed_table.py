"""The typed table of the cross-database syncs (test_cross_db.py): the column types real
tables have (big integers, unicode text with 4-byte characters, decimals, doubles,
booleans, dates, naive and aware timestamps, JSON), deterministic values, and a NULL in
every nullable column now and then."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tests.support.sql import execute

ROWS = 2_400

_DDL = {
    "postgresql": """
        CREATE TABLE {t} (
            id integer PRIMARY KEY,
            big bigint,
            name text,
            label varchar(40),
            amount numeric(12, 2),
            ratio double precision,
            flag boolean,
            day date,
            at timestamp,
            at_tz timestamptz,
            doc jsonb
        )""",
    "mysql": """
        CREATE TABLE {t} (
            id INT PRIMARY KEY,
            big BIGINT,
            name TEXT,
            label VARCHAR(40),
            amount DECIMAL(12, 2),
            ratio DOUBLE,
            flag BOOLEAN,
            day DATE,
            at DATETIME(6),
            doc JSON
        ) DEFAULT CHARSET = utf8mb4""",
    "sqlite": """
        CREATE TABLE {t} (
            id INTEGER PRIMARY KEY,
            big BIGINT,
            name TEXT,
            label VARCHAR(40),
            amount NUMERIC(12, 2),
            ratio FLOAT,
            flag BOOLEAN,
            day DATE,
            at DATETIME,
            doc JSON
        )""",
}


def dialect_of(url: str) -> str:
    name = sa.engine.make_url(url).get_backend_name()
    return "mysql" if name in ("mysql", "mariadb") else name


def value_row(i: int, *, with_tz: bool) -> dict[str, Any]:
    """Row ``i``: deterministic values, and a NULL in each nullable column now and then
    (every 50th row is NULL everywhere but the key)."""
    everything_null = i % 50 == 0
    row: dict[str, Any] = {
        "id": i,
        "big": (-1) ** i * i * 10_000_000_019,
        "name": f"naïve café №{i} — 日本語 😀 {'ß' * (i % 5)}",
        "label": f"label-{i % 97}",
        "amount": Decimal(f"{(-1) ** i * (i * 7919 % 10_000_000)}.{i % 100:02d}"),
        "ratio": (-1) ** i * i / 7,
        "flag": i % 3 == 0,
        "day": dt.date(1999, 12, 31) + dt.timedelta(days=i * 3),
        "at": dt.datetime(2024, 2, 28, 23, 59, 59)
        + dt.timedelta(seconds=i * 3_607, microseconds=i * 13),
        "doc": {"i": i, "tags": ["a", "é", "😀"], "nested": {"half": i / 2, "ok": i % 2 == 0}},
    }
    if with_tz:
        zone = dt.timezone(dt.timedelta(hours=i % 27 - 12, minutes=30 * (i % 2)))
        row["at_tz"] = dt.datetime(2024, 3, 31, 1, 30, tzinfo=zone) + dt.timedelta(minutes=i * 37)
    for n, column in enumerate(c for c in row if c != "id"):
        if everything_null or i % (7 + 2 * n) == 0:
            row[column] = None
    return row


def _insert_table(dialect: str, table: str, with_tz: bool) -> sa.Table:
    """A Core description of the source table, only to bind Python values for inserts."""
    # asdecimal only off on SQLite; Numeric's overloads want it as a literal (True is
    # its default), hence the two spellings
    amount: sa.Numeric[Any] = (
        sa.Numeric(12, 2, asdecimal=False) if dialect == "sqlite" else sa.Numeric(12, 2)
    )
    columns: list[sa.Column[Any]] = [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("big", sa.BigInteger),
        sa.Column("name", sa.Text),
        sa.Column("label", sa.String(40)),
        sa.Column("amount", amount),
        sa.Column("ratio", sa.Double),
        sa.Column("flag", sa.Boolean),
        sa.Column("day", sa.Date),
        sa.Column("at", sa.DateTime),
        sa.Column("doc", sa.JSON(none_as_null=True)),
    ]
    if with_tz:
        columns.insert(9, sa.Column("at_tz", sa.DateTime(timezone=True)))
    return sa.Table(table, sa.MetaData(), *columns)


def make_source(
    url: str, table: str = "src", ids: range = range(1, ROWS + 1), *, create: bool = True
) -> None:
    """Create (or add rows to) the typed source table in the database at ``url``."""
    dialect = dialect_of(url)
    with_tz = dialect == "postgresql"
    if create:
        execute(url, _DDL[dialect].format(t=table), as_text=True)
    if dialect == "sqlite":
        # SQLite keeps NUMERIC as it is given; give it the exact text of the decimal.
        rows = [
            {**r, "amount": None if r["amount"] is None else str(r["amount"])}
            for r in (value_row(i, with_tz=False) for i in ids)
        ]
    else:
        rows = [value_row(i, with_tz=with_tz) for i in ids]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(_insert_table(dialect, table, with_tz).insert(), rows)
    finally:
        engine.dispose()


def null_counts(url: str, table: str) -> dict[str, int]:
    """SQL NULLs per column, counted by the database itself (a JSON ``null`` is not one)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tab = sa.Table(table, sa.MetaData(), autoload_with=conn)
            counts = [sa.func.count().filter(c.is_(None)).label(c.name) for c in tab.columns]
            if engine.dialect.name in ("mysql", "mariadb"):  # no FILTER clause there
                counts = [
                    sa.func.sum(sa.case((c.is_(None), 1), else_=0)).label(c.name)
                    for c in tab.columns
                ]
            row = conn.execute(sa.select(*counts)).one()
            return {k: int(v) for k, v in row._mapping.items()}
    finally:
        engine.dispose()
