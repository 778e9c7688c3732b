"""The protocol suite's store: every test runs once on SQLite and once on PostgreSQL.

A SQLite store is a new file per test. PostgreSQL has one migrated database for the
session, emptied before each test: creating and migrating a database per test would cost
more than the tests themselves.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncbeat.store import Store
from tests.conftest import FreshDatabases


@pytest.fixture(scope="session")
def _pg_store(_pg_server: FreshDatabases) -> Iterator[Store]:
    url = _pg_server.create()
    store = Store(url)
    yield store
    store.dispose()
    _pg_server.drop(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, store_url: str) -> Iterator[Store]:
    if request.param == "sqlite":
        fresh = Store(store_url)
        yield fresh
        fresh.dispose()
        return
    shared: Store = request.getfixturevalue("_pg_store")
    with shared.begin() as conn:
        # A thread of an earlier test left hanging must not hang this one instead.
        conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        conn.exec_driver_sql(
            "TRUNCATE job_events, jobs, pipelines, workers RESTART IDENTITY CASCADE"
        )
    yield shared
