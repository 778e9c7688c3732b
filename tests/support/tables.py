"""Tables the tests fill.

* The worker tests' tables on PostgreSQL: a source of ``rows`` rows, a destination with
  no key at all (a row appended twice stays twice), and a query that makes every page
  read slow, so that a job is surely mid-way for seconds, however fast the machine.
* The bad-input catalogue's ``items``: ten rows whose columns are keys that fail in
  each of the ways a key can.
"""

from __future__ import annotations

import sqlalchemy as sa

from syncbeat import Syncbeat
from tests.support import specs, sql

COLUMNS = "id, payload, amount, created"
SLOW_BATCH = 0.1  # seconds of pg_sleep per page read from a slow source


def make_source(url: str, table: str, rows: int) -> None:
    sql.execute(
        url,
        f"CREATE TABLE {table} (id integer PRIMARY KEY, payload text NOT NULL, "
        "amount numeric(12,2), created timestamp)",
        f"INSERT INTO {table} SELECT g, md5(g::text) || repeat('é', mod(g, 5)), "
        "CASE WHEN mod(g, 13) = 0 THEN NULL ELSE (g * 1.25)::numeric(12,2) END, "
        "timestamp '2024-01-01' + g * interval '1 minute' "
        f"FROM generate_series(1, {rows}) AS g",
    )


def make_dest(url: str, table: str) -> None:
    """A destination table with no key at all: a row appended twice stays twice."""
    sql.execute(
        url,
        f"CREATE TABLE {table} (id integer NOT NULL, payload text NOT NULL, "
        "amount numeric(12,2), created timestamp)",
    )


def slow_query(table: str, delay: float = SLOW_BATCH) -> str:
    """Each page read sleeps once (an InitPlan), so a job is surely mid-way for seconds."""
    return f"SELECT {COLUMNS} FROM {table} WHERE (SELECT pg_sleep({delay})) IS NOT NULL"


def assert_same_rows(source: str, dest: str, src_table: str, dst_table: str, rows: int) -> None:
    """The destination holds every source row once."""
    duplicates = sql.scalar(dest, f"SELECT count(*) - count(DISTINCT id) FROM {dst_table}")
    assert duplicates == 0, f"{dst_table}: {duplicates} row(s) appended twice"
    assert sql.scalar(dest, f"SELECT count(*) FROM {dst_table}") == rows
    assert sql.table_rows(dest, dst_table, ["id"]) == sql.table_rows(source, src_table, ["id"])


def queue(
    sb: Syncbeat,
    name: str,
    source: str,
    dest: str,
    *,
    table: str | None = None,
    query: str | None = None,
    dest_table: str,
    batch_size: int,
) -> int:
    """Queue a job appending ``table`` (or what ``query`` returns, keyed on id) into
    ``dest_table``; the job's id."""
    if table:
        spec = specs.table_copy(
            name, source, dest, table=table, dest_table=dest_table, key=[], mode="append",
            batch_size=batch_size,
        )  # fmt: skip
    else:
        assert query is not None
        spec = specs.query_copy(
            name, source, query, dest, dest_table=dest_table, mode="append", batch_size=batch_size
        )
    return specs.queue(sb, spec)


def make_items(url: str) -> None:
    """items: id primary key; grp repeats; nk is NULL in one row; code is unique except
    for its last two rows."""
    with sql.engine(url) as engine, engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, grp INTEGER, nk INTEGER, "
            "code INTEGER, name TEXT)"
        )
        conn.execute(
            sa.text("INSERT INTO items VALUES (:id, :grp, :nk, :code, :name)"),
            [
                {
                    "id": i,
                    "grp": i % 3,
                    "nk": None if i == 7 else i,
                    "code": min(i, 9),
                    "name": f"item {i}",
                }
                for i in range(1, 11)
            ],
        )
