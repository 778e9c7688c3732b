"""Upsert updates rows in place, on every engine and every write path.

A destination table often holds more than the source gives it: columns of its own,
child tables with ``ON DELETE CASCADE``, other unique indexes. An upsert must update the
source's columns of the row with the same key, and nothing else: columns the source
lacks keep their values, no row is deleted (so no child is), and a source row whose
value another row holds in a unique index fails the batch with a clear error instead of
overwriting or deleting that other row.

Pairs: PostgreSQL into MariaDB (LOAD DATA into a staging table, then one merge),
SQLite into PostgreSQL (COPY into a staging table, then ON CONFLICT), PostgreSQL into
PostgreSQL (the binary COPY fast path) and SQLite into SQLite (ON CONFLICT statements).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.cli import fails, run_cli, sync_args
from tests.support.sql import execute, query

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb

ROWS = 120
BATCH = "25"

PAIRS = [
    pytest.param(("pg_url", "mariadb_url"), id="pg-to-mariadb", marks=[PG, MARIADB]),
    pytest.param(("sqlite_url", "pg_url"), id="sqlite-to-pg", marks=PG),
    pytest.param(("pg_url", "pg_url2"), id="pg-to-pg-fast-path", marks=PG),
    pytest.param(("sqlite_url", "sqlite_url2"), id="sqlite-to-sqlite"),
]
SERVERS = PAIRS[:3]  # foreign keys: SQLite enforces none unless each connection asks

SOURCE = "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(80), email VARCHAR(80))"
DEST = (
    "CREATE TABLE dst (id INTEGER PRIMARY KEY, name VARCHAR(80), email VARCHAR(80), "
    "extra VARCHAR(40) NOT NULL DEFAULT 'dflt', touched INTEGER)"
)


@pytest.fixture
def urls(request: pytest.FixtureRequest) -> tuple[str, str]:
    source, dest = request.param
    return request.getfixturevalue(source), request.getfixturevalue(dest)


def _email(i: int) -> str:
    return f"'user{i}@example.com'"


def _source(url: str, rows: range = range(1, ROWS + 1), email: Any = _email) -> None:
    values = ", ".join(f"({i}, 'new {i}', {email(i)})" for i in rows)
    execute(url, SOURCE, f"INSERT INTO items VALUES {values}")


def _upsert(store: str, src: str, dst: str) -> Any:
    args = sync_args(src, dst, table="items", to_table="dst", mode="upsert", batch_size=BATCH)
    return run_cli(*args, store=store)


@pytest.mark.parametrize("urls", PAIRS, indirect=True)
def test_columns_the_source_lacks_keep_their_values(store_url: str, urls: tuple[str, str]) -> None:
    src, dst = urls
    _source(src)
    # Half the keys are in the destination already, with values of its own.
    old = ", ".join(f"({i}, 'old {i}', 'old{i}@x', 'kept {i}', {i * 10})" for i in range(1, 61))
    execute(dst, DEST, f"INSERT INTO dst VALUES {old}")

    _upsert(store_url, src, dst).check_returncode()
    _upsert(store_url, src, dst).check_returncode()  # again: still in place

    rows = query(dst, "SELECT id, name, email, extra, touched FROM dst ORDER BY id")
    assert rows == [
        (i, f"new {i}", f"user{i}@example.com")
        + ((f"kept {i}", i * 10) if i <= 60 else ("dflt", None))
        for i in range(1, ROWS + 1)
    ]


@pytest.mark.parametrize("urls", SERVERS, indirect=True)
def test_children_with_on_delete_cascade_survive(store_url: str, urls: tuple[str, str]) -> None:
    src, dst = urls
    _source(src)
    execute(
        dst,
        DEST,
        "INSERT INTO dst (id, name) VALUES " + ", ".join(f"({i}, 'old')" for i in range(1, 61)),
        "CREATE TABLE child (id INTEGER PRIMARY KEY, dst_id INTEGER NOT NULL, "
        "FOREIGN KEY (dst_id) REFERENCES dst (id) ON DELETE CASCADE)",
        "INSERT INTO child VALUES " + ", ".join(f"({i}, {i % 60 + 1})" for i in range(1, 181)),
    )

    _upsert(store_url, src, dst).check_returncode()

    assert query(dst, "SELECT id, dst_id FROM child ORDER BY id") == [
        (i, i % 60 + 1) for i in range(1, 181)
    ]
    assert query(dst, "SELECT COUNT(*), MIN(name) FROM dst") == [(ROWS, "new 1")]


def _refused_and_untouched(store: str, src: str, dst: str, *words: str) -> None:
    before = query(dst, "SELECT * FROM dst ORDER BY id")
    result = _upsert(store, src, dst)
    fails(result, 1, "unique index", *words, "nothing of this batch was written")
    assert query(dst, "SELECT * FROM dst ORDER BY id") == before


@pytest.mark.parametrize("urls", PAIRS, indirect=True)
def test_a_value_another_row_holds_in_a_unique_index_fails_the_batch(
    store_url: str, urls: tuple[str, str]
) -> None:
    src, dst = urls
    _source(src, email=lambda i: "'taken@example.com'" if i == 7 else f"'user{i}@example.com'")
    execute(
        dst,
        DEST,
        "CREATE UNIQUE INDEX dst_email ON dst (email)",
        "INSERT INTO dst (id, name, email) VALUES (1000, 'other', 'taken@example.com')",
    )
    # MariaDB's old REPLACE deleted row 1000; ON DUPLICATE KEY UPDATE alone would
    # overwrite row 1000 with row 7's values. Neither may happen.
    sqlite = dst.startswith("sqlite")
    _refused_and_untouched(store_url, src, dst, "dst.email" if sqlite else "dst_email")
    assert query(dst, "SELECT id, name FROM dst") == [(1000, "other")]


@pytest.mark.parametrize("urls", PAIRS, indirect=True)
def test_two_source_rows_sharing_a_unique_value_fail_the_batch(
    store_url: str, urls: tuple[str, str]
) -> None:
    src, dst = urls
    _source(src, email=lambda i: "'twice@example.com'" if i in (3, 4) else "NULL")
    execute(dst, DEST, "CREATE UNIQUE INDEX dst_email ON dst (email)")
    sqlite = dst.startswith("sqlite")
    _refused_and_untouched(store_url, src, dst, "dst.email" if sqlite else "dst_email")
    assert query(dst, "SELECT COUNT(*) FROM dst") == [(0,)]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_mariadb_unique_index_over_a_column_the_source_lacks_is_refused(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    _source(pg_url)
    execute(mariadb_url, DEST, "CREATE UNIQUE INDEX dst_extra ON dst (email, extra)")
    result = _upsert(store_url, pg_url, mariadb_url)
    fails(result, 1, "'dst_extra'", "extra", "which the source does not have", "--mode append")
    assert query(mariadb_url, "SELECT COUNT(*) FROM dst") == [(0,)]


@pytest.mark.mariadb
@pytest.mark.postgres
@pytest.mark.parametrize("held", [True, False], ids=["another-row", "same-batch"])
def test_mariadb_unique_prefix_index_collisions_fail_the_batch(
    store_url: str, pg_url: str, mariadb_url: str, held: bool
) -> None:
    """UNIQUE (email(4)) holds '9999@example.com' and '9999@other.org' equal: the
    check compared whole values, and ON DUPLICATE KEY UPDATE overwrote the row that
    held the prefix with the other source row's values (the job completed)."""
    taken = "9999" if held else "0008"

    def email(i: int) -> str:
        return f"'{taken}@other.org'" if i == 7 else f"'{i:04d}@example.com'"

    _source(pg_url, email=email)
    execute(mariadb_url, DEST, "CREATE UNIQUE INDEX dst_email ON dst (email(4))")
    kept = [(1000, "other", "9999@example.com")] if held else []
    if held:
        execute(
            mariadb_url,
            "INSERT INTO dst (id, name, email) VALUES (1000, 'other', '9999@example.com')",
        )
    result = _upsert(store_url, pg_url, mariadb_url)
    fails(result, 1, "'dst_email'", "email(4)", "nothing of this batch was written")
    assert query(mariadb_url, "SELECT id, name, email FROM dst") == kept


