"""Keys whose order or equality in the database is not Python's: enum keys, 4-byte and
8-byte floats, booleans. Each sync pages the key in small batches, so every boundary is
crossed, and the destination must hold every source row exactly once.

A key compared the wrong way does not fail loudly: a MariaDB ENUM compared as text skips
rows and completes; a real's boundary bound as a double reads the boundary row again
(append duplicates it, upsert never ends). So every sync here runs with a guard that
stops it once it has run more batches than the source has rows.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, RunHooks, Syncbeat
from syncbeat.engine.compare import rows_in_key_order
from tests.support.sql import execute

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


def sync(
    store: str,
    src: str,
    dst: str,
    *,
    mode: str = "upsert",
    batch_size: int = 1,
    rows: int,
    key: list[str] | None = None,
    name: str = "keys",
    table: str = "t",
    to: str = "copy",
) -> tuple[str, str]:
    """Sync ``table`` into ``to``; (status, message). A run that goes on past ``rows`` + 2
    batches is re-reading rows, and is stopped."""
    batches = 0

    def progress(_snapshot: Any) -> None:
        nonlocal batches
        batches += 1

    hooks = RunHooks(should_stop=lambda: batches > rows + 2, on_progress=progress)
    spec = PipelineSpec(
        name=name,
        source_url=src,
        source_table=table,
        dest_url=dst,
        dest_table=to,
        mode=mode,
        batch_size=batch_size,
        key=key or [],
    )
    sb = Syncbeat(store)
    try:
        _job, outcome = sb.sync(spec, hooks)
    finally:
        sb.close()
    return outcome.status, outcome.message


def payloads(url: str, table: str = "copy") -> Counter[int]:
    """How many times each source row (by its payload ``v``) is in ``table``."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        found = Counter(int(v) for (v,) in conn.exec_driver_sql(f"SELECT v FROM {table}"))
    engine.dispose()
    return found


def keys_by_payload(url: str, table: str) -> dict[int, Any]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = {int(v): k for k, v in conn.exec_driver_sql(f"SELECT k, v FROM {table}")}
    engine.dispose()
    return rows


# -- enums --------------------------------------------------------------------------

LABELS = ["zebra", "apple", "mango", "Apple", "kiwi"]  # declared order is not text order
ENUM_ROWS = ", ".join(f"('{label}', {i})" for i, label in enumerate(LABELS, 1))


@MARIADB
@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_mariadb_enum_key_pages_in_the_enums_order(
    store_url: str, mariadb_url: str, pg_url: str, batch_size: int
) -> None:
    """MariaDB sorts an ENUM by its number and compares it with a label as text: paged
    on the label, 'zebra' first left 'k > zebra' with nothing after it."""
    execute(
        mariadb_url,
        "CREATE TABLE t (k ENUM('zebra', 'apple', 'mango', 'Apple', 'kiwi')"
        " COLLATE utf8mb4_nopad_bin PRIMARY KEY, v INT) DEFAULT CHARSET utf8mb4",
        "INSERT INTO t VALUES ('zebra', 1), ('apple', 2), ('mango', 3), ('Apple', 4), ('kiwi', 5)",
    )
    for dst in (mariadb_url, pg_url):
        status, message = sync(store_url, mariadb_url, dst, batch_size=batch_size, rows=5)
        assert status == "completed", message
        assert payloads(dst) == Counter(range(1, 6))
        assert keys_by_payload(dst, "copy") == {
            1: "zebra",
            2: "apple",
            3: "mango",
            4: "Apple",
            5: "kiwi",
        }


@PG
@pytest.mark.parametrize("composite", [False, True], ids=["single", "composite"])
def test_a_postgresql_enum_key_pages_in_its_declared_order(
    store_url: str, pg_url: str, pg_url2: str, mariadb_url: str, composite: bool
) -> None:
    """A PostgreSQL enum compares by its declared order when the boundary is bound as
    the enum type; bound as varchar (a composite key's row value) it did not run."""
    key = "k, j" if composite else "k"
    execute(
        pg_url,
        "CREATE TYPE fruit AS ENUM ('zebra', 'apple', 'mango', 'Apple', 'kiwi')",
        f"CREATE TABLE t (k fruit, j int, v int, PRIMARY KEY ({key}))",
        "INSERT INTO t SELECT k::fruit, 1, v FROM (VALUES " + ENUM_ROWS + ") AS r(k, v)",
        "INSERT INTO t SELECT k::fruit, 2, v + 10 FROM (VALUES " + ENUM_ROWS + ") AS r(k, v)"
        if composite
        else "SELECT 1",
    )
    expected = Counter(range(1, 6)) + (Counter(range(11, 16)) if composite else Counter())
    for dst in (pg_url2, mariadb_url):
        status, message = sync(store_url, pg_url, dst, batch_size=2, rows=10)
        assert status == "completed", message
        assert payloads(dst) == expected


# -- floats -------------------------------------------------------------------------

