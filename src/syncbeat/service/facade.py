"""The public library surface: every CLI command and every REST endpoint is one call of a
:class:`Syncbeat` method. Nothing is decided in the skins, and no SQL is written here:
reads are :mod:`syncbeat.store.queries`'s, writes :mod:`syncbeat.store.protocol`'s (jobs)
and :mod:`syncbeat.store.catalog`'s (pipelines)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from syncbeat.connectors import allowlist, engines
from syncbeat.connectors.failures import classify
from syncbeat.engine.hooks import RunHooks
from syncbeat.engine.runner import Outcome, run_claimed
from syncbeat.service.models import EventView, JobView, PipelineView, WorkerView
from syncbeat.store import Store, catalog, protocol, queries
from syncbeat.store.owners import Owner
from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.errors import InvalidTransition, JobBusy, PipelineNotFound, SyncbeatError
from syncbeat.vocabulary.pipeline import Origin, PipelineSpec
from syncbeat.vocabulary.status import FAILED, PAUSED, QUEUED, RUNNING, JobKind, Request

if TYPE_CHECKING:
    from syncbeat.engine.verify import Report
    from syncbeat.service.worker import Worker, WorkerSettings

log = logging.getLogger(__name__)


def _redacted(exc: SyncbeatError, spec: PipelineSpec) -> SyncbeatError:
    """``exc`` with every ``${VAR}`` value of the spec's URLs put back as ``${VAR}``: a
    server repeats what the URL told it ('role "…" does not exist'), and verify's errors
    go to the person or the API caller, not through a job's redacted events."""
    written = (spec.source_url, spec.dest_url)
    exc.message = urls.redact(written, exc.message)
    exc.hint = exc.hint and urls.redact(written, exc.hint)
    exc.args = (exc.message,)
    return exc


def store_url(url: str | None = None) -> str:
    return url or os.environ.get("SYNCBEAT_STORE") or defaults.STORE_URL


