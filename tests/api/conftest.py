"""The API over a real job store, SQLite and PostgreSQL, called through httpx.

Requests go through httpx's ASGITransport, driven from these synchronous tests by an
anyio portal: the app runs exactly as under uvicorn, minus the socket. (Starlette's
TestClient does the same, but warns about plain httpx, and warnings are errors here.)
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from syncbeat import Syncbeat
from syncbeat.api import create_app
from syncbeat.store import protocol
from tests.support.databases import FreshDatabases

TOKEN = "api-test-token-Zq3"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport that sends each request to an ASGI app."""

    def __init__(self, app: FastAPI, portal: BlockingPortal) -> None:
        self._asgi = httpx.ASGITransport(app=app)
        self._portal = portal

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(send)


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as running:
        yield running


@pytest.fixture(scope="session")
def _sqlite_store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite store, copied for each test (migrating costs more than copying)."""
    path = tmp_path_factory.mktemp("store-template") / "store.db"
    Syncbeat(f"sqlite:///{path}").close()
    return path


@pytest.fixture(scope="session")
def _pg_store_template(_pg_server: FreshDatabases) -> Iterator[str]:
    """A migrated PostgreSQL store, the template each test's store is created from."""
    url = _pg_server.create()
    Syncbeat(url).close()  # no connection may stay open on a template
    yield str(make_url(url).database)
    _pg_server.drop(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated job store of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copy(request.getfixturevalue("_sqlite_store_template"), path)
        yield f"sqlite:///{path}"
        return
    server: FreshDatabases = request.getfixturevalue("_pg_server")
    template = request.getfixturevalue("_pg_store_template")
    name = f"sbtest_{uuid.uuid4().hex[:12]}"
    with server.engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    url = make_url(server.admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    server.drop(url)


sqlite_only = pytest.mark.parametrize("store", ["sqlite"], indirect=True)
"""For a test of the API's own checks, which answer before any store is asked."""


@pytest.fixture
def sb(store: str) -> Iterator[Syncbeat]:
    handle = Syncbeat(store)
    yield handle
    handle.close()


@pytest.fixture
def app(sb: Syncbeat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    # The tests' SQLite files are in tmp_path: the operator's data directory, for the API
    # and for the jobs these tests run in this process (syncbeat.connectors.allowlist). Relative
    # paths (sqlite:///s.db) are made there too.
    monkeypatch.setenv("SYNCBEAT_DATA_DIRS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return create_app(sb, token=TOKEN)


def make_client(
    app: FastAPI, portal: BlockingPortal, headers: Mapping[str, str | bytes]
) -> httpx.Client:
    # A value may be raw bytes (a test sends non-ASCII ones): httpx takes a mix, but its
    # types do not, so each pair is given as bytes, a str encoded as httpx would (ASCII).
    raw = [
        (name.encode("ascii"), value if isinstance(value, bytes) else value.encode("ascii"))
        for name, value in headers.items()
    ]
    return httpx.Client(
        transport=PortalTransport(app, portal), base_url="http://127.0.0.1", headers=raw
    )


@pytest.fixture
def client(app: FastAPI, portal: BlockingPortal) -> Iterator[httpx.Client]:
    """A client that sends the server's token."""
    with make_client(app, portal, AUTH) as authorized:
        yield authorized


@pytest.fixture
def anonymous(app: FastAPI, portal: BlockingPortal) -> Iterator[httpx.Client]:
    with make_client(app, portal, {}) as nobody:
        yield nobody


def source_table(url: str, rows: int) -> None:
    """A source table ``items(id, name)`` with ``rows`` rows."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute(
            sa.text("INSERT INTO items (id, name) VALUES (:id, :name)"),
            [{"id": i, "name": f"item {i}"} for i in range(1, rows + 1)],
        )
    engine.dispose()


def pipeline_body(name: str, source: str, dest: str, **changes: object) -> dict[str, object]:
    return {
        "name": name,
        "source_url": source,
        "source_table": "items",
        "dest_url": dest,
        "dest_table": "items",
        **changes,
    }


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """The answer is ``status`` in the API's error shape; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"status", "code", "message", "hint"}
    assert error["status"] == status
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return str(error["message"])


def claim(sb: Syncbeat, job_id: int) -> None:
    """Make the job ``running`` under a live lease held by a worker on another machine,
    as a worker's claim would (without running it)."""
    with sb.store.begin() as conn:
        lease = protocol.claim(conn, "api-test@elsewhere:1", 300, job_id=job_id)
    assert lease is not None
