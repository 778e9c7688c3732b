"""A job runs under the rules of whoever wrote the URLs it copies with, not of whoever
saved its pipeline last. A job's definition is copied when it is queued; the origin is
read when a worker claims it. A job queued from the API's definition must not become
the operator's because the operator saved the pipeline again afterwards (which is what
the migration note tells them to do)."""

from __future__ import annotations

from syncbeat import PipelineSpec, Syncbeat
from tests.security.fake_servers import fake_postgres
from tests.support.cli import pipeline_add_args, run_cli
from tests.support.jobs import job_of

SECRET = "worker-only-secret-5d1f"
ENV = {"SOME_SECRET_VAR": SECRET}


def _spec(name: str, source: str) -> PipelineSpec:
    return PipelineSpec(
        name=name,
        source_url=source,
        source_table="items",
        dest_url="postgresql://app@127.0.0.1:1/dw",
        dest_table="items",
    )


def _worker_once(store: str) -> None:
    result = run_cli("worker", "--once", store=store, env=ENV)
    text = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in text, text


def test_a_job_queued_from_the_apis_urls_stays_the_apis_when_the_operator_saves_again(
    store_url: str,
) -> None:
    with fake_postgres() as server:
        hostile = f"postgresql://${{SOME_SECRET_VAR}}@127.0.0.1:{server.port}/x"
        sb = Syncbeat(store_url)
        try:
            # A row the API wrote (before the allowlist, or behind its back), queued.
            sb.save_pipeline(_spec("p", hostile), origin="api")
            job = sb.enqueue("p")
        finally:
            sb.close()
        # The operator adopts the pipeline under their own URLs.
        run_cli(
            *pipeline_add_args(
                "p", "postgresql://app@127.0.0.1:1/shop", "postgresql://app@127.0.0.1:1/dw",
                table="items",
            ),
            store=store_url,
            env=ENV,
            check=True,
        )  # fmt: skip
        _worker_once(store_url)
    assert server.connections == 0 and SECRET.encode() not in server.received
    ended = job_of(store_url, job.id)
    assert ended["status"] == "failed", ended
    assert "${SOME_SECRET_VAR}" in ended["last_error"] and SECRET not in ended["last_error"]


def test_the_operators_job_of_the_operators_urls_runs_as_the_operators(store_url: str) -> None:
    """Saving the same URLs again vouches for them: the queued job expands any variable."""
    with fake_postgres() as server:
        mine = f"postgresql://${{SOME_SECRET_VAR}}@127.0.0.1:{server.port}/x"
        sb = Syncbeat(store_url)
        try:
            sb.save_pipeline(_spec("p", mine))
            sb.enqueue("p")
            sb.save_pipeline(_spec("p", mine).model_copy(update={"batch_size": 10}))
        finally:
            sb.close()
        _worker_once(store_url)
    assert SECRET.encode() in b"".join(server.startups)
