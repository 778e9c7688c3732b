"""Bad input around a sync, through the installed CLI: a destination user who may only
read, a job store that cannot be used (unreachable, newer than the code, not a database
at all), two `syncbeat sync` of one pipeline at once, and table or column names
crafted as SQL.

Each must end clearly (exit 1 with a message and a hint, no traceback) and write
nothing: no table, no row, no change to the store. Crafted names must be quoted, so
that the sync copies exactly the oddly named table and the table they name stays.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import Syncbeat
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.store.store import SCHEMA_VERSION
from tests.support.cli import fails, output, run_cli, spawn, sync_args
from tests.support.databases import PG_URL
from tests.support.sql import execute, has_table, table_names, table_rows

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


@pytest.fixture
def source(sqlite_url: str) -> str:
    execute(
        sqlite_url,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
        *(f"INSERT INTO items VALUES ({i}, 'item {i}')" for i in range(1, 11)),
    )
    return sqlite_url


def _sync(store: str, src: str, dst: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*sync_args(src, dst, *extra, table="items"), store=store)


# -- a destination user who may only read -------------------------------------------------------


@pytest.fixture
def pg_reader(pg_url: str) -> Iterator[str]:
    """A PostgreSQL role that may connect to the test database and read its tables,
    nothing more (PostgreSQL 15 grants no CREATE on the public schema): its URL."""
    role = f"sbro_{uuid.uuid4().hex[:10]}"
    database = make_url(pg_url).database
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {database} TO {role}")
    admin.dispose()
    execute(
        pg_url,
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}",
    )
    try:
        yield make_url(pg_url).set(username=role).render_as_string(hide_password=False)
    finally:
        execute(pg_url, f"DROP OWNED BY {role}")  # its grants, here and on the database
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


def _tables(url: str) -> list[str]:
    return sorted(table_names(url))


@PG
@pytest.mark.parametrize("made_by_owner", [False, True], ids=["empty database", "owner's tables"])
def test_read_only_destination_user(
    store_url: str, source: str, pg_url: str, pg_reader: str, made_by_owner: bool
) -> None:
    if made_by_owner:  # the tables exist: the user fails at its first write, not a CREATE
        execute(pg_url, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        execute(pg_url, "INSERT INTO items VALUES (100, 'kept')")
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            dest_state.ensure_table(conn)
        engine.dispose()
    before = _tables(pg_url)
    result = _sync(store_url, source, pg_reader)
    fails(result, 1, "permission denied", "lacks a right", "grant them, or use another user")
    assert _tables(pg_url) == before
    if made_by_owner:
        assert table_rows(pg_url, "items", ["id"]) == [(100, "kept")]
        assert table_rows(pg_url, dest_state.state_table.name, ["job_uid"]) == []


@PG
def test_a_collation_the_destination_lacks(store_url: str, pg_url: str, pg_url2: str) -> None:
    """A source column with a collation made by CREATE COLLATION: the destination
    database does not have it, so creating the table fails. The message says what to do,
    nothing is created, and once the collation is made there the same command copies."""
    collation = (
        "CREATE COLLATION sb_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
    )
    execute(
        pg_url,
        collation,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT COLLATE sb_ci)",
        "INSERT INTO items VALUES (1, 'Apple'), (2, 'apple')",
    )
    result = _sync(store_url, pg_url, pg_url2)
    fails(result, 1, 'collation "sb_ci"', "lacks a collation", "pg_collation")
    assert "items" not in _tables(pg_url2)
    execute(pg_url2, collation)
    run_cli(*sync_args(pg_url, pg_url2, table="items"), store=store_url, check=True)
    assert table_rows(pg_url2, "items", ["id"]) == [(1, "Apple"), (2, "apple")]


# -- a job store that cannot be used -------------------------------------------------------------


def test_unreachable_store(source: str, sqlite_url2: str) -> None:
    result = _sync("postgresql://postgres@127.0.0.1:1/store", source, sqlite_url2)
    fails(
        result,
        1,
        "cannot use the job store postgresql://postgres@127.0.0.1:1/store",
        "connection refused",
        "check that the store's database exists and is reachable",
    )
    assert not has_table(sqlite_url2, "items")


def test_store_schema_newer_than_the_code(tmp_path: Path, source: str, sqlite_url2: str) -> None:
    path = tmp_path / "store.db"
    Syncbeat(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    result = _sync(f"sqlite:///{path}", source, sqlite_url2)
    fails(
        result,
        1,
        "schema version 9999_from_the_future, newer than this syncbeat knows",
        "upgrade syncbeat",
    )
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("9999_from_the_future",)
        ]
        assert db.execute("SELECT COUNT(*) FROM pipelines").fetchone() == (0,)
        assert db.execute("SELECT COUNT(*) FROM jobs").fetchone() == (0,)
    assert not has_table(sqlite_url2, "items")
    assert SCHEMA_VERSION != "9999_from_the_future"


def test_corrupt_sqlite_store_file(tmp_path: Path, source: str, sqlite_url2: str) -> None:
    path = tmp_path / "store.db"
    garbage = b"not a database, just bytes\n" + os.urandom(8192)
    path.write_bytes(garbage)
    result = _sync(f"sqlite:///{path}", source, sqlite_url2)
    fails(result, 1, "file is not a database", "not a syncbeat job store, or it is damaged")
    assert path.read_bytes() == garbage
    assert not has_table(sqlite_url2, "items")


# -- two syncs of one pipeline at once ----------------------------------------------------------


def test_two_syncs_of_one_pipeline_at_once(
    tmp_path: Path, sqlite_url: str, sqlite_url2: str
) -> None:
    execute(
        sqlite_url,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000) "
        "INSERT INTO items SELECT i, 'item ' || i FROM n",
    )
    store = f"sqlite:///{tmp_path / 'store.db'}"
    args = sync_args(sqlite_url, sqlite_url2, table="items", batch_size=100, name="same")
    procs = [
        spawn(*args, store=store, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(args, proc.returncode, out, err))
    codes = sorted(r.returncode for r in results)
    # Either the second found the job running and refused, or it came after the first
    # had finished and synced again: never both writing.
    assert codes in ([0, 0], [0, 1]), [output(r) for r in results]
    for refused in (r for r in results if r.returncode == 1):
        fails(refused, 1, "is running in", "wait for it")
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(sqlite_url, "items", ["id"])

    sb = Syncbeat(store)
    try:
        for job in sb.jobs():
            assert job.status == "completed"
            events = sb.events(job.id, limit=1000)
            claims = {e.lease_epoch: e.owner for e in events if e.kind == "claimed"}
            batches = [e for e in events if e.kind == "batch"]
            # Every batch was written by the lease that claimed it, each batch once, and
            # no lease wrote after a newer one had: one writer at a time.
            assert all(claims.get(e.lease_epoch) == e.owner for e in batches)
            epochs = [e.lease_epoch or 0 for e in batches]
            assert epochs == sorted(epochs)
            done = [e.data["rows_done"] for e in batches if e.data]
            assert done == sorted(set(done)) and done[-1] == 4000
    finally:
        sb.close()


# -- names crafted as SQL: quoted, never run ----------------------------------------------

TABLE = 'o"; DROP TABLE victim; --'
COLUMN = "c'); DROP TABLE victim; --"
TO_TABLE = "a; DROP TABLE victim"


def _crafted_source(url: str) -> None:
    engine = sa.create_engine(url)
    q = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE victim (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql(
            f"CREATE TABLE {q(TABLE)} (id INTEGER PRIMARY KEY, {q(COLUMN)} VARCHAR(40))"
        )
        conn.execute(
            sa.text(f"INSERT INTO {q(TABLE)} VALUES (:id, :v)"),
            [{"id": i, "v": f"it's row {i}; --"} for i in range(1, 6)],
        )
    engine.dispose()


@pytest.mark.parametrize(
    ("src_engine", "dst_engine"),
    [
        ("sqlite", "sqlite"),
        pytest.param("sqlite", "postgresql", marks=PG, id="sqlite-postgresql (COPY)"),
        pytest.param(
            "postgresql", "postgresql", marks=PG, id="postgresql-postgresql (binary COPY)"
        ),
        pytest.param("sqlite", "mariadb", marks=MARIADB, id="sqlite-mariadb (LOAD DATA)"),
    ],
)
def test_table_and_column_names_crafted_as_sql_are_quoted(
    request: pytest.FixtureRequest, store_url: str, src_engine: str, dst_engine: str
) -> None:
    fixtures = {"sqlite": ["sqlite_url", "sqlite_url2"], "postgresql": ["pg_url", "pg_url2"]}
    src = request.getfixturevalue(fixtures[src_engine][0])
    dst = request.getfixturevalue(
        "mariadb_url" if dst_engine == "mariadb" else fixtures[dst_engine][1]
    )
    _crafted_source(src)
    execute(dst, "CREATE TABLE IF NOT EXISTS victim (id INTEGER PRIMARY KEY)")
    result = run_cli(
        *sync_args(src, dst, table=TABLE, key="id", to_table=TO_TABLE, name="crafted"),
        store=store_url,
    )
    assert result.returncode == 0, output(result)
    assert "Traceback" not in output(result)
    assert "WARNING" not in output(result)  # not even the row count tripped on the name
    assert has_table(src, "victim") and has_table(dst, "victim")
    assert table_rows(dst, TO_TABLE, ["id"]) == table_rows(src, TABLE, ["id"])
    sb = Syncbeat(store_url)
    try:
        (plan,) = [e for e in sb.events(sb.jobs()[0].id) if e.kind == "plan"]
    finally:
        sb.close()
    fast = src_engine == dst_engine == "postgresql"
    assert plan.data and plan.data["path"] == ("pg-copy" if fast else "rows")


def test_a_pipeline_name_crafted_as_sql_is_refused(
    tmp_path: Path, source: str, sqlite_url2: str
) -> None:
    store = tmp_path / "store.db"
    result = _sync(f"sqlite:///{store}", source, sqlite_url2, "--name", "x'; DROP TABLE items; --")
    fails(result, 2, "invalid pipeline options", "name", "use letters, digits")
    assert not store.exists()
    assert not has_table(sqlite_url2, "items")


def test_jobs_with_an_unknown_status(store_url: str) -> None:
    result = run_cli("jobs", "--status", "bogus", store=store_url)
    fails(result, 2, "'bogus' is not a job status", "running, queued, paused, failed")
    assert "No jobs" not in output(result)
