"""Verify and repair over the API: a real PostgreSQL pipeline synced first, damaged with
SQL, compared through POST /pipelines/{name}/verify and repaired through a queued job."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from starlette.types import Message, Scope

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.api import create_app
from syncbeat.connectors.allowlist import Allowlist
from syncbeat.vocabulary.pipeline import Origin
from tests.support.polling import wait_for
from tests.support.specs import table_copy
from tests.support.sql import execute, scalar, table_rows

from .conftest import AUTH, TOKEN, assert_error, make_client, sqlite_only

ROWS = 300

pytestmark = pytest.mark.postgres


def synced(sb: Syncbeat, source: str, dest: str, name: str = "orders") -> PipelineSpec:
    """A source table ``src(id, customer, amount)``, copied to ``dst`` by a full sync."""
    execute(
        source,
        "CREATE TABLE src (id integer PRIMARY KEY, customer text NOT NULL, amount numeric(10,2))",
        f"INSERT INTO src SELECT g, 'customer ' || g, g * 1.5 FROM generate_series(1, {ROWS}) g",
    )
    spec = table_copy(name, source, dest)
    assert sb.sync(spec)[1].status == "completed"
    return spec


def damage(dest: str) -> None:
    """One row deleted, one changed, one extra: each kind of difference once."""
    execute(
        dest,
        "DELETE FROM dst WHERE id = 17",
        "UPDATE dst SET amount = amount + 1 WHERE id = 120",
        f"INSERT INTO dst VALUES ({ROWS + 5}, 'stray', 0)",
    )


def test_an_equal_pipeline_verifies_equal(
    client: httpx.Client, sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    synced(sb, pg_url, pg_url2)
    answer = client.post("/pipelines/orders/verify")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["equal"] is True
    assert report["rows"] == {"source": ROWS, "destination": ROWS}
    for kind in ("missing", "extra", "changed"):
        assert report[kind]["count"] == 0
        assert report[kind]["keys"] == []
    assert report["changed"]["columns"] == {}
    assert report["ranges_compared"] >= 1


def test_a_damaged_pipeline_names_each_difference_then_a_repair_fixes_it(
    client: httpx.Client, sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    synced(sb, pg_url, pg_url2)
    damage(pg_url2)

    answer = client.post("/pipelines/orders/verify")
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["equal"] is False
    assert report["missing"] == {"count": 1, "keys": [17]}
    assert report["extra"] == {"count": 1, "keys": [ROWS + 5]}
    assert report["changed"] == {"count": 1, "keys": [120], "columns": {"amount": 1}}
    assert report["rows"] == {"source": ROWS, "destination": ROWS}  # one gone, one more

    queued = client.post("/pipelines/orders/repair")
    assert queued.status_code == 202, queued.text
    job = queued.json()
    assert (job["kind"], job["status"], job["pipeline"]) == ("repair", "queued", "orders")
    # A worker would run it; this process can too, as the library's own caller.
    assert sb.run_job(job["id"])[1].status == "completed"

    assert client.post("/pipelines/orders/verify").json()["equal"] is True
    assert table_rows(pg_url2, "dst", ["id"]) == table_rows(pg_url, "src", ["id"])


def test_repair_waits_for_an_unfinished_full_sync(
    client: httpx.Client, sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    synced(sb, pg_url, pg_url2)
    full = sb.enqueue("orders")
    message = assert_error(client.post("/pipelines/orders/repair"), 409, "invalid_transition")
    assert f"unfinished full job {full.id}" in message
    assert [j.kind for j in sb.jobs(pipeline="orders", limit=10)] == ["full", "full"]


@sqlite_only
def test_unknown_pipelines_are_404(client: httpx.Client) -> None:
    for action in ("verify", "repair"):
        assert_error(client.post(f"/pipelines/nope/{action}"), 404, "pipeline_not_found")


@sqlite_only
def test_a_pipeline_without_a_key_cannot_be_verified(
    client: httpx.Client, sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    execute(pg_url, "CREATE TABLE src (id integer, customer text)")
    sb.save_pipeline(table_copy("keyless", pg_url, pg_url2))
    message = assert_error(client.post("/pipelines/keyless/verify"), 422, "config_error")
    assert message == "Pipeline keyless has no key: verify compares key ranges."
    assert "--key" in (client.post("/pipelines/keyless/verify").json()["error"]["hint"] or "")


@sqlite_only
def test_a_missing_destination_table_is_a_400(
    client: httpx.Client, sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    execute(pg_url, "CREATE TABLE src (id integer PRIMARY KEY)")
    sb.save_pipeline(table_copy("unsynced", pg_url, pg_url2))
    message = assert_error(client.post("/pipelines/unsynced/verify"), 400, "destination_error")
    assert "'dst' does not exist" in message


def call_unread(app: FastAPI, portal: BlockingPortal, path: str) -> tuple[int, bool]:
    """POST ``path`` with a JSON body and no credentials, straight to the ASGI app: the
    status it answers, and whether it asked for a byte of the body."""
    read = False
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal read
        read = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        await app(scope, receive, send)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    portal.call(call)
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    return int(start["status"]), read


@sqlite_only
def test_without_the_token_it_is_401_and_no_body_is_read(
    app: FastAPI, portal: BlockingPortal, anonymous: httpx.Client
) -> None:
    for action in ("verify", "repair"):
        assert call_unread(app, portal, f"/pipelines/orders/{action}") == (401, False)
        # No body: the route's own check answers, before the pipeline is looked up.
        assert_error(anonymous.post(f"/pipelines/orders/{action}"), 401, "unauthorized")


def test_an_api_pipeline_is_verified_under_the_servers_allowlist(
    sb: Syncbeat, portal: BlockingPortal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The allowlist `syncbeat serve` was given, not only this process's environment,
    decides what an API pipeline's verify may open (verify runs in the server)."""
    monkeypatch.delenv("SYNCBEAT_DATA_DIRS", raising=False)
    source, dest = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'd.db'}"
    execute(source, "CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT)")
    spec = table_copy("files", source, dest)
    assert sb.sync(spec)[1].status == "completed"
    sb.save_pipeline(spec, origin=Origin.API)

    served = create_app(sb, token=TOKEN, allowlist=Allowlist(data_dirs=(str(tmp_path),)))
    with make_client(served, portal, {"Authorization": f"Bearer {TOKEN}"}) as client:
        assert client.post("/pipelines/files/verify").json()["equal"] is True
    closed = create_app(sb, token=TOKEN, allowlist=Allowlist())
    with make_client(closed, portal, {"Authorization": f"Bearer {TOKEN}"}) as client:
        assert_error(client.post("/pipelines/files/verify"), 422, "not_allowed_error")


