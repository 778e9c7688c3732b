"""Fixtures of the tests with real `syncbeat worker` processes on a PostgreSQL store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncbeat import Syncbeat
from tests.support.fleet import QUICK, Fleet, fleet
from tests.support.jobs import StoreView

LIVENESS_OPTIONS = ("--heartbeat-interval", "0.2", "--poll-interval", "0.1")


# -- test_workers, test_worker_takeover: store, sources and destinations apart --------------


@pytest.fixture
def dbs(pg_url: str, pg_url2: str, pg_url3: str) -> tuple[str, str, str]:
    """(store, source, destination)."""
    return pg_url, pg_url2, pg_url3


@pytest.fixture
def sb(dbs: tuple[str, str, str]) -> Iterator[Syncbeat]:
    client = Syncbeat(dbs[0])
    yield client
    client.close()


@pytest.fixture
def workers(dbs: tuple[str, str, str], tmp_path: Path) -> Iterator[Fleet]:
    """Workers on the store of ``dbs``, with the quick timing; all killed at the end."""
    with fleet(dbs[0], tmp_path, QUICK) as started:
        yield started


# -- test_liveness, test_clock_skew: the store on pg_url, the data on pg_url2 ---------------


@pytest.fixture
def view(pg_url: str) -> Iterator[StoreView]:
    """The test's own view of the job store."""
    s = StoreView(pg_url)
    yield s
    s.close()


@pytest.fixture
def procs(pg_url: str, tmp_path: Path) -> Iterator[Fleet]:
    """Workers on the store ``pg_url``; each log is shown whole when a test fails."""
    with fleet(pg_url, tmp_path, LIVENESS_OPTIONS, log_tail=None) as started:
        yield started
