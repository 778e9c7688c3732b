"""Bad input in the data and the SQL, through the installed CLI.

A value the destination cannot hold (too long, out of range, a NUL byte for
PostgreSQL, an emoji for a utf8mb3 column), text that is not UTF-8, a query that is
not SQL or repeats a column name, a destination table of another shape: each fails the
job with the driver's words for the problem and a hint, no traceback, and leaves the
destination exactly as it was before the failed batch. The source has 8 rows, synced in
batches of 4, with the bad value in row 6: batch 1 commits, batch 2 fails, and the
destination must hold rows 1-4 and nothing of batch 2. An empty source and a 10 MB row
are not errors: they must sync, and say what they did.
"""

from __future__ import annotations

import itertools
import subprocess
from typing import Any

import pytest
import sqlalchemy as sa

from syncbeat.connectors import engines
from tests.support.cli import fails, output, run_cli, sync_args
from tests.support.jobs import only_job
from tests.support.sql import execute, has_table, table_rows

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb

BATCH = 4
BAD_ID = 6  # in batch 2, and past the row batch 1 peeks at (keyset pages read n + 1)


def _source(url: str, val_type: str, good: list[Any], bad_sql: str | None = None) -> None:
    """items(id, val): ids 1.. with the ``good`` values, and row BAD_ID holding the SQL
    expression ``bad_sql`` (written as SQL, so it can hold what a parameter cannot)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE items (id INTEGER PRIMARY KEY, val {val_type})")
        ids = (i for i in itertools.count(1) if bad_sql is None or i != BAD_ID)
        if good:
            conn.execute(
                sa.text("INSERT INTO items VALUES (:id, :val)"),
                [{"id": i, "val": v} for v, i in zip(good, ids, strict=False)],
            )
        if bad_sql is not None:
            conn.exec_driver_sql(f"INSERT INTO items VALUES ({BAD_ID}, {bad_sql})")
    engine.dispose()


def _sync(store: str, src: str, dst: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*sync_args(src, dst, *extra, table="items", batch_size=BATCH), store=store)


def _kept_only_the_first_batch(store: str, dst: str, good: list[Any]) -> None:
    """The destination holds batch 1 and nothing of the batch that failed; the job
    failed with its checkpoint on batch 1, so running it again continues there."""
    assert table_rows(dst, "items", ["id"]) == [(i, good[i - 1]) for i in range(1, BATCH + 1)]
    job = only_job(store)
    assert job["status"] == "failed"
    assert job["rows_done"] == BATCH
    assert job["checkpoint"]["batch_index"] == 1
    assert job["last_error"]


TEXTS = [f"v{i}" for i in range(1, 8)]
NUMBERS = list(range(1, 8))


# -- values the destination cannot hold ---------------------------------------------------


@MARIADB
@pytest.mark.parametrize("mode", ["upsert", "append"])
def test_value_too_long_for_a_mariadb_column(
    store_url: str, sqlite_url: str, mariadb_url: str, mode: str
) -> None:
    # append loads with LOAD DATA LOCAL, where MariaDB turns the error into a warning
    # and stores the value cut short: that must fail the batch as well.
    _source(sqlite_url, "TEXT", TEXTS, "'far too long for five'")
    execute(mariadb_url, "CREATE TABLE items (id INT PRIMARY KEY, val VARCHAR(5))")
    result = _sync(store_url, sqlite_url, mariadb_url, "--mode", mode)
    fails(result, 1, "column 'val'", "widen the")
    _kept_only_the_first_batch(store_url, mariadb_url, TEXTS)


@pytest.mark.parametrize(
    ("engine", "mode"),
    [
        pytest.param("postgresql", "upsert", marks=PG),
        pytest.param("mariadb", "append", marks=MARIADB),
    ],
)
def test_number_out_of_range(
    request: pytest.FixtureRequest, store_url: str, sqlite_url: str, engine: str, mode: str
) -> None:
    dst = request.getfixturevalue("pg_url" if engine == "postgresql" else "mariadb_url")
    _source(sqlite_url, "INTEGER", NUMBERS, "100000")
    execute(dst, "CREATE TABLE items (id INTEGER PRIMARY KEY, val SMALLINT)")
    result = _sync(store_url, sqlite_url, dst, "--mode", mode)
    fails(result, 1, "out of range", "does not fit the destination column's type")
    _kept_only_the_first_batch(store_url, dst, NUMBERS)


@PG
def test_nul_byte_in_text_bound_for_postgresql(
    store_url: str, sqlite_url: str, pg_url: str
) -> None:
    _source(sqlite_url, "TEXT", TEXTS, "'a' || char(0) || 'b'")
    result = _sync(store_url, sqlite_url, pg_url)
    fails(result, 1, "cannot contain nul (0x00)", "remove it with a --query")
    _kept_only_the_first_batch(store_url, pg_url, TEXTS)


@PG
def test_a_postgresql_date_python_cannot_hold(store_url: str, pg_url: str, sqlite_url: str) -> None:
    """'infinity' has no Python date: the job fails on that batch, saying how to map it
    in a --query; doing so then copies every row."""
    dates = [f"2024-01-0{i}" for i in range(1, 8)]  # as SQLite keeps dates: ISO text
    _source(pg_url, "DATE", dates, "'infinity'")
    result = _sync(store_url, pg_url, sqlite_url)
    fails(result, 1, "date too large", "--query that maps it")
    _kept_only_the_first_batch(store_url, sqlite_url, dates)

    mapped = "SELECT id, CASE WHEN val = 'infinity' THEN NULL ELSE val END AS val FROM items"
    again = run_cli(
        *sync_args(pg_url, sqlite_url, query=mapped, key="id", to_table="mapped"), store=store_url
    )
    assert again.returncode == 0, again.stdout + again.stderr
    rows = dict(table_rows(sqlite_url, "mapped", ["id"]))
    assert rows[BAD_ID] is None and len(rows) == len(dates) + 1


def test_invalid_utf8_from_sqlite(store_url: str, sqlite_url: str, sqlite_url2: str) -> None:
    _source(sqlite_url, "TEXT", TEXTS, "CAST(X'61FF62' AS TEXT)")
    result = _sync(store_url, sqlite_url, sqlite_url2)
    fails(result, 1, "could not decode to utf-8 column 'val'", "cast(col as blob)")
    _kept_only_the_first_batch(store_url, sqlite_url2, TEXTS)


@MARIADB
@pytest.mark.parametrize("reader", ["pymysql", "c"])
@pytest.mark.parametrize("engine", [pytest.param("postgresql", marks=PG), "sqlite"])
def test_a_mariadb_zero_date_is_refused_by_name_not_made_null(
    request: pytest.FixtureRequest, store_url: str, mariadb_url: str, engine: str, reader: str
) -> None:
    """MariaDB keeps 0000-00-00, which no other database can hold; mysqlclient reads it
    as None. It must fail its batch by name on either driver, never arrive as NULL."""
    dst = request.getfixturevalue("pg_url" if engine == "postgresql" else "sqlite_url")
    dates = [f"2024-01-0{i}" for i in range(1, 8)]
    _source(mariadb_url, "DATE", dates, "'0000-00-00'")
    env = {engines.READER_ENV: "pymysql"} if reader == "pymysql" else {}
    result = run_cli(
        *sync_args(mariadb_url, dst, table="items", batch_size=BATCH), store=store_url, env=env
    )
    fails(result, 1, "column 'val'", "0000-00-00", "NULLIF(col, '0000-00-00')")
    assert [(i, str(v)) for i, v in table_rows(dst, "items", ["id"])] == [
        (i, dates[i - 1]) for i in range(1, BATCH + 1)
    ]


@MARIADB
@pytest.mark.parametrize("mode", ["upsert", "append"])
def test_four_byte_utf8_into_a_utf8mb3_column(
    store_url: str, sqlite_url: str, mariadb_url: str, mode: str
) -> None:
    _source(sqlite_url, "TEXT", TEXTS, "'smile \U0001f600'")
    execute(
        mariadb_url,
        "CREATE TABLE items (id INT PRIMARY KEY, val VARCHAR(40)) CHARACTER SET utf8mb3",
    )
    result = _sync(store_url, sqlite_url, mariadb_url, "--mode", mode)
    fails(result, 1, "incorrect string value", "convert to character set utf8mb4")
    _kept_only_the_first_batch(store_url, mariadb_url, TEXTS)


@pytest.mark.parametrize(
    "engine", [pytest.param("postgresql", marks=PG), pytest.param("mariadb", marks=MARIADB)]
)
def test_a_ten_megabyte_row_syncs_whole(
    request: pytest.FixtureRequest, store_url: str, sqlite_url: str, engine: str
) -> None:
    """10 MB in one value is within what both servers accept (MariaDB's default
    max_allowed_packet is 16 MB; LOAD DATA streams the file anyway): it must arrive
    byte for byte, not cut, and not fail."""
    dst = request.getfixturevalue("pg_url" if engine == "postgresql" else "mariadb_url")
    pattern = "syncbeat \u00e9t\u00e9 \u20ac "
    big = pattern * (10 * 2**20 // len(pattern.encode()) + 1)  # just over 10 MB as UTF-8
    _source(sqlite_url, "TEXT", ["small", big, "after"])
    result = _sync(store_url, sqlite_url, dst)
    assert result.returncode == 0, output(result)
    assert "completed: 3 rows" in result.stdout
    rows = table_rows(dst, "items", ["id"])
    assert [len(v) for _, v in rows] == [5, len(big), 5]
    assert rows == table_rows(sqlite_url, "items", ["id"])


# -- the destination table has another shape ------------------------------------------------


def test_destination_table_lacks_a_source_column(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    _source(sqlite_url, "TEXT", TEXTS)
    execute(
        sqlite_url2,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, other TEXT)",
        "INSERT INTO items VALUES (100, 'kept')",
    )
    result = _sync(store_url, sqlite_url, sqlite_url2)
    fails(result, 1, "lacks the source column(s) val", "--mode replace")
    assert table_rows(sqlite_url2, "items", ["id"]) == [(100, "kept")]
    assert only_job(store_url)["status"] == "failed"


@PG
def test_destination_column_of_an_incompatible_type(
    store_url: str, sqlite_url: str, pg_url: str
) -> None:
    _source(sqlite_url, "TEXT", TEXTS)
    execute(
        pg_url,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, val INTEGER)",
        "INSERT INTO items VALUES (100, 7)",
    )
    result = _sync(store_url, sqlite_url, pg_url)
    fails(result, 1, "invalid input syntax for type integer", "does not fit the destination")
    assert table_rows(pg_url, "items", ["id"]) == [(100, 7)]
    job = only_job(store_url)
    assert job["status"] == "failed" and job["rows_done"] == 0


def test_upsert_into_a_table_without_a_unique_key(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    _source(sqlite_url, "TEXT", TEXTS)
    execute(sqlite_url2, "CREATE TABLE items (id INTEGER, val TEXT)")
    result = _sync(store_url, sqlite_url, sqlite_url2)
    fails(result, 1, "upsert needs a primary key or unique index on (id)", "--mode append")
    assert table_rows(sqlite_url2, "items", ["id"]) == []


# -- the source is a query that cannot work, or empty ---------------------------------------


def _sync_query(store: str, src: str, dst: str, query: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*sync_args(src, dst, query=query, key="id", to_table="picked"), store=store)


def test_sql_syntax_error_in_the_query(store_url: str, sqlite_url: str, sqlite_url2: str) -> None:
    _source(sqlite_url, "TEXT", TEXTS)
    result = _sync_query(store_url, sqlite_url, sqlite_url2, "SELEC id, val FROM items")
    fails(result, 1, "syntax error", "check the sql given with --query")
    assert not has_table(sqlite_url2, "picked")
    assert only_job(store_url)["status"] == "failed"


@pytest.mark.parametrize(
    "engine",
    ["sqlite", pytest.param("postgresql", marks=PG), pytest.param("mariadb", marks=MARIADB)],
)
def test_duplicate_column_names_in_the_query(
    request: pytest.FixtureRequest, store_url: str, sqlite_url2: str, engine: str
) -> None:
    # SQLite would quietly rename the second `val` to `val:1` in the probe's subquery.
    src = request.getfixturevalue(
        {"sqlite": "sqlite_url", "postgresql": "pg_url"}.get(engine, "mariadb_url")
    )
    _source(src, "TEXT", TEXTS)
    query = "SELECT id, val, id * 2 AS val FROM items"
    result = _sync_query(store_url, src, sqlite_url2, query)
    fails(result, 1, "val", "own name with as")
    assert not has_table(sqlite_url2, "picked")
    assert only_job(store_url)["status"] == "failed"


def test_an_empty_source_completes_with_zero_rows(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    _source(sqlite_url, "TEXT", [])
    result = _sync(store_url, sqlite_url, sqlite_url2)
    assert result.returncode == 0, output(result)
    assert "completed: 0 rows" in result.stdout
    assert table_rows(sqlite_url2, "items", ["id"]) == []  # created, with the source's columns
    job = only_job(store_url)
    assert job["status"] == "completed" and job["rows_done"] == 0
