"""What the job store holds of pipelines and jobs, read the way a test checks them: a
handle of the test's own, apart from the processes under test."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.service.models import EventView, JobView
from syncbeat.store import jobs, workers
from tests.support.polling import wait_for

EVENTS = 100_000
"""More events than any test's job records: all of them."""


# -- one job, through a Syncbeat handle ------------------------------------------------------


def events(sb: Syncbeat, job_id: int, kind: str | None = None) -> list[EventView]:
    """The job's events in id order (only those of ``kind``, if given)."""
    found = sb.events(job_id, limit=EVENTS)
    return [e for e in found if kind is None or e.kind == kind]


def plan_paths(sb: Syncbeat, job_id: int) -> list[str]:
    """The path each run of the job took, from its `plan` events (pg-copy, rows...)."""
    return [e.data["path"] for e in events(sb, job_id, "plan") if e.data]


def kinds(sb: Syncbeat, job_id: int) -> list[str]:
    return [e.kind for e in events(sb, job_id)]


def batch_events(sb: Syncbeat, job_id: int) -> list[EventView]:
    return events(sb, job_id, "batch")


def batches(sb: Syncbeat, job_id: int, epoch: int | None) -> list[EventView]:
    """The batches committed under the lease of ``epoch``."""
    return [e for e in batch_events(sb, job_id) if e.lease_epoch == epoch]


def job_row(sb: Syncbeat, job_id: int) -> Any:
    """The job's row in the store, every column."""
    with sb.store.begin() as conn:
        return conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()


def finished(sb: Syncbeat, job_id: int) -> str | None:
    """The job's status once it completed; fails at once if it ended any other way."""
    status = sb.job(job_id, events=0).status
    if status in ("failed", "cancelled"):
        pytest.fail(
            f"job {job_id} {status}: {sb.job(job_id, events=0).last_error}\n"
            + "\n".join(
                f"{e.kind} {e.lease_epoch} {e.owner} {e.message}" for e in events(sb, job_id)
            )
        )
    return status if status == "completed" else None


# -- a whole store, by URL -----------------------------------------------------------------


def store_contents(store: str) -> tuple[list[Any], list[Any]]:
    """(pipelines, jobs) of a store, read through the library."""
    sb = Syncbeat(store)
    try:
        return sb.pipelines(), sb.jobs()
    finally:
        sb.close()


def job_of(store: str, job_id: int) -> dict[str, Any]:
    sb = Syncbeat(store)
    try:
        return sb.job(job_id, events=0).model_dump(mode="json")
    finally:
        sb.close()


def only_job(store: str) -> dict[str, Any]:
    _, found = store_contents(store)
    assert len(found) == 1, found
    dumped: dict[str, Any] = found[0].model_dump(mode="json")
    return dumped


def only_job_and_events(store: str) -> tuple[JobView, list[EventView]]:
    """The store's one job, and all its events."""
    sb = Syncbeat(store)
    try:
        (job,) = sb.jobs()
        return job, sb.events(job.id, limit=EVENTS)
    finally:
        sb.close()


def nothing_saved(store: str) -> None:
    pipelines, found = store_contents(store)
    assert pipelines == [] and found == []


# -- a store the test watches while workers run ---------------------------------------------


class StoreView:
    """The test's own view of the job store (a separate client from the workers')."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sb = Syncbeat(url)

    def close(self) -> None:
        self.sb.close()

    def job(self, job_id: int) -> JobView:
        return self.sb.job(job_id, events=0)

    def events(self, job_id: int, kind: str | None = None) -> list[EventView]:
        return events(self.sb, job_id, kind)

    def kinds(self, job_id: int) -> list[str]:
        return kinds(self.sb, job_id)

    def heartbeat_at(self, job_id: int) -> float:
        with self.sb.store.begin() as conn:
            return float(
                conn.execute(sa.select(jobs.c.heartbeat_at).where(jobs.c.id == job_id)).scalar_one()
            )

    def now(self) -> float:
        return self.sb.store.now()

    def worker_beat(self, name: str) -> float | None:
        with self.sb.store.begin() as conn:
            value = conn.execute(
                sa.select(workers.c.heartbeat_at).where(workers.c.name == name)
            ).scalar()
        return None if value is None else float(value)

    def queue(self, pipeline: PipelineSpec) -> int:
        self.sb.save_pipeline(pipeline)
        return self.sb.enqueue(pipeline.name).id

    def wait_worker_beats(
        self,
        name: str,
        beats: int,
        diagnostics: Callable[[], str],
        check: Callable[[], None] = lambda: None,
    ) -> None:
        """Wait until the worker's own row was renewed ``beats`` more times: each renewal
        is one more pass of its loop (reap, claim, beat). ``check`` runs on every poll."""
        seen = [self.worker_beat(name)]

        def advanced() -> bool:
            check()
            now = self.worker_beat(name)
            if now is not None and now != seen[-1]:
                seen.append(now)
            return len(seen) > beats

        wait_for(f"{beats} loop passes of worker {name}", advanced, 20, diagnostics)