@sqlite_only
def test_verifies_beyond_the_servers_limit_are_told_to_come_back(
    app: FastAPI, portal: BlockingPortal, sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    """Each verify holds connections and threads until it is done: one more than the
    server runs at once is answered 429 with Retry-After, and the others complete."""
    synced(sb, pg_url, pg_url2)
    slow = "SELECT * FROM src WHERE (SELECT pg_sleep(0.3)) IS NOT NULL"
    for name in ("slow1", "slow2"):
        sb.save_pipeline(
            PipelineSpec(
                name=name,
                source_url=pg_url,
                source_query=slow,
                key=["id"],
                dest_url=pg_url2,
                dest_table="dst",
            )
        )
    answers: dict[str, httpx.Response] = {}

    def verify(name: str) -> None:
        with make_client(app, portal, AUTH) as own:  # one client per thread
            answers[name] = own.post(f"/pipelines/{name}/verify")

    threads = [threading.Thread(target=verify, args=(n,)) for n in ("slow1", "slow2")]
    for thread in threads:
        thread.start()
    sleeping = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%%pg_sleep(0.3)%%'"
    wait_for("two verifies comparing", lambda: scalar(pg_url, sleeping) >= 3, 30)
    with make_client(app, portal, AUTH) as third:
        refused = third.post("/pipelines/orders/verify")
    for thread in threads:
        thread.join(timeout=60)
    assert_error(refused, 429, "verify_busy")
    assert refused.headers["Retry-After"] == "10"
    assert [answers[n].status_code for n in ("slow1", "slow2")] == [200, 200]
    with make_client(app, portal, AUTH) as after:
        assert after.post("/pipelines/orders/verify").status_code == 200