@pytest.mark.mariadb
@pytest.mark.postgres
def test_mariadb_upsert_that_cannot_be_staged_beside_a_unique_index_is_refused(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    """Binary values cannot go through LOAD DATA, so there is no staging table in which
    to check a batch: ON DUPLICATE KEY UPDATE alone could update the wrong row."""
    execute(
        pg_url,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(80), email VARCHAR(80), "
        "bin bytea)",
        "INSERT INTO items VALUES (1, 'a', 'a@x', '\\x00ff')",
    )
    execute(
        mariadb_url,
        "CREATE TABLE dst (id INTEGER PRIMARY KEY, name VARCHAR(80), email VARCHAR(80), "
        "bin BLOB, UNIQUE KEY dst_email (email))",
    )
    result = _upsert(store_url, pg_url, mariadb_url)
    fails(result, 1, "'dst_email'", "LOAD DATA LOCAL INFILE", "--mode append")
    assert query(mariadb_url, "SELECT COUNT(*) FROM dst") == [(0,)]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_mariadb_upsert_batches_retried_after_faults_stage_afresh(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    """A batch that failed before or after its commit is tried again on whatever
    connection the pool gives: its staging table starts empty each time, so no row of
    an earlier try leaks into the merge."""
    _source(pg_url)
    old = ", ".join(f"({i}, 'old {i}', 'old{i}@x', 'kept {i}', {i * 10})" for i in range(1, 61))
    execute(mariadb_url, DEST, f"INSERT INTO dst VALUES {old}")
    faults = json.dumps({"seed": 5, "dest_write": 0.4, "dest_ack": 0.2})
    args = sync_args(
        pg_url, mariadb_url, table="items", to_table="dst", mode="upsert", batch_size=BATCH
    )
    result = run_cli(*args, store=store_url, env={"SYNCBEAT_FAULTS": faults})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "retrying" in result.stdout + result.stderr
    rows = query(mariadb_url, "SELECT id, name, email, extra, touched FROM dst ORDER BY id")
    assert rows == [
        (i, f"new {i}", f"user{i}@example.com")
        + ((f"kept {i}", i * 10) if i <= 60 else ("dflt", None))
        for i in range(1, ROWS + 1)
    ]


@pytest.mark.mariadb
@pytest.mark.postgres
def test_mariadb_upsert_without_load_data_also_updates_in_place(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    """Binary columns take the generic path (INSERT … ON DUPLICATE KEY UPDATE of the
    source's columns): destination-only columns keep their values there too."""
    execute(
        pg_url,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(80), email VARCHAR(80), "
        "bin bytea)",
        "INSERT INTO items SELECT i, 'new ' || i, 'user' || i || '@example.com', '\\x00ff' "
        f"FROM generate_series(1, {ROWS}) i",
    )
    old = ", ".join(f"({i}, 'old {i}', 'old{i}@x', 'kept {i}', {i * 10})" for i in range(1, 61))
    execute(
        mariadb_url,
        DEST.replace("touched INTEGER)", "touched INTEGER, bin BLOB)"),
        f"INSERT INTO dst (id, name, email, extra, touched) VALUES {old}",
    )
    _upsert(store_url, pg_url, mariadb_url).check_returncode()
    rows = query(mariadb_url, "SELECT id, name, extra, touched, bin FROM dst ORDER BY id")
    assert rows == [
        (i, f"new {i}") + ((f"kept {i}", i * 10) if i <= 60 else ("dflt", None)) + (b"\x00\xff",)
        for i in range(1, ROWS + 1)
    ]


def test_sqlite_table_that_replaces_on_conflict_keeps_the_other_row(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    """A SQLite table may declare ``UNIQUE ON CONFLICT REPLACE``: the upsert's ON
    CONFLICT covers only the key, so SQLite deleted row 1000 for row 7's email and
    the job completed. The batch fails instead, as on every other table."""
    _source(sqlite_url, email=lambda i: "'taken@example.com'" if i == 7 else _email(i))
    execute(
        sqlite_url2,
        DEST.replace("email VARCHAR(80),", "email VARCHAR(80) UNIQUE ON CONFLICT REPLACE,"),
        "INSERT INTO dst (id, name, email) VALUES (1000, 'other', 'taken@example.com')",
    )
    _refused_and_untouched(store_url, sqlite_url, sqlite_url2, "dst.email")
    assert query(sqlite_url2, "SELECT id, name FROM dst") == [(1000, "other")]


def test_sqlite_append_into_a_key_that_ignores_conflicts_fails(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    """``PRIMARY KEY ON CONFLICT IGNORE`` dropped the source row whose key the table
    held, and the job counted it as copied."""
    _source(sqlite_url, range(1, 4))
    execute(
        sqlite_url2,
        DEST.replace("PRIMARY KEY", "PRIMARY KEY ON CONFLICT IGNORE"),
        "INSERT INTO dst (id, name) VALUES (2, 'held')",
    )
    args = sync_args(
        sqlite_url, sqlite_url2, table="items", to_table="dst", mode="append", batch_size=1
    )
    result = run_cli(*args, store=store_url)
    fails(result, 1, "UNIQUE constraint failed: dst.id")
    assert query(sqlite_url2, "SELECT id, name FROM dst ORDER BY id") == [(1, "new 1"), (2, "held")]
