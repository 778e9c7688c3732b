"""A variable's value never comes back in a message. Servers and drivers repeat what a
URL told them ("role "…" does not exist", "failed to resolve host '…'", "invalid literal
for int()"), so a token holder who may name an allowed secret in a user name, a database
name, a host or a parameter could otherwise read it from the job's last error, its
events or the worker's log, without any hostile server; an operator's own password would
land in the store the same way."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec, Syncbeat
from tests.support.cli import run_cli
from tests.support.jobs import job_of

SECRET = "allowed-secret-4e8a91"
ENV = {"SYNCBEAT_SECRET_DB": SECRET, "OPERATORS_VAR": SECRET}


def _echoed(server_url: str, var: str, where: str) -> str:
    base = make_url(server_url)
    scheme, host = base.get_backend_name(), f"{base.host}:{base.port}"
    return {
        "user": f"{scheme}://${{{var}}}@{host}/{base.database}",
        "database": f"{scheme}://{base.username}@{host}/${{{var}}}",
        "host": f"{scheme}://{base.username}@${{{var}}}.invalid:{base.port}/x",
        "parameter": f"{scheme}://{base.username}@{host}/{base.database}?connect_timeout=${{{var}}}",
    }[where]


def _fail_a_job(
    store_url: str, source: str, dest: str, origin: str
) -> tuple[dict[str, object], str, str]:
    sb = Syncbeat(store_url)
    try:
        spec = PipelineSpec(
            name="p",
            source_url=source,
            source_table="items",
            dest_url=dest,  # never opened: the source fails first
            dest_table="items",
        )
        sb.save_pipeline(spec, origin=origin)
        job = sb.enqueue("p")
    finally:
        sb.close()
    result = run_cli("worker", "--once", "--max-attempts", "1", store=store_url, env=ENV)
    sb = Syncbeat(store_url)
    try:
        events = " ".join(e.message for e in sb.events(job.id, limit=1000))
    finally:
        sb.close()
    return job_of(store_url, job.id), events, result.stdout + result.stderr


@pytest.mark.parametrize("where", ["user", "database", "host", "parameter"])
@pytest.mark.parametrize("engine", ["pg", "mariadb"])
def test_an_allowed_secret_named_anywhere_in_a_url_is_never_echoed(
    request: pytest.FixtureRequest, store_url: str, engine: str, where: str
) -> None:
    server = request.getfixturevalue("pg_url" if engine == "pg" else "mariadb_url")
    source = _echoed(server, "SYNCBEAT_SECRET_DB", where)
    ended, events, output = _fail_a_job(store_url, source, server, "api")
    assert ended["status"] == "failed", ended
    assert SECRET not in str(ended["last_error"]), ended["last_error"]
    assert SECRET not in events and SECRET not in output, events + output
    assert "${SYNCBEAT_SECRET_DB}" in str(ended["last_error"])  # it still says which


def test_the_operators_variable_is_not_echoed_either(pg_url: str, store_url: str) -> None:
    ended, events, output = _fail_a_job(
        store_url, _echoed(pg_url, "OPERATORS_VAR", "user"), pg_url, "operator"
    )
    assert ended["status"] == "failed", ended
    assert SECRET not in str(ended["last_error"]) + events + output


def test_a_traceback_logged_for_an_internal_error_is_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a worker logs when a job crashes inside syncbeat (its traceback) repeats the
    exception's message, which may hold a value a URL's variable stood for."""
    from syncbeat.vocabulary import urls

    monkeypatch.setenv("SYNCBEAT_SECRET_DB", SECRET)
    written = ("postgresql://app@db.example/${SYNCBEAT_SECRET_DB}", "sqlite:///d.db")
    try:
        raise ValueError(f'database "{SECRET}" is not what we expected')
    except ValueError as exc:
        logged = urls.redacted_traceback(written, exc)
    assert "ValueError" in logged and "test_engine_echoes.py" in logged
    assert SECRET not in logged
    assert '"${SYNCBEAT_SECRET_DB}"' in logged


def test_verify_does_not_echo_a_variable_either(pg_url: str, store_url: str) -> None:
    """Verify's errors go to the person (and the API caller) directly, not through a
    job's events: they are redacted the same way."""
    source = _echoed(pg_url, "OPERATORS_VAR", "user")
    saved = run_cli(
        "pipeline", "add", "v", "--from", source, "--table", "items", "--to", pg_url,
        store=store_url,
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    result = run_cli("verify", "v", store=store_url, env=ENV)
    text = result.stdout + result.stderr
    assert result.returncode == 3, text
    assert SECRET not in text and "${OPERATORS_VAR}" in text, text
