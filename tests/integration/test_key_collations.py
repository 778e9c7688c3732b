"""Text keys under collations that ignore case or trailing spaces, where the answer is
not "refuse": a key the database holds unique pages correctly under its own collation,
a query can select the key with an exact collation (what the refusal's hint says), and a
MariaDB table syncbeat creates keeps 'a', 'A' and 'a ' three keys."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, Syncbeat
from tests.integration.test_key_order import payloads, sync
from tests.support.sql import execute

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


def key_collation(url: str, table: str) -> str:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT COLLATION_NAME FROM information_schema.COLUMNS"
            f" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' AND COLUMN_NAME = 'k'"
        ).scalar_one()
    engine.dispose()
    return str(found)


@MARIADB
@PG
def test_a_unique_ci_key_pages_under_its_own_collation(
    store_url: str, mariadb_url: str, pg_url: str
) -> None:
    """Unique under utf8mb4_general_ci, so 'k > :last' in that collation is the order
    the page was sorted in: every row once, in batches of 1."""
    keys = ["b", "A", "c", "D", "e ", "É2", "a2"]
    execute(
        mariadb_url,
        "CREATE TABLE t (k VARCHAR(10) PRIMARY KEY, v INT) DEFAULT CHARSET utf8mb4",
        "INSERT INTO t VALUES " + ", ".join(f"('{k}', {i})" for i, k in enumerate(keys, 1)),
    )
    status, message = sync(store_url, mariadb_url, pg_url, batch_size=1, rows=len(keys))
    assert status == "completed", message
    assert payloads(pg_url) == Counter(range(1, len(keys) + 1))


@MARIADB
@pytest.mark.parametrize("src_fixture", ["sqlite_url", pytest.param("pg_url", marks=PG)])
def test_a_created_mariadb_key_keeps_case_and_trailing_spaces_apart(
    request: pytest.FixtureRequest, store_url: str, mariadb_url: str, src_fixture: str
) -> None:
    src = request.getfixturevalue(src_fixture)
    keys = ["a", "A", "a ", "á", "b"]
    execute(
        src,
        "CREATE TABLE t (k VARCHAR(10) PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES " + ", ".join(f"('{k}', {i})" for i, k in enumerate(keys, 1)),
    )
    status, message = sync(store_url, src, mariadb_url, batch_size=1, rows=len(keys))
    assert status == "completed", message
    assert key_collation(mariadb_url, "copy") == "utf8mb4_nopad_bin"
    assert payloads(mariadb_url) == Counter(range(1, len(keys) + 1))


@MARIADB
def test_an_existing_destination_with_the_sources_own_collation_is_accepted(
    store_url: str, mariadb_url: str
) -> None:
    """MariaDB to MariaDB under one _ci collation: the source's unique key is unique
    under it, so the destination cannot merge two of its keys."""
    for table in ("t", "copy"):
        execute(
            mariadb_url,
            f"CREATE TABLE {table} (k VARCHAR(10) COLLATE utf8mb4_general_ci PRIMARY KEY,"
            " v INT) DEFAULT CHARSET utf8mb4",
        )
    execute(mariadb_url, "INSERT INTO t VALUES ('a', 1), ('B', 2), ('c ', 3)")
    status, message = sync(store_url, mariadb_url, mariadb_url, batch_size=1, rows=3)
    assert status == "completed", message
    assert payloads(mariadb_url) == Counter([1, 2, 3])


@MARIADB
def test_a_query_with_an_exact_collation_pages_keys_its_table_holds_equal(
    store_url: str, mariadb_url: str, pg_url: str
) -> None:
    """The refusal's hint: select the key with a NO PAD binary collation."""
    execute(
        mariadb_url,
        "CREATE TABLE t (k VARCHAR(10), v INT) DEFAULT CHARSET utf8mb4",
        "INSERT INTO t VALUES ('a', 1), ('A', 2), ('a ', 3), ('b', 4)",
    )
    spec = PipelineSpec(
        name="exact",
        source_url=mariadb_url,
        source_query="SELECT k COLLATE utf8mb4_nopad_bin AS k, v FROM t",
        key=["k"],
        dest_url=pg_url,
        dest_table="copy",
        batch_size=1,
    )
    sb = Syncbeat(store_url)
    try:
        _job, outcome = sb.sync(spec)
    finally:
        sb.close()
    assert outcome.status == "completed", outcome.message
    assert payloads(pg_url) == Counter([1, 2, 3, 4])
