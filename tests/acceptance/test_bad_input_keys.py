"""Keys the database holds equal while Python holds them distinct, through the CLI.

MariaDB's default collations ignore case (``_ci``), and its PAD SPACE ones (``_bin``
included) ignore trailing spaces; PostgreSQL's nondeterministic ICU collations can
ignore both, and its ``citext`` ignores case; SQLite's NOCASE and RTRIM do what they
say. A key column under such a collation that is not unique in the database (a --key
without a unique index, or a query) can hold 'b' and 'B': at a batch boundary
``k > 'b'`` skips 'B', and the job used to complete without it. Written into an
existing destination key column under such a collation, distinct source keys overwrite
each other. Each case fails with exit status 1, a message that names the key and the
collation, a hint, no traceback, and the destination as it was before the batch that
failed (before the first batch, for a destination refused at plan time). A MariaDB
TIME key outside a day, bound for a time of day, is refused too.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from typing import Any

import pytest

from tests.support import sql
from tests.support.cli import fails, run_cli, sync_args
from tests.support.jobs import only_job
from tests.support.sql import count_rows, execute, has_table

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb

KEYS = ["a", "b", "B", "c"]  # 'b' and 'B' meet at the boundary after batch 1


def _sync(store: str, src: str, dst: str, **source: str) -> subprocess.CompletedProcess[str]:
    args = sync_args(src, dst, to_table="copy", mode="append", batch_size=1, **source)
    return run_cli(*args, store=store)


def _kept_only(dst: str, keys: list[Any]) -> None:
    """The destination holds the rows of the batches before the failed one, no more."""
    held = sorted(k for (k,) in sql.query(dst, "SELECT k FROM copy"))
    assert held == sorted(keys)


@MARIADB
@pytest.mark.parametrize(
    ("collation", "keys", "equal"),
    [
        ("utf8mb4_general_ci", KEYS, ("b", "B")),
        ("utf8mb4_bin", ["a", "b", "b ", "c"], ("b", "b ")),  # PAD SPACE
        ("utf8mb4_unicode_ci", ["a", "e", "é", "f"], ("e", "é")),
    ],
    ids=["ci", "pad-space", "accents"],
)
def test_a_mariadb_key_that_is_one_value_under_its_collation(
    store_url: str, mariadb_url: str, pg_url: str, collation: str, keys: list[str],
    equal: tuple[str, str],
) -> None:  # fmt: skip
    execute(
        mariadb_url,
        f"CREATE TABLE t (k VARCHAR(10) COLLATE {collation}, v INT, KEY (k))"
        " DEFAULT CHARSET utf8mb4",
        "INSERT INTO t VALUES " + ", ".join(f"('{k}', {i})" for i, k in enumerate(keys)),
    )
    result = _sync(store_url, mariadb_url, pg_url, table="t", key="k")
    words = f"{equal[0]!r} and {equal[1]!r} are one value"
    fails(result, 1, "not unique for the database", words, collation, "hint:", "--key")
    _kept_only(pg_url, keys[:1])
    job = only_job(store_url)
    assert job["status"] == "failed" and job["checkpoint"]["batch_index"] == 1


@MARIADB
def test_a_mariadb_query_whose_key_is_one_value_under_its_collation(
    store_url: str, mariadb_url: str, sqlite_url: str
) -> None:
    execute(
        mariadb_url,
        "CREATE TABLE t (k VARCHAR(10), v INT) DEFAULT CHARSET utf8mb4",
        "INSERT INTO t VALUES " + ", ".join(f"('{k}', {i})" for i, k in enumerate(KEYS)),
    )
    query = "SELECT k, v FROM t"
    result = _sync(store_url, mariadb_url, sqlite_url, query=query, key="k")
    fails(result, 1, "not unique for the database", "'b' and 'B'", "COLLATE")
    _kept_only(sqlite_url, ["a"])


NOCASE = (
    "CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
)


@PG
@pytest.mark.parametrize(
    ("setup", "ddl", "named"),
    [
        (NOCASE, "text COLLATE nocase", "public.nocase"),
        ("CREATE EXTENSION citext", "citext", "public.citext"),
    ],
    ids=["nondeterministic", "citext"],
)
def test_a_postgresql_key_that_ignores_case(
    store_url: str, pg_url: str, sqlite_url: str, setup: str, ddl: str, named: str
) -> None:
    execute(
        pg_url,
        setup,
        f"CREATE TABLE t (k {ddl}, v int)",
        "INSERT INTO t VALUES " + ", ".join(f"('{k}', {i})" for i, k in enumerate(KEYS)),
    )
    result = _sync(store_url, pg_url, sqlite_url, table="t", key="k")
    fails(result, 1, "not unique for the database", named, 'k::text COLLATE "C" AS k')
    _kept_only(sqlite_url, ["a"])


@PG
def test_a_postgresql_bpchar_key_that_ignores_trailing_spaces(
    store_url: str, pg_url: str, sqlite_url: str
) -> None:
    """bpchar keeps the 'b ' it was given, and compares it equal to 'b': the job
    completed without the row 'b ' (k > 'b' is false for it)."""
    execute(
        pg_url,
        "CREATE TABLE t (k bpchar, v int)",
        "INSERT INTO t VALUES ('a', 1), ('b', 2), ('b ', 3), ('c', 4)",
    )
    result = _sync(store_url, pg_url, sqlite_url, table="t", key="k")
    fails(result, 1, "not unique for the database", "'b' and 'b '", "ignores trailing spaces")
    _kept_only(sqlite_url, ["a"])


@MARIADB
@pytest.mark.parametrize(
    ("src_fixture", "collation"),
    [
        pytest.param("pg_url", "utf8mb4_general_ci", marks=PG, id="pg-into-ci"),
        pytest.param("sqlite_url", "utf8mb4_bin", id="sqlite-into-pad-space"),
        pytest.param("mariadb_url", "utf8mb4_general_ci", id="mariadb-bin-into-ci"),
    ],
)
@pytest.mark.parametrize("mode", ["upsert", "append"])
def test_an_existing_destination_key_that_merges_source_keys_is_refused(
    request: pytest.FixtureRequest, store_url: str, mariadb_url: str, src_fixture: str,
    collation: str, mode: str,
) -> None:  # fmt: skip
    """'a', 'A' and 'a ' are three keys in the source and one in the destination's key
    column: upsert would keep one row of three and count three as copied."""
    src = request.getfixturevalue(src_fixture)
    exact = " COLLATE utf8mb4_nopad_bin" if src_fixture == "mariadb_url" else ""
    execute(
        src,
        f"CREATE TABLE t (k VARCHAR(10){exact} PRIMARY KEY, v INT)"
        + (" DEFAULT CHARSET utf8mb4" if src_fixture == "mariadb_url" else ""),
        "INSERT INTO t VALUES ('a', 1), ('A', 2), ('a ', 3)",
    )
    execute(
        mariadb_url,
        f"CREATE TABLE copy (k VARCHAR(10) COLLATE {collation} PRIMARY KEY, v INT)"
        " DEFAULT CHARSET utf8mb4",
    )
    args = sync_args(src, mariadb_url, table="t", to_table="copy", mode=mode, batch_size=1)
    result = run_cli(*args, store=store_url)
    fails(result, 1, "'copy'", "key column 'k'", collation, "ALTER TABLE copy MODIFY k")
    assert "utf8mb4_nopad_bin" in result.stdout + result.stderr
    assert count_rows(mariadb_url, "copy") == 0
    assert only_job(store_url)["rows_done"] == 0


@PG
@pytest.mark.parametrize(
    ("setup", "ddl", "named"),
    [
        (NOCASE, "text COLLATE nocase", "public.nocase"),
        ("CREATE EXTENSION citext", "citext", "public.citext"),
    ],
    ids=["nondeterministic", "citext"],
)
def test_an_existing_postgresql_key_that_ignores_case_is_refused(
    store_url: str, pg_url: str, sqlite_url: str, setup: str, ddl: str, named: str
) -> None:
    execute(sqlite_url, "CREATE TABLE t (k TEXT PRIMARY KEY, v INT)")
    execute(sqlite_url, "INSERT INTO t VALUES ('a', 1), ('A', 2)")
    execute(pg_url, setup, f"CREATE TABLE copy (k {ddl} PRIMARY KEY, v int)")
    result = run_cli(*sync_args(sqlite_url, pg_url, table="t", to_table="copy"), store=store_url)
    fails(result, 1, "key column 'k'", named, 'ALTER COLUMN k TYPE text COLLATE "C"')
    assert count_rows(pg_url, "copy") == 0
    assert has_table(pg_url, "copy")


@pytest.mark.parametrize(
    ("dst_fixture", "ddl", "change"),
    [
        pytest.param(
            "pg_url", "char(3)", 'ALTER COLUMN k TYPE text COLLATE "C"', marks=PG, id="pg-char"
        ),
        pytest.param(
            "mariadb_url",
            "CHAR(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
            "MODIFY k varchar(3) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin",
            marks=MARIADB,
            id="mariadb-char-nopad-bin",
        ),
    ],
)
@pytest.mark.parametrize("mode", ["upsert", "append"])
def test_an_existing_char_key_that_strips_trailing_spaces_is_refused(
    request: pytest.FixtureRequest, store_url: str, sqlite_url: str, dst_fixture: str,
    ddl: str, change: str, mode: str,
) -> None:  # fmt: skip
    """A fixed-length CHAR ignores trailing spaces whatever its collation (even
    MariaDB's exact utf8mb4_nopad_bin): 'a' and 'a ' from an exact source were one
    row there, and upsert completed with 2 of 3 rows, counting 3."""
    execute(sqlite_url, "CREATE TABLE t (k TEXT PRIMARY KEY, v INT)")
    execute(sqlite_url, "INSERT INTO t VALUES ('a', 1), ('a ', 2), ('b', 3)")
    dst = request.getfixturevalue(dst_fixture)
    execute(dst, f"CREATE TABLE copy (k {ddl} PRIMARY KEY, v INT)")
    args = sync_args(sqlite_url, dst, table="t", to_table="copy", mode=mode, batch_size=1)
    result = run_cli(*args, store=store_url)
    fails(result, 1, "key column 'k'", "ignores trailing spaces", change)
    assert count_rows(dst, "copy") == 0
    assert only_job(store_url)["rows_done"] == 0


@PG
def test_an_existing_char_key_fed_from_the_same_char_type_is_accepted(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    """char(3) to char(3): the source's key is unique under the very same equality, so
    the destination cannot merge two of its keys."""
    for url in (pg_url, pg_url2):
        execute(url, "CREATE TABLE t (k char(3) PRIMARY KEY, v int)")
    execute(pg_url, "INSERT INTO t VALUES ('a', 1), ('b ', 2), ('c', 3)")
    args = sync_args(pg_url, pg_url2, table="t", to_table="t", batch_size=1)
    result = run_cli(*args, store=store_url)
    assert result.returncode == 0, result.stderr
    assert count_rows(pg_url2, "t") == 3


@pytest.mark.parametrize(
    ("values", "kinds"),
    [("(1, 1), ('1', 2), (2, 3)", "number and text"), ("('1', 1), (X'31', 2)", "blob and text")],
    ids=["integer-and-text", "text-and-blob"],
)
@pytest.mark.parametrize(
    "dst_fixture",
    [
        "sqlite_url2",
        pytest.param("pg_url", marks=PG),
        pytest.param("mariadb_url", marks=MARIADB),
    ],
)
def test_a_sqlite_key_of_mixed_kinds_is_refused(
    request: pytest.FixtureRequest, store_url: str, sqlite_url: str, dst_fixture: str,
    values: str, kinds: str,
) -> None:  # fmt: skip
    """A column with no type keeps 1 and '1' as two keys; every destination column
    has one type, and the job completed with 2 rows of 3, counting 3."""
    execute(sqlite_url, "CREATE TABLE t (k PRIMARY KEY, v INT)", f"INSERT INTO t VALUES {values}")
    dst = request.getfixturevalue(dst_fixture)
    result = _sync(store_url, sqlite_url, dst, table="t")
    fails(result, 1, "key column k", kinds, "one row there", "CAST(k AS TEXT) AS k")
    assert not has_table(dst, "copy")


def test_a_sqlite_numeric_key_of_integers_and_doubles_is_one_kind(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    """1 and 1.5 in a NUMERIC column are an integer and a double: numbers both, as
    they are to every destination, so the key pages as it is."""
    execute(
        sqlite_url,
        "CREATE TABLE t (k NUMERIC PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES (1, 1), (1.5, 2), (2, 3)",
    )
    result = _sync(store_url, sqlite_url, sqlite_url2, table="t")
    assert result.returncode == 0, result.stdout + result.stderr
    assert count_rows(sqlite_url2, "copy") == 3


@pytest.mark.parametrize(
    ("src_fixture", "dst_fixture", "ddl", "values", "places"),
    [
        pytest.param(
            "pg_url", "mariadb_url", "numeric", "(-1, 1), (1e-31, 2), (2e-31, 3)", "30",
            marks=[PG, MARIADB], id="pg-numeric-into-mariadb",
        ),
        pytest.param(
            "sqlite_url", "pg_url", "DECIMAL(5, 2)", "(1, 1), (1.001, 2), (1.002, 3)", "2",
            marks=PG, id="sqlite-decimal-into-pg",
        ),
    ],
)  # fmt: skip
@pytest.mark.parametrize("mode", ["upsert", "append"])
def test_a_decimal_key_the_destination_would_round_is_refused(
    request: pytest.FixtureRequest, store_url: str, src_fixture: str, dst_fixture: str,
    ddl: str, values: str, places: str, mode: str,
) -> None:  # fmt: skip
    """Rounded to the destination's scale, the second and third keys were one: upsert
    completed with 2 rows of 3, counting 3 (append failed on a duplicate key)."""
    src, dst = request.getfixturevalue(src_fixture), request.getfixturevalue(dst_fixture)
    execute(src, f"CREATE TABLE t (k {ddl} PRIMARY KEY, v INT)", f"INSERT INTO t VALUES {values}")
    args = sync_args(src, dst, table="t", to_table="copy", mode=mode, batch_size=1)
    result = run_cli(*args, store=store_url)
    fails(result, 1, "column 'k'", f"has {places} decimal places", "--to-table")
    _kept_only(dst, [-1 if "-1" in values else 1])  # batch 1, nothing of the failed one


@PG
def test_a_key_of_a_type_no_checkpoint_holds_is_refused(
    store_url: str, pg_url: str, sqlite_url: str
) -> None:
    """An inet key failed with "Internal error: TypeError: cannot checkpoint a key
    value of type IPv4Address"."""
    execute(
        pg_url,
        "CREATE TABLE t (k inet PRIMARY KEY, v int)",
        "INSERT INTO t VALUES ('10.0.0.1', 1), ('10.0.0.2', 2)",
    )
    result = _sync(store_url, pg_url, sqlite_url, table="t")
    fails(result, 1, "IPv4Address", "cannot be kept in a checkpoint", "k::text AS k")
    assert count_rows(sqlite_url, "copy") == 0
    assert only_job(store_url)["rows_done"] == 0


@MARIADB
@PG
def test_a_mariadb_time_key_outside_a_day_is_refused_not_wrapped(
    store_url: str, mariadb_url: str, pg_url: str
) -> None:
    """Read as a time of day, -01:00 was 23:00 and 25:00 was 01:00: paging lost rows and
    the job completed with two of four, changed. As the duration it is, the value is
    refused by PostgreSQL's time of day, naming the row."""
    execute(
        mariadb_url,
        "CREATE TABLE t (k TIME(6) PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES ('00:00:00', 1), ('12:00:00.5', 2), ('25:00:00', 3)",
    )
    result = _sync(store_url, mariadb_url, pg_url, table="t")
    fails(result, 1, "time of day", "k=datetime.timedelta(days=1, seconds=3600)", "hint:")
    _kept_only(pg_url, [dt.time(0), dt.time(12, 0, 0, 500000)])  # batches 1 and 2


def test_a_sqlite_key_under_nocase(store_url: str, sqlite_url: str, sqlite_url2: str) -> None:
    execute(
        sqlite_url,
        'CREATE TABLE t ("k" TEXT COLLATE NOCASE, v DECIMAL(10, 2))',
        "INSERT INTO t VALUES " + ", ".join(f"('{k}', {i})" for i, k in enumerate(KEYS)),
    )
    result = _sync(store_url, sqlite_url, sqlite_url2, table="t", key="k")
    fails(result, 1, "not unique for the database", "NOCASE", "k COLLATE BINARY AS k")
    _kept_only(sqlite_url2, ["a"])


def test_an_existing_sqlite_key_under_rtrim_is_refused(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    execute(sqlite_url, "CREATE TABLE t (k TEXT PRIMARY KEY, v INT)")
    execute(sqlite_url, "INSERT INTO t VALUES ('a', 1), ('a ', 2)")
    execute(sqlite_url2, "CREATE TABLE copy (k TEXT COLLATE RTRIM PRIMARY KEY, v INT)")
    args = sync_args(sqlite_url, sqlite_url2, table="t", to_table="copy")
    result = run_cli(*args, store=store_url)
    fails(result, 1, "key column 'k'", "RTRIM", "no COLLATE RTRIM")
    assert count_rows(sqlite_url2, "copy") == 0


@MARIADB
def test_a_char_key_under_the_sources_pad_space_collation_is_accepted(
    store_url: str, mariadb_url: str
) -> None:
    """utf8mb4_general_ci ignores trailing spaces in VARCHAR too: the source's keys
    are distinct under it, so a CHAR column of that collation cannot merge them."""
    execute(
        mariadb_url,
        "CREATE TABLE t (k VARCHAR(3) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)"
        " DEFAULT CHARSET utf8mb4",
        "CREATE TABLE copy (k CHAR(3) COLLATE utf8mb4_general_ci PRIMARY KEY, v INT)"
        " DEFAULT CHARSET utf8mb4",
        "INSERT INTO t VALUES ('a', 1), ('B', 2), ('c ', 3)",
    )
    result = _sync(store_url, mariadb_url, mariadb_url, table="t")
    assert result.returncode == 0, result.stdout + result.stderr
    assert count_rows(mariadb_url, "copy") == 3


@MARIADB
@PG
def test_an_existing_fixed_binary_key_that_pads_is_refused(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    """BINARY(4) stores b'a' as b'a\\0\\0\\0', as it stores b'a\\0': upsert completed
    with 2 rows of 3, counting 3."""
    execute(
        pg_url,
        "CREATE TABLE t (k bytea PRIMARY KEY, v int)",
        "INSERT INTO t VALUES ('\\x61', 1), ('\\x6100', 2), ('\\x62', 3)",
    )
    execute(mariadb_url, "CREATE TABLE copy (k BINARY(4) PRIMARY KEY, v INT)")
    args = sync_args(pg_url, mariadb_url, table="t", to_table="copy", batch_size=1)
    result = run_cli(*args, store=store_url)
    fails(result, 1, "key column 'k'", "binary(4)", "zero bytes", "MODIFY k varbinary(4)")
    assert count_rows(mariadb_url, "copy") == 0


@MARIADB
def test_a_fixed_binary_key_fed_from_the_same_type_is_accepted(
    store_url: str, mariadb_url: str
) -> None:
    execute(
        mariadb_url,
        "CREATE TABLE t (k BINARY(4) PRIMARY KEY, v INT)",
        "CREATE TABLE copy (k BINARY(4) PRIMARY KEY, v INT)",
        "INSERT INTO t VALUES (X'61', 1), (X'62', 2)",
    )
    result = _sync(store_url, mariadb_url, mariadb_url, table="t")
    assert result.returncode == 0, result.stdout + result.stderr
    assert count_rows(mariadb_url, "copy") == 2
