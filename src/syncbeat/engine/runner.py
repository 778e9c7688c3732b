"""Runs one claimed job: the batch loop.

Per batch: read a keyset page from the source; write its rows and the destination state
row in one destination transaction (fenced on the lease epoch); record the checkpoint in
the store (fenced too). A transient error retries the batch with backoff; anything else
fails the job with its checkpoint on the batch that failed. Nothing is ever skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa

from syncbeat import counters
from syncbeat.connectors import allowlist
from syncbeat.connectors.destinations import SqlDestination
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.connectors.failures import classify, is_transient
from syncbeat.connectors.sources import SqlSource
from syncbeat.connectors.statements import Statements
from syncbeat.engine import changes, drift
from syncbeat.engine.choice import choose_mover
from syncbeat.engine.hooks import RunHooks
from syncbeat.engine.liveness import Heartbeat, Watchdog
from syncbeat.engine.movers import Moved, Mover
from syncbeat.engine.progress import Progress
from syncbeat.engine.retry import retrying
from syncbeat.engine.sizing import BatchSizer
from syncbeat.store import Store, events, protocol
from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import (
    Interrupted,
    LeaseLost,
    Requested,
    Stuck,
    SyncbeatError,
    TransientError,
)
from syncbeat.vocabulary.lease import Lease
from syncbeat.vocabulary.pipeline import Mode, Origin, PipelineSpec
from syncbeat.vocabulary.status import JobKind, JobStatus, Request, RunEnd, run_end

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """How a run in this process ended, and the message it left."""

    status: RunEnd
    message: str = ""


class Runner:
    def __init__(self, store: Store, lease: Lease, spec: PipelineSpec, hooks: RunHooks) -> None:
        self.store, self.lease, self.spec, self.hooks = store, lease, spec, hooks
        self.redact = partial(urls.redact, (spec.source_url, spec.dest_url))
        self.source: SqlSource | None = None
        self.dest: SqlDestination | None = None
        self.statements = Statements()
        self.watchdog = Watchdog(lease, spec.batch_timeout, self.statements, self._in_store)
        self.heartbeat = Heartbeat(
            store, lease, spec.heartbeat_interval, watchdog=self.watchdog, enabled=hooks.checkpoints
        )
        self.mover: Mover | None = None
        self.repairing = lease.kind == JobKind.REPAIR  # a repair upserts what differs
        self.watch: drift.Watch

    def _in_store(self, write: Callable[[sa.Connection], T]) -> T:
        """One store transaction, tried again while it fails transiently, for as long
        as the lease is certainly ours. A lost connection must not fail the job: every
        write is fenced, so trying again after a commit whose answer was lost is safe."""
        wait = 0.05
        for tries in range(1, defaults.STORE_RETRIES + 1):
            try:
                with self.store.begin() as conn:
                    return write(conn)
            except sa.exc.DBAPIError as exc:
                if not is_transient(exc) or tries == defaults.STORE_RETRIES:
                    raise
                log.warning(
                    "store write failed (%s), trying again",
                    type(exc.orig).__name__,
                    extra={"action": "store_retry", "job_id": self.lease.job_id},
                )
            self.heartbeat.check()
            time.sleep(wait)
            wait = min(2 * wait, 1.0)
        raise AssertionError("unreachable")

    def _event(
        self,
        kind: str,
        message: str = "",
        data: dict[str, Any] | None = None,
        *,
        fenced: bool = True,
    ) -> None:
        """Append to the job's log, fenced like every write of a leased job: a runner
        whose job was taken over (say it was frozen past its lease) cannot add a
        `resumed` or a `retry` to the new owner's log. Only its own `lease_lost`, which
        says what happened to it, is written unfenced."""
        message = self.redact(message)

        def write(conn: sa.Connection) -> None:
            if fenced:
                protocol.check_fence(conn, self.lease)  # raises LeaseLost; the insert rolls back
            events.record(
                conn,
                self.lease.job_id,
                kind,
                message,
                data=data,
                epoch=self.lease.epoch,
                owner=self.lease.owner,
            )

        self._in_store(write)

    def _end(
        self, status: JobStatus, message: str, *, error: str | None = None, give_back: bool = False
    ) -> Outcome:
        """Finish the lease, leaving the job in ``status``; the protocol records the event."""
        message, error = self.redact(message), error and self.redact(error)
        self._in_store(
            lambda conn: protocol.finish(
                conn, self.lease, status, message, error=error, give_back_attempt=give_back
            )
        )
        return Outcome(run_end(status), message)

    def run(self) -> Outcome:
        try:
            with self.heartbeat:
                try:
                    return self._run()
                except Interrupted as exc:
                    return self._end(JobStatus.QUEUED, str(exc), give_back=True)
                except Requested as req:
                    return self._end(JobStatus(req.status), f"{req.status} on request")
                except LeaseLost:
                    raise
                except SyncbeatError as exc:
                    return self._end(JobStatus.FAILED, str(exc), error=str(exc))
                except Exception as exc:
                    log.error(
                        "internal error: %s",
                        urls.redacted_traceback((self.spec.source_url, self.spec.dest_url), exc),
                        extra={"action": "internal_error", "job_id": self.lease.job_id},
                    )
                    first = (str(exc).splitlines() or [""])[0]  # SQL and values follow
                    message = f"Internal error: {type(exc).__name__}: {first}"
                    return self._end(JobStatus.FAILED, message, error=message)
        except Stuck as exc:
            return Outcome(RunEnd.STUCK, str(exc))
        except LeaseLost as exc:
            if self.watchdog.stuck:  # it gave the job back: this run's writes are refused
                return Outcome(RunEnd.STUCK, self.watchdog.stuck_message)
            log.warning(
                "lease lost: %s", exc, extra={"action": "lease_lost", "job_id": self.lease.job_id}
            )
            try:
                self._event(events.LEASE_LOST, str(exc), fenced=False)
            except Exception:  # the store may be what we lost
                log.warning("could not record lease_lost", extra={"action": "lease_lost"})
            return Outcome(RunEnd.LEASE_LOST, str(exc))
        finally:
            if self.mover is not None:
                self.mover.close()
            for end in (self.source, self.dest):
                if end is not None:
                    end.dispose()

    def _run(self) -> Outcome:
        spec, lease = self.spec, self.lease
        if lease.origin != Origin.OPERATOR:  # checked again here: the store may be edited
            (self.hooks.allowlist or allowlist.Allowlist.configured()).check_pipeline(
                spec.source_url, spec.dest_url
            )
        self.source = source = SqlSource(
            spec.source_url, table=spec.source_table, query=spec.source_query, key=spec.key
        )
        mode = Mode.UPSERT if self.repairing else spec.mode
        self.dest = dest = SqlDestination(spec.dest_url, spec.dest_table, mode)
        for engine in (source.engine, dest.engine):
            self.statements.watch(engine)
        # The watchdog covers the steps before the first batch too: each can hang.
        self.watchdog.progress()
        self._step("opening the source", source.open)
        for warning in source.warnings:
            self._event(events.WARNING, warning)
            self.hooks.on_message(f"warning: {warning}")
        # A job's batches are all read with the columns it started with (see drift.py).
        started_with = self._in_store(lambda conn: drift.recorded(conn, lease.job_id))
        self.watch = self._step(
            "reading the source's columns",
            lambda: drift.Watch(
                source, lease.job_id, started_with if lease.checkpoint.started else None
            ),
        )
        self.heartbeat.check()
        self.watchdog.progress()
        keyed = source.collations  # an existing table's keys are checked against them
        current = self._step(
            "preparing the destination",
            lambda: dest.prepare(
                source.columns, source.key, source.dialect, lease.uid, lease.epoch, keyed
            ),
            destination=True,
        )
        checkpoint = current.checkpoint
        if checkpoint.started or lease.attempt > 1:
            message = f"resuming at {checkpoint.describe()}"
            self._event(events.RESUMED, message, checkpoint.to_json())
            self.hooks.on_message(f"Resuming job {lease.job_id} at row {checkpoint.rows_done:,}")
        if current.status != dest_state.RUNNING:
            self._finish_destination(checkpoint)
            return self._end(JobStatus.COMPLETED, f"{checkpoint.rows_done:,} rows")

        self.watchdog.progress()
        total = None if self.repairing else source.count()  # a repair's rows are its repairs
        self._in_store(
            lambda conn: protocol.update(
                conn,
                lease,
                rows_total=total,
                rows_done=checkpoint.rows_done,
                checkpoint=checkpoint.to_json(),
            )
        )
        progress = Progress(checkpoint.rows_done, total)
        self.hooks.on_progress(progress.snapshot())
        self.mover = mover = self._step("planning the batches", lambda: self._mover(source, dest))
        self._step("planning the batches", lambda: mover.start(checkpoint.last_key))
        sizer = BatchSizer(spec.batch_size, mover.max_batch, initial=mover.first_batch)
        more = True
        while more:
            self._between_batches()
            progress.batch_started()
            started = time.monotonic()
            moved = self._batch(checkpoint, sizer.size)
            sizer.observe(moved.rows, time.monotonic() - started)
            checkpoint = moved.after
            progress.batch_done(moved.rows)
            snapshot = progress.snapshot()
            if self.hooks.checkpoints and moved.rows:
                self._save_checkpoint(checkpoint, moved.rows, snapshot.rate)
            self.hooks.on_progress(snapshot)
            more = moved.more
        said = (
            None
            if self.repairing
            else changes.noticed(source, total, source.count(), checkpoint.rows_done)
        )
        if said:
            self._event(events.SOURCE_CHANGED, said.message, said.data)
            self.hooks.on_message(f"warning: {said.message}")
        self._finish_destination(checkpoint)
        return self._end(JobStatus.COMPLETED, mover.summary() or f"{checkpoint.rows_done:,} rows")

    def _mover(self, source: SqlSource, dest: SqlDestination) -> Mover:
        """The fastest way to move batches between these two ends; the choice, and why,
        is an event, so `syncbeat job show` explains a slow sync."""
        lease, before_write = self.lease, self.heartbeat.check
        ends = (source, dest, self.statements, lease.uid, lease.epoch)
        mover: Mover
        if self.repairing:
            from syncbeat.engine import repair, sides  # start-up: loaded for a repair only

            mover = fixer = repair.RepairMover(*ends, before_write=before_write)
            fixer.attach(sides.open_sides(self.spec))
            why = fixer.describe
        else:
            fenced = self.hooks.checkpoints
            mover, why = choose_mover(*ends, fenced=fenced, before_write=before_write)
        self._event(events.PLAN, why, {"path": mover.name, "columns": self.watch.columns})
        return mover

    def _retried(self, what: str, data: dict[str, Any], action: Callable[[int], T]) -> T:
        """Run ``action`` (given the retries so far), retrying transient errors with the
        batches' backoff; each retry is an event. A lost lease or a stuck batch is not
        retried: the heartbeat check before each try raises it."""
        retries = 0

        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            nonlocal retries
            self.heartbeat.check()
            retries = attempt
            if "batch" in data:
                counters.batch_retried()
            message = self.redact(f"{what} try {attempt} failed, retrying in {wait:.1f}s: {exc}")
            self._event(events.RETRY, message, {**data, "attempt": attempt, "wait": wait})
            self.hooks.on_message(message)

        def attempt() -> T:
            self.watchdog.progress()
            self.heartbeat.check()
            return action(retries)

        return retrying(self.spec.batch_max_retries, on_retry)(attempt)

    def _step(self, doing: str, action: Callable[[], T], *, destination: bool = False) -> T:
        """A step before or after the batches, retried like a batch: an outage as a job
        starts or ends must not fail it any more than one between two batches does. Each
        step can run again: opening reads the catalogue, preparing re-fences with the
        same epoch, finishing sets a status. An error that is not retried, or still fails
        after the retries, is classified: a message and a hint, never 'internal'."""
        try:
            return self._retried(f"{doing}:", {"step": doing}, lambda retries: action())
        except sa.exc.DBAPIError as exc:
            raise classify(exc, doing, destination=destination) from None

    def _save_checkpoint(self, checkpoint: Checkpoint, rows: int, rate: float | None) -> None:
        event = {
            "message": f"batch {checkpoint.batch_index}: {rows} rows",
            "rows": rows,
            "rows_done": checkpoint.rows_done,
            "retries": checkpoint.batch_retries,
        }
        requested = self._in_store(
            lambda conn: protocol.save_checkpoint(
                conn, self.lease, checkpoint, rate=rate, event=dict(event)
            )
        )
        self.heartbeat.renewed(requested)

    def _between_batches(self) -> None:
        """Honour Ctrl-C/SIGTERM, pause and cancel at the batch boundary."""
        self.heartbeat.check()
        if self.hooks.should_stop():
            raise Interrupted("Stopped on request after the last committed batch.")
        requested = self.heartbeat.requested
        if requested in (Request.PAUSE, Request.CANCEL):
            raise Requested(Request(requested).done)
        self.watch.check()

    def _batch(self, before: Checkpoint, size: int) -> Moved:
        """Move one batch, retrying transient errors with backoff."""
        number = before.batch_index + 1
        tried_at = time.monotonic()

        def move(retries: int) -> Moved:
            nonlocal tried_at
            tried_at = time.monotonic()
            assert self.mover is not None
            return self.mover.move(before, size, retries)

        try:
            moved = self._retried(f"batch {number}", {"batch": number}, move)
        except LeaseLost as exc:
            counters.batch_ended("stuck" if isinstance(exc, Stuck) else "fenced")
            raise
        except TransientError as exc:
            counters.batch_ended("failed")
            raise TransientError(
                f"Batch {number} failed after {self.spec.batch_max_retries} retries: {exc.message}",
                hint="The job keeps its checkpoint; run it again once the problem is fixed.",
            ) from None
        except Exception:
            counters.batch_ended("failed")
            raise
        if moved.rows:  # zero rows: the read that found the source's end, not a batch
            counters.batch_committed(self.spec.name, moved.rows, time.monotonic() - tried_at)
        return moved

    def _finish_destination(self, checkpoint: Checkpoint) -> None:
        assert self.dest is not None
        dest, lease = self.dest, self.lease
        self._step(
            "finishing the destination",
            lambda: dest.finish(lease.uid, lease.epoch),
            destination=True,
        )
        self._in_store(
            lambda conn: protocol.update(
                conn, self.lease, checkpoint=checkpoint.to_json(), rows_done=checkpoint.rows_done
            )
        )


def run_claimed(store: Store, lease: Lease, spec: PipelineSpec, hooks: RunHooks) -> Outcome:
    """Run a job this process has claimed, to its end or to a clean stop."""
    outcome = Runner(store, lease, spec, hooks).run()
    counters.job_run_ended(outcome.status)
    return outcome
