"""A token holder cannot reach the workers' local database sockets. A server URL without
a host makes libpq connect through a Unix socket (or to ``$PGHOST``), where PostgreSQL's
peer authentication lets the workers' own OS account in without a password. A pipeline
saved through the API must name its host: refused when saved, and again by the worker."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec, Syncbeat
from tests.api.conftest import assert_error
from tests.support.cli import run_cli
from tests.support.jobs import job_of
from tests.support.sql import execute


def _body(name: str, source: str) -> dict[str, object]:
    return {
        "name": name,
        "source_url": source,
        "source_table": "items",
        "dest_url": "postgresql://app@127.0.0.1:1/dw",
        "dest_table": "items",
    }


@pytest.mark.parametrize(
    "url",
    ["postgresql://postgres@/shop", "postgresql:///shop", "postgres:///shop", "mysql://root@/shop"],
)
def test_the_api_refuses_a_server_url_without_a_host(
    client: httpx.Client, sb: Syncbeat, url: str
) -> None:
    message = assert_error(
        client.post("/pipelines", json=_body("p", url)), 422, "not_allowed_error"
    )
    assert "names no host" in message and "socket" in message
    assert sb.pipelines() == []


def test_a_worker_refuses_the_local_socket_for_an_api_pipeline(
    pg_url: str, store_url: str, tmp_path: object
) -> None:
    """The row written into the store as the API's: the worker would otherwise copy the
    local server's table through its socket, as whatever account the server trusts."""
    execute(pg_url, "CREATE TABLE items (id integer PRIMARY KEY, name text)")
    execute(pg_url, "INSERT INTO items VALUES (1, 'private')")
    database = make_url(pg_url).database
    sb = Syncbeat(store_url)
    try:
        spec = PipelineSpec(
            **{
                **_body("p", f"postgresql://postgres@/{database}"),
                "name": "p",
                "dest_url": pg_url,
                "dest_table": "copied",
            }
        )
        sb.save_pipeline(spec, origin="api")
        job = sb.enqueue("p")
    finally:
        sb.close()
    result = run_cli("worker", "--once", store=store_url)
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr
    ended = job_of(store_url, job.id)
    assert ended["status"] == "failed", ended
    assert "names no host" in ended["last_error"]
