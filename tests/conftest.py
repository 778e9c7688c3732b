"""Shared fixtures: fresh databases on the real servers, and the installed CLI.

PostgreSQL and MariaDB URLs come from SYNCBEAT_TEST_PG and SYNCBEAT_TEST_MARIADB (with
the local defaults). Each test that asks for one gets a database of its own, dropped
afterwards. A server that cannot be reached skips its tests locally, and fails them in
CI (CI=true), where a skipped database test would hide a broken build.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat.engine.compare import normalise, rows_in_key_order

PG_URL = os.environ.get("SYNCBEAT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("SYNCBEAT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    if IN_CI:
        pytest.fail(f"{reason}; in CI every database test must run", pytrace=False)
    pytest.skip(reason)


class FreshDatabases:
    """Creates databases with a unique name on one server and drops them at the end."""

    def __init__(self, admin_url: str, what: str) -> None:
        self.admin_url, self.what = admin_url, what
        self.engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        name = f"sbtest_{uuid.uuid4().hex[:12]}"
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        except sa.exc.OperationalError as exc:
            _unavailable(self.what, exc)
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="session")
def _pg_server() -> Iterator[FreshDatabases]:
    server = FreshDatabases(PG_URL, "PostgreSQL")
    yield server
    server.engine.dispose()


@pytest.fixture(scope="session")
def _mariadb_server() -> Iterator[FreshDatabases]:
    server = FreshDatabases(MARIADB_URL, "MariaDB")
    yield server
    server.engine.dispose()


@pytest.fixture
def pg_url(_pg_server: FreshDatabases) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database."""
    url = _pg_server.create()
    yield url
    _pg_server.drop(url)


@pytest.fixture
def pg_url2(_pg_server: FreshDatabases) -> Iterator[str]:
    """A second new PostgreSQL database (source and destination apart)."""
    url = _pg_server.create()
    yield url
    _pg_server.drop(url)


@pytest.fixture
def mariadb_url(_mariadb_server: FreshDatabases) -> Iterator[str]:
    """URL of a new, empty MariaDB database."""
    url = _mariadb_server.create()
    yield url
    _mariadb_server.drop(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data.db'}"


@pytest.fixture
def sqlite_url2(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data2.db'}"


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh embedded job store."""
    return f"sqlite:///{tmp_path / 'store.db'}"


def table_rows(url: str, table: str, key: Sequence[str]) -> list[tuple[Any, ...]]:
    """Every row of a table in key order, each value normalised so that rows held by two
    different databases compare equal when they hold the same data."""
    engine = sa.create_engine(url)
    try:
        return [tuple(normalise(v) for v in row) for row in rows_in_key_order(engine, table, key)]
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    """Run SQL on a test database, as its owner, in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def syncbeat_command() -> list[str]:
    """The installed `syncbeat` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("syncbeat")
    if script.exists():
        return [str(script)]
    found = shutil.which("syncbeat")
    assert found, "the syncbeat command is not installed (pip install -e .)"
    return [found]


def run_cli(
    *args: str,
    store: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI in a subprocess, as a user would."""
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})}
    if store is not None:
        full_env["SYNCBEAT_STORE"] = store
    result = subprocess.run(
        [*syncbeat_command(), *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result
