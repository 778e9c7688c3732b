"""The protocol suite's store: every test runs once on SQLite and once on PostgreSQL.

Each test starts from an empty, migrated store. Migrating one per test would cost more
than the tests themselves, so a SQLite store is a copy of one migrated for the session,
and PostgreSQL has one migrated database for the session, emptied before each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncbeat.store import Store
from tests.support.databases import FreshDatabases


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("protocol") / "template.db"
    Store(f"sqlite:///{path}").dispose()  # closed, so the file holds all (no -wal left)
    return path


@pytest.fixture(scope="session")
def _pg_store(_pg_server: FreshDatabases) -> Iterator[Store]:
    url = _pg_server.create()
    store = Store(url)
    yield store
    store.dispose()
    _pg_server.drop(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        fresh = Store(f"sqlite:///{path}")
        yield fresh
        fresh.dispose()
        return
    shared: Store = request.getfixturevalue("_pg_store")
    with shared.begin() as conn:
        # A thread of an earlier test left hanging must not hang this one instead.
        conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        for table in ("job_events", "jobs", "pipelines", "workers"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    yield shared
