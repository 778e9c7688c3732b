"""Shared fixtures: fresh databases on the real servers, and the embedded stores.

PostgreSQL and MariaDB URLs come from SYNCBEAT_TEST_PG and SYNCBEAT_TEST_MARIADB (with
the local defaults). Each test that asks for one gets a database of its own, dropped
afterwards. A server that cannot be reached skips its tests locally, and fails them in
CI (CI=true), where a skipped database test would hide a broken build. The helpers the
tests share are in tests/support.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import MARIADB_URL, PG_URL, FreshDatabases


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
def pg_url3(_pg_server: FreshDatabases) -> Iterator[str]:
    """A third new PostgreSQL database: store, sources and destinations each apart."""
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