FLOATS = [-3.4e38, -1.5, -0.1, 0.0, 1e-38, 0.1, 0.2, 0.3, 1 / 3, 3.14, 16777217.0, 3.4e38]
DOUBLES = [-1.7e308, -0.1, 0.0, 5e-324, 0.1, 0.2, 0.3, 0.30000000000000004, 1 / 3, 1e308]
FLOAT_KEYS = [
    pytest.param("pg", "real", FLOATS, marks=PG, id="pg-real"),
    pytest.param("pg", "double precision", DOUBLES, marks=PG, id="pg-double"),
    pytest.param("mariadb", "FLOAT", FLOATS, marks=MARIADB, id="mariadb-float"),
    pytest.param("mariadb", "DOUBLE", DOUBLES, marks=MARIADB, id="mariadb-double"),
    pytest.param("sqlite", "REAL", DOUBLES, id="sqlite-real"),
]
URLS = {"pg": ("pg_url", "pg_url2"), "mariadb": ("mariadb_url",), "sqlite": ("sqlite_url",)}


@pytest.mark.parametrize("mode", ["append", "upsert"])
@pytest.mark.parametrize("batch_size", [1, 7])
@pytest.mark.parametrize(("engine", "ddl", "values"), FLOAT_KEYS)
def test_a_float_key_is_checkpointed_exactly(
    request: pytest.FixtureRequest,
    store_url: str,
    engine: str,
    ddl: str,
    values: list[float],
    batch_size: int,
    mode: str,
) -> None:
    """A real's value reads as its shortest decimal (0.1), which as a double is below the
    stored 0.1f: 'k > 0.1' held for the boundary row itself. Into a table without a
    unique key (append) each boundary row arrived twice; upsert never finished."""
    src = request.getfixturevalue(URLS[engine][0])
    dst = request.getfixturevalue(URLS[engine][-1]) if engine == "pg" else src
    rows = ", ".join(f"({v!r}, {i})" for i, v in enumerate(values, 1))
    execute(src, f"CREATE TABLE t (k {ddl} PRIMARY KEY, v integer)", f"INSERT INTO t VALUES {rows}")
    if mode == "append":  # no unique key: a row read twice is written twice
        execute(dst, f"CREATE TABLE copy (k {ddl}, v integer)")
    status, message = sync(store_url, src, dst, mode=mode, batch_size=batch_size, rows=len(values))
    assert status == "completed", message
    assert payloads(dst) == Counter(range(1, len(values) + 1))
    assert sorted(keys_by_payload(dst, "copy").items()) == sorted(keys_by_payload(src, "t").items())


# -- booleans -----------------------------------------------------------------------

BOOL_PAIRS = [
    pytest.param("pg_url", "mariadb_url", marks=[PG, MARIADB], id="pg-to-mariadb"),
    pytest.param("pg_url", "sqlite_url", marks=PG, id="pg-to-sqlite"),
    pytest.param("pg_url", "pg_url2", marks=PG, id="pg-to-pg"),
    pytest.param("mariadb_url", "pg_url", marks=[PG, MARIADB], id="mariadb-to-pg"),
    pytest.param("sqlite_url", "pg_url", marks=PG, id="sqlite-to-pg"),
]


@pytest.mark.parametrize(("src_fixture", "dst_fixture"), BOOL_PAIRS)
@pytest.mark.parametrize("composite", [False, True], ids=["single", "composite"])
def test_a_boolean_key_pages(
    request: pytest.FixtureRequest, store_url: str, src_fixture: str, dst_fixture: str,
    composite: bool,
) -> None:  # fmt: skip
    """A boolean boundary was turned into SQL's TRUE, which '>' does not take: an
    internal error on the first boundary."""
    src, dst = request.getfixturevalue(src_fixture), request.getfixturevalue(dst_fixture)
    false, true = ("0", "1") if src.startswith("sqlite") else ("false", "true")
    if composite:
        execute(
            src,
            "CREATE TABLE t (k boolean, j integer, v integer, PRIMARY KEY (k, j))",
            f"INSERT INTO t VALUES ({true}, 1, 1), ({false}, 1, 2), ({true}, 2, 3),"
            f" ({false}, 2, 4)",
        )
    else:
        execute(
            src,
            "CREATE TABLE t (k boolean PRIMARY KEY, v integer)",
            f"INSERT INTO t VALUES ({true}, 1), ({false}, 2)",
        )
    rows = 4 if composite else 2
    status, message = sync(store_url, src, dst, batch_size=1, rows=rows)
    assert status == "completed", message
    assert payloads(dst) == Counter(range(1, rows + 1))


@MARIADB
def test_verification_reads_a_mariadb_enum_keyed_table_whole(mariadb_url: str) -> None:
    """The comparison of source and destination (compare.py) pages like a sync: in
    pages of one row, every row once, in the enum's order."""
    execute(
        mariadb_url,
        "CREATE TABLE t (k ENUM('zebra', 'apple', 'mango') PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES ('mango', 3), ('zebra', 1), ('apple', 2)",
    )
    engine = sa.create_engine(mariadb_url, poolclass=sa.pool.NullPool)
    try:
        rows = list(rows_in_key_order(engine, "t", ["k"], batch_size=1))
    finally:
        engine.dispose()
    assert rows == [("zebra", 1), ("apple", 2), ("mango", 3)]
