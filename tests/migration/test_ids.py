"""A job's id, and an event's, names one job or event for good: after `pipeline rm` the
next job never gets the id of a removed one (SQLite reused the largest free id), in a
new store and in one upgraded from the schema before AUTOINCREMENT, with its rows kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.store.store import _alembic_config
from tests.support.cli import run_cli


def _spec(name: str) -> PipelineSpec:
    return PipelineSpec(
        name=name,
        source_url="sqlite:///a.db",
        source_table="t",
        dest_url="sqlite:///b.db",
        dest_table="t",
    )


def _last_ids(sb: Syncbeat, name: str) -> tuple[int, int]:
    sb.save_pipeline(_spec(name))
    job = sb.enqueue(name)
    return job.id, sb.events(job.id)[-1].id


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_ids_of_removed_jobs_and_events_are_not_handed_out_again(
    kind: str, store_url: str, request: pytest.FixtureRequest
) -> None:
    store = store_url if kind == "sqlite" else str(request.getfixturevalue("pg_url"))
    sb = Syncbeat(store)
    first_job, first_event = _last_ids(sb, "orders")
    sb.remove_pipeline("orders")
    again_job, again_event = _last_ids(sb, "orders")
    assert again_job > first_job and again_event > first_event
    sb.close()
    shown = run_cli("job", "show", str(first_job), store=store)
    assert shown.returncode == 1 and f"There is no job {first_job}" in shown.stderr


def _old_store(url: str) -> None:
    """A store at the schema before AUTOINCREMENT, holding jobs 1 and 2 with an event
    each, from which job 2's pipeline was then removed."""
    engine = sa.create_engine(url)
    spec = sa.bindparam("spec", type_=sa.JSON)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0002")
        for job_id, name in ((1, "kept"), (2, "gone")):
            conn.execute(
                sa.text(
                    "INSERT INTO pipelines (name, spec, created_at, updated_at) "
                    "VALUES (:name, :spec, 1.0, 1.0)"
                ).bindparams(spec),
                {"name": name, "spec": _spec(name).stored().model_dump()},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO jobs (id, uid, pipeline, status, spec, max_attempts, "
                    "created_at, updated_at) VALUES (:id, :uid, :name, 'completed', :spec, "
                    "5, 1.0, 1.0)"
                ).bindparams(spec),
                {"id": job_id, "uid": f"u{job_id}", "name": name, "spec": _spec(name).model_dump()},
            )
            conn.exec_driver_sql(
                f"INSERT INTO job_events (id, job_id, at, kind) VALUES ({job_id}, {job_id}, "
                "1.0, 'created')"
            )
        # `pipeline rm`, cascade included (a PRAGMA inside a transaction does nothing)
        conn.exec_driver_sql("DELETE FROM job_events WHERE job_id = 2")
        conn.exec_driver_sql("DELETE FROM jobs WHERE id = 2")
        conn.exec_driver_sql("DELETE FROM pipelines WHERE name = 'gone'")
    engine.dispose()


def test_an_upgraded_sqlite_store_keeps_its_rows_and_stops_reusing_ids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _old_store(url)
    sb = Syncbeat(url)  # migrates to the head
    assert sb.store.migrated is not None and sb.store.migrated[0] == "0002"
    assert [(j.id, j.pipeline) for j in sb.jobs()] == [(1, "kept")]
    assert [(e.id, e.kind) for e in sb.events(1)] == [(1, "created")]
    # Job 2's id cannot be known after the migration (it was the largest and is gone):
    # the guarantee starts from the largest id kept, and holds from then on.
    new_job, new_event = _last_ids(sb, "new")
    assert new_job == 2 and new_event == 2
    sb.remove_pipeline("new")
    newer_job, newer_event = _last_ids(sb, "newer")
    assert (newer_job, newer_event) == (3, 3)
    sb.remove_pipeline("kept")  # cascades to its events, as before
    with sb.store.begin() as conn:
        assert (
            conn.exec_driver_sql("SELECT COUNT(*) FROM job_events WHERE job_id = 1").scalar() == 0
        )
    sb.close()