class Syncbeat:
    """A handle on one job store."""

    def __init__(self, store: str | Store | None = None) -> None:
        self.store = store if isinstance(store, Store) else Store(store_url(store))

    def close(self) -> None:
        self.store.dispose()

    # -- pipelines ------------------------------------------------------------------

    def save_pipeline(
        self, spec: PipelineSpec, *, exists: bool | None = None, origin: str = Origin.OPERATOR
    ) -> PipelineView:
        """Create or update a pipeline. A literal password is refused (it is never stored,
        so no job could use it).

        ``exists=False`` only creates (PipelineExists if the name is taken),
        ``exists=True`` only updates (PipelineNotFound if there is none). ``origin`` says
        who wrote it: ``"api"`` limits what its jobs may reach
        (:mod:`syncbeat.connectors.allowlist`), also when it replaces a pipeline the
        operator saved."""
        catalog.refuse_literal_passwords(spec)
        return self._save_pipeline(spec, exists, origin=origin)

    def _save_pipeline(
        self,
        spec: PipelineSpec,
        exists: bool | None,
        *,
        to_run_now: bool = False,
        origin: str = Origin.OPERATOR,
    ) -> PipelineView:
        try:
            with self.store.begin() as conn:
                if to_run_now:
                    catalog.refuse_if_unrunnable(conn, spec)
                catalog.write(conn, spec, exists, origin)
        except sa.exc.IntegrityError:
            # Another caller created it between our look and our insert.
            if exists is not False:
                return self._save_pipeline(spec, exists, to_run_now=to_run_now, origin=origin)
            raise catalog.exists_error(spec.name) from None
        return self.pipeline(spec.name)

    def pipeline(self, name: str) -> PipelineView:
        with self.store.begin() as conn:
            row = queries.pipeline(conn, name)
        if row is None:
            raise PipelineNotFound(
                f"There is no pipeline named {name!r}.",
                hint="`syncbeat pipeline list` shows the pipelines.",
            )
        return PipelineView.from_row(row)

    def pipeline_spec(self, name: str) -> PipelineSpec:
        view = self.pipeline(name)
        return PipelineSpec(**view.model_dump(exclude={"created_at", "updated_at", "origin"}))

    def pipelines(self) -> list[PipelineView]:
        with self.store.begin() as conn:
            rows = queries.all_pipelines(conn)
        return [PipelineView.from_row(r) for r in rows]

    def remove_pipeline(self, name: str) -> None:
        self.pipeline(name)
        with self.store.begin() as conn:
            running = queries.running_job(conn, name)
            if running:
                raise InvalidTransition(
                    f"Pipeline {name!r} has a running job ({running}).",
                    hint=f"Cancel it first: syncbeat job cancel {running}",
                )
            catalog.remove(conn, name)

    # -- jobs -----------------------------------------------------------------------

    def open_job(self, pipeline: str) -> int | None:
        """The pipeline's unfinished job (queued, running, paused or failed), if any."""
        with self.store.begin() as conn:
            return queries.open_job(conn, pipeline)

    def enqueue(
        self, pipeline: str, *, spec: PipelineSpec | None = None, kind: JobKind = JobKind.FULL
    ) -> JobView:
        """Queue a job of ``kind`` (a full sync; a repair: see :meth:`repair`); an
        unfinished job of that kind is requeued instead of starting over, so its
        checkpoint is kept."""
        spec = spec or self.pipeline_spec(pipeline)
        try:
            return self._enqueue(pipeline, spec, kind)
        except sa.exc.IntegrityError:
            # Another process queued the pipeline's one open job between our look and our
            # insert (the partial unique index refused ours): take that job as the answer.
            return self._enqueue(pipeline, spec, kind)

    def _enqueue(self, pipeline: str, spec: PipelineSpec, kind: JobKind) -> JobView:
        existing = self.open_job(pipeline)
        job = self.job(existing, events=0) if existing is not None else None
        if job is not None and job.kind != kind:
            # A repair and a sync both write the destination: one at a time.
            raise InvalidTransition(
                f"Pipeline {pipeline!r} has an unfinished {job.kind} job {job.id} "
                f"({job.status}); a {kind} job waits until it ends.",
                hint=f"Let it finish (syncbeat job show {job.id}), or cancel it "
                f"(syncbeat job cancel {job.id}).",
            )
        if job is not None and self._same_target(job.id, spec):
            return self.resume(job.id) if job.status in (PAUSED, FAILED) else job
        with self.store.begin() as conn:
            stored = spec.stored().model_dump()
            job_id = protocol.enqueue(conn, pipeline, stored, spec.max_attempts, kind)
        return self.job(job_id, events=0)

    def _same_target(self, job_id: int, spec: PipelineSpec) -> bool:
        """Whether the unfinished job copies what ``spec`` describes.

        Resuming a job under a changed definition would apply its checkpoint to other
        data. A job that never committed a batch (say it failed on a mistyped host) is
        simply replaced by a new one: the corrected command just works. A job with
        progress is kept, and the change refused with a way out.
        """
        with self.store.begin() as conn:
            changed = catalog.identity_change(conn, job_id, spec)
            if not changed:
                return True
            if catalog.never_committed(conn, job_id) and protocol.supersede(conn, job_id, changed):
                return False
        raise catalog.unfinished_job_differs(spec.name, job_id, changed)

    def job(self, job_id: int, *, events: int = 20) -> JobView:
        with self.store.begin() as conn:
            row, now = queries.job(conn, job_id), queries.store_now(conn)
        return JobView.from_row(row, now, self.events(job_id, limit=events) if events else None)

    def jobs(
        self,
        *,
        status: str | None = None,
        pipeline: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JobView]:
        with self.store.begin() as conn:
            rows = queries.jobs_page(conn, status, pipeline, limit, offset)
            now = queries.store_now(conn)
        return [JobView.from_row(r, now) for r in rows]

    def count_jobs(self, *, status: str | None = None, pipeline: str | None = None) -> int:
        """How many jobs :meth:`jobs` pages through with the same filters."""
        with self.store.begin() as conn:
            return queries.count_jobs(conn, status, pipeline)

    def job_counts(self, *, pipeline: str | None = None) -> dict[str, int]:
        """How many jobs are in each status: every status, 0 included, in the order of
        :data:`syncbeat.vocabulary.status.WATCH_ORDER`."""
        with self.store.begin() as conn:
            return queries.job_counts(conn, pipeline)

    def events(
        self, job_id: int, *, limit: int = 100, after_id: int | None = None
    ) -> list[EventView]:
        """The job's events, oldest first: its most recent ``limit``, or, to follow a job,
        the first ``limit`` after the event ``after_id``. An unknown job is an error."""
        with self.store.begin() as conn:
            rows = queries.events(conn, job_id, limit, after_id)
        return [EventView.from_row(r) for r in rows]

    def lease_health(self) -> tuple[float, int]:
        """The oldest heartbeat age among running jobs, and how many hold an expired lease."""
        with self.store.begin() as conn:
            return queries.lease_health(conn)

    # -- pause, resume, cancel ------------------------------------------------------------

    def _request(self, job_id: int, action: Request) -> JobView:
        while True:
            with self.store.begin() as conn:
                if protocol.request(conn, job_id, action):
                    break
            # The job changed between our read and our write: decide again.
        return self.job(job_id, events=0)

    def pause(self, job_id: int) -> JobView:
        return self._request(job_id, Request.PAUSE)

    def resume(self, job_id: int) -> JobView:
        return self._request(job_id, Request.RESUME)

    def cancel(self, job_id: int) -> JobView:
        return self._request(job_id, Request.CANCEL)

    # -- running ----------------------------------------------------------------------

    def run_job(
        self,
        job_id: int,
        hooks: RunHooks | None = None,
        *,
        spec: PipelineSpec | None = None,
        owner: Owner | None = None,
    ) -> tuple[JobView, Outcome]:
        """Claim one job and run it in this process until it ends or stops cleanly.

        A job held by a live lease elsewhere raises JobBusy. A job whose owner was a
        process on this machine that no longer exists is taken over at once (its lease
        is void; fencing makes that safe even if we were wrong).
        """
        owner = owner or Owner.here("sync")
        job = self.job(job_id, events=0)
        if job.status in (PAUSED, FAILED):
            job = self.resume(job_id)
        if job.status not in (QUEUED, RUNNING):
            raise InvalidTransition(
                f"Job {job_id} is {job.status}; there is nothing to run.",
                hint=f"Start a new job: syncbeat run {job.pipeline}",
            )
        with self.store.begin() as conn:
            spec = spec or PipelineSpec(**queries.job(conn, job_id)["spec"])
            claimed = protocol.claim(conn, str(owner), spec.lease_ttl, job_id=job_id)
        if claimed is None:
            raise JobBusy(
                f"Job {job_id} is running in {job.owner} (heartbeat "
                f"{job.heartbeat_age_seconds or 0:.0f}s ago).",
                hint="Wait for it, or stop that process; a dead process's job is taken "
                "over once its lease expires.",
            )
        outcome = run_claimed(self.store, claimed, spec, hooks or RunHooks())
        return self.job(job_id, events=0), outcome

    def sync(
        self, spec: PipelineSpec, hooks: RunHooks | None = None, *, named_by_default: bool = False
    ) -> tuple[JobView, Outcome]:
        """Save the pipeline and run a full sync in the foreground, resuming its
        unfinished job if there is one.

        A literal password is accepted here: this process holds it for the run (the
        store keeps it masked, so only a rerun of the same command can resume). With
        ``named_by_default``, ``spec.name`` is the default name, and a pipeline that an
        earlier version saved under its older default name is resumed when it copies
        exactly this (see :func:`syncbeat.store.catalog.name_by_default`)."""
        # A URL that cannot work (bad syntax, unknown driver, unset ${VAR}) is a usage
        # error: say so before anything is saved or a job is created.
        engines.check(spec.source_url)
        engines.check(spec.dest_url)
        if named_by_default:
            with self.store.begin() as conn:
                spec = spec.model_copy(update={"name": catalog.name_by_default(conn, spec)})
        self._save_pipeline(spec, None, to_run_now=True)
        job = self.enqueue(spec.name, spec=spec)
        return self.run_job(job.id, hooks, spec=spec)

    # -- verify -----------------------------------------------------------------------

    def verify(
        self,
        name: str,
        *,
        spec: PipelineSpec | None = None,
        on_segment: Callable[[Report], None] | None = None,
        allowed: allowlist.Allowlist | None = None,
    ) -> Report:
        """Compare the pipeline's destination with its source, checksums first (see
        :mod:`syncbeat.engine.verify`); nothing is written. A pipeline an API token
        holder wrote reaches only what the allowlist names, as its jobs do: ``allowed``
        (`syncbeat serve`'s, when the API verifies), else this process's environment."""
        view = self.pipeline(name)
        spec = spec or self.pipeline_spec(name)
        if view.origin != Origin.OPERATOR:
            (allowed or allowlist.Allowlist.configured()).check_pipeline(
                spec.source_url, spec.dest_url
            )
        # Start-up: verify's modules (checksums, canonical forms, a thread pool) load only
        # for a verify, not for every command that makes a Syncbeat.
        from syncbeat.engine.sides import open_sides
        from syncbeat.engine.verify import verify

        try:
            sides = open_sides(spec)
            try:
                return verify(sides, on_segment or (lambda report: None))
            finally:
                sides.dispose()
        except sa.exc.DBAPIError as exc:  # a range's checksums, once both sides were open
            raise _redacted(classify(exc, f"verifying pipeline {name}"), spec) from None
        except SyncbeatError as exc:
            raise _redacted(exc, spec) from None

    def repair(self, name: str) -> JobView:
        """Queue a repair of the pipeline (see :mod:`syncbeat.engine.repair`): a job
        that copies again only the rows verify finds missing or changed, and deletes the
        extra ones. Run it with :meth:`run_job`, or leave it to a worker. An unfinished
        repair is resumed instead; an unfinished sync must end first."""
        return self.enqueue(name, kind=JobKind.REPAIR)

    # -- workers ----------------------------------------------------------------------

    def worker(self, settings: WorkerSettings | None = None) -> Worker:
        """A worker on this store; call ``run()`` on it (blocks) and ``stop()`` to drain."""
        from syncbeat.service.worker import Worker  # start-up: only `syncbeat worker` runs one

        return Worker(self.store, settings)

    def workers(self, *, include_stopped: bool = False) -> list[WorkerView]:
        with self.store.begin() as conn:
            rows = queries.all_workers(conn, include_stopped)
            now = queries.store_now(conn)
        return [WorkerView.from_row(r, now) for r in rows]
