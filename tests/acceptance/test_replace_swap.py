"""Replace mode's swap: into schema-qualified tables, after a crash at any of its
statements, and beside a long reader of the old table.

Each run is the installed ``syncbeat sync`` in a subprocess. A crash is a real SIGKILL:
the fault hook (``SYNCBEAT_FAULTS={"kill_at": "swap.<point>"}``) makes the process kill
itself right after the named statement of the swap, for every statement in
``swap.POINTS``; the same command is then run again, and must leave the table equal to
the source, row by row, with no table of the job's left behind, and another job's
leftovers untouched.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import Syncbeat
from syncbeat.connectors.destinations import swap
from syncbeat.vocabulary.defaults import SWAP_LOCK_TIMEOUT_SECONDS
from tests.support.cli import run_cli, spawn, sync_args
from tests.support.databases import FreshDatabases
from tests.support.polling import wait_for
from tests.support.sql import execute, table_names, table_rows

ROWS = 300
SOURCE = "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(80))"
OLD = "CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR(80))"
DECOY = "target__syncbeat_0ther0b_old"  # another job's leftover: never ours to remove


@pytest.fixture
def mariadb_other(_mariadb_server: FreshDatabases) -> Iterator[str]:
    """A second MariaDB database: the schema of a ``db.table`` destination."""
    url = _mariadb_server.create()
    yield url
    _mariadb_server.drop(url)


@pytest.fixture
def dest(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    """(destination URL, URL where the target table lives, --to-table)."""
    if request.param == "mariadb":
        url, other = (
            request.getfixturevalue("mariadb_url"),
            request.getfixturevalue("mariadb_other"),
        )
        return url, other, f"{make_url(other).database}.target"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url2")
        execute(url, "CREATE SCHEMA other")
        return url, url, "other.target"
    url = request.getfixturevalue("sqlite_url2")
    return url, url, "main.target"


ENGINES = [
    pytest.param("mariadb", marks=[pytest.mark.mariadb]),
    pytest.param("postgresql", marks=[pytest.mark.postgres]),
    pytest.param("sqlite"),
]
KILLS = [
    pytest.param(engine, point, marks=marks, id=f"{engine}-{point}")
    for engine, kind, marks in [
        ("mariadb", "mysql", [pytest.mark.mariadb]),
        ("postgresql", "transactional", [pytest.mark.postgres]),
        ("sqlite", "transactional", []),
    ]
    for point in swap.POINTS[kind]
]


def _qualified(url: str, table: str) -> str:
    if url.startswith("postgresql"):
        return f"other.{table}"
    if url.startswith("sqlite"):
        return f"main.{table}"
    return table


def _setup(src: str, where: str) -> None:
    rows = ", ".join(f"({i}, 'new {i}')" for i in range(1, ROWS + 1))
    execute(src, SOURCE, f"INSERT INTO items VALUES {rows}")
    target, decoy = _qualified(where, "target"), _qualified(where, DECOY)
    execute(
        where,
        OLD.format(t=target),
        f"INSERT INTO {target} VALUES (1, 'old'), (100000, 'gone')",
        OLD.format(t=decoy),
    )


def _sync(store: str, src: str, url: str, to_table: str, **env: str) -> Any:
    args = sync_args(src, url, table="items", to_table=to_table, mode="replace", batch_size=100)
    return run_cli(*args, store=store, env=env)


def _tables(url: str) -> set[str]:
    return table_names(url, schema="other" if url.startswith("postgresql") else None)


def _equal_to_source(src: str, dst_url: str, where: str) -> None:
    expected = table_rows(src, "items", ["id"])
    assert table_rows(where, _qualified(where, "target"), ["id"]) == expected
    assert len(expected) == ROWS
    assert _tables(where) - {"_syncbeat_state"} == {"target", DECOY}
    assert not {t for t in _tables(dst_url) if "__syncbeat_" in t and t != DECOY}


@pytest.mark.parametrize("dest", ENGINES, indirect=True)
def test_replace_into_a_schema_qualified_table(
    store_url: str, sqlite_url: str, dest: tuple[str, str, str]
) -> None:
    url, where, to_table = dest
    _setup(sqlite_url, where)
    for _ in range(2):  # the second run replaces the first's copy
        _sync(store_url, sqlite_url, url, to_table).check_returncode()
        _equal_to_source(sqlite_url, url, where)


@pytest.mark.parametrize(("dest", "point"), KILLS, indirect=["dest"])
def test_a_kill_at_any_statement_of_the_swap_is_finished_by_a_rerun(
    store_url: str, sqlite_url: str, dest: tuple[str, str, str], point: str
) -> None:
    url, where, to_table = dest
    _setup(sqlite_url, where)
    faults = json.dumps({"kill_at": f"swap.{point}"})
    killed = _sync(store_url, sqlite_url, url, to_table, SYNCBEAT_FAULTS=faults)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    rerun = _sync(store_url, sqlite_url, url, to_table)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Resuming job 1" in rerun.stdout + rerun.stderr
    _equal_to_source(sqlite_url, url, where)


def _swap_retried(store: str) -> bool:
    sb = Syncbeat(store)
    try:
        jobs = sb.jobs()
        return bool(jobs) and any(
            e.kind == "retry" and "finishing the destination" in e.message
            for e in sb.events(jobs[0].id, limit=1000)
        )
    except sa.exc.OperationalError:  # the store is being created, or busy
        return False
    finally:
        sb.close()


@pytest.mark.parametrize("dest", ENGINES[:2], indirect=True)
def test_a_long_reader_does_not_stall_other_readers_behind_the_swap(
    store_url: str, sqlite_url: str, dest: tuple[str, str, str]
) -> None:
    url, where, to_table = dest
    _setup(sqlite_url, where)
    target = _qualified(where, "target")
    engine = sa.create_engine(where)
    reader = engine.connect()
    reader.exec_driver_sql(f"SELECT COUNT(*) FROM {target}").scalar()  # holds its lock
    args = sync_args(sqlite_url, url, table="items", to_table=to_table, mode="replace")
    sync = spawn(
        *args, store=store_url, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        try:
            wait_for(
                "the swap to give up on its lock once",
                lambda: _swap_retried(store_url),
                60,
                interval=0.1,
            )
            # Readers that come while the swap waits are held up at most by its wait.
            slowest = 0.0
            for _ in range(6):
                started = time.monotonic()
                with engine.connect() as other:
                    assert other.exec_driver_sql(f"SELECT COUNT(*) FROM {target}").scalar() == 2
                slowest = max(slowest, time.monotonic() - started)
                time.sleep(0.3)
            assert slowest < SWAP_LOCK_TIMEOUT_SECONDS + 1.5, slowest
            assert sync.poll() is None, "the swap gave up before the reader ended"
        finally:
            reader.rollback()  # the long reader ends: the swap's next try gets the lock
        output, _ = sync.communicate(timeout=120)
        assert sync.returncode == 0, output
    finally:
        if sync.poll() is None:
            sync.kill()
            sync.communicate()
        reader.close()
        engine.dispose()
    _equal_to_source(sqlite_url, url, where)
