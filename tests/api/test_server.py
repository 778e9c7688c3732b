"""/health, /metrics, /workers, and `syncbeat serve` as a real process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal

from syncbeat import Syncbeat
from syncbeat.api import auth, create_app
from syncbeat.cli import serve as serve_command
from syncbeat.service.worker import WorkerSettings
from tests.support.cli import syncbeat_command
from tests.support.databases import FreshDatabases
from tests.support.servers import free_port, wait_healthy

from .conftest import AUTH, TOKEN, assert_error, make_client, pipeline_body


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    client.post("/pipelines", json=pipeline_body("p", "sqlite:///s.db", "sqlite:///d.db"))
    client.post("/pipelines/p/jobs")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "syncbeat_store_up 1.0" in answer.text
    assert 'syncbeat_jobs{state="queued"} 1.0' in answer.text


def test_workers_lists_live_ones_and_all_ones(client: httpx.Client, sb: Syncbeat) -> None:
    assert client.get("/workers").json() == []
    # A worker with nothing to do registers, finds no job and stops.
    sb.worker(WorkerSettings(once=True, poll_interval=0.01, name="api-test-worker")).run()
    assert client.get("/workers").json() == []
    (stopped,) = client.get("/workers", params={"all": "true"}).json()
    assert stopped["name"] == "api-test-worker"
    assert (stopped["alive"], stopped["pid"]) == (False, os.getpid())
    assert stopped["stopped_at"] is not None
    assert_error(client.get("/workers", params={"all": "maybe"}), 422, "invalid_request")
    assert_error(client.get("/workers", params={"everyone": "1"}), 422, "invalid_request")


@pytest.mark.postgres
def test_health_and_every_route_say_503_when_the_store_is_gone(
    pg_url: str, _pg_server: FreshDatabases, portal: BlockingPortal
) -> None:
    sb = Syncbeat(pg_url)
    try:
        app = create_app(sb, token=TOKEN)
        with make_client(app, portal, AUTH) as client:
            assert client.get("/health").status_code == 200
            _pg_server.drop(pg_url)  # the store's database goes away under the server
            assert_error(client.get("/health"), 503, "store_unavailable")
            assert_error(client.get("/jobs"), 503, "store_unavailable")
            assert_error(client.get("/pipelines"), 503, "store_unavailable")
    finally:
        sb.close()


def test_a_bug_is_a_500_that_reveals_nothing(
    client: httpx.Client, sb: Syncbeat, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**filters: object) -> None:
        raise RuntimeError("internal detail: postgresql://app:hunter2@db/x")

    monkeypatch.setattr(sb, "jobs", broken)
    message = assert_error(client.get("/jobs"), 500, "internal_error")
    assert "hunter2" not in client.get("/jobs").text
    assert "internal error" in message
    assert client.get("/pipelines").status_code == 200  # the server carries on


def test_serve_reads_the_token_from_the_variable_the_api_names() -> None:
    assert serve_command._TOKEN_ENV == auth.TOKEN_ENV == "SYNCBEAT_API_TOKEN"


def _serve(store: str, port: int, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "SYNCBEAT_API_TOKEN"}
    full_env.update(SYNCBEAT_STORE=store, COLUMNS="200", NO_COLOR="1", **env)
    return subprocess.Popen(
        [*syncbeat_command(), "serve", "--port", str(port), *args],
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM (a graceful stop); the process's stderr."""
    proc.terminate()
    try:
        return proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_serve_runs_the_api(tmp_path: Path, _sqlite_store_template: Path) -> None:
    """Two servers, started together (each start costs a second or two): one with the
    token from the environment, one that makes its token up and prints it once."""
    ports = {"env": free_port(), "made_up": free_port()}
    urls = {kind: f"http://127.0.0.1:{port}" for kind, port in ports.items()}
    procs = {}
    for kind, port in ports.items():
        store = tmp_path / f"{kind}.db"
        shutil.copy(_sqlite_store_template, store)
        env = {"SYNCBEAT_API_TOKEN": TOKEN} if kind == "env" else {}
        procs[kind] = _serve(f"sqlite:///{store}", port, env)
    try:
        for kind, proc in procs.items():
            wait_healthy(urls[kind], proc)
            assert httpx.get(f"{urls[kind]}/jobs").status_code == 401
        assert httpx.get(f"{urls['env']}/jobs", headers=AUTH).json()["total"] == 0
        assert httpx.get(f"{urls['made_up']}/jobs", headers=AUTH).status_code == 401
        errs = {kind: _stop(proc) for kind, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for kind, proc in procs.items():
        assert proc.returncode == 0, errs[kind]
        assert f"Serving the syncbeat API on {urls[kind]}" in errs[kind]
    assert TOKEN not in errs["env"]
    (made_up,) = re.findall(r"^  (\S{40,})$", errs["made_up"], flags=re.MULTILINE)
    assert errs["made_up"].count(made_up) == 1  # printed once, never logged
    assert made_up != TOKEN


def test_serve_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    port = free_port()
    proc = _serve(f"sqlite:///{store}", port, {}, "--host", "0.0.0.0")
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "Refusing to serve on 0.0.0.0 without a token" in err
    assert "SYNCBEAT_API_TOKEN" in err
    assert "Traceback" not in err
    assert not store.exists()  # it stopped before opening anything
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
