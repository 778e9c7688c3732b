"""A run's liveness: the heartbeat that renews its lease, and the watchdog that gives up
a batch that stopped moving. The heartbeat owns the watchdog and runs it on its thread;
the runner owns the heartbeat.

The heartbeat renews the lease on its own thread and its own store connection, so a
long batch or a slow source cannot starve it. It carries pause/cancel requests back to
the runner, and lets the runner ask, before every write, whether the lease can still be
trusted: if renewals have failed for most of a TTL (store unreachable), the lease may
expire in the store at any moment, so the runner stops writing first.

A heartbeat proves the process lives, not that its batch moves: a lock, a stuck query
or a hung network read would otherwise hold the lease forever. So a batch that makes no
progress for ``batch_timeout`` is abandoned and its job given back, while the worker
itself is alive and heartbeating. The runner marks progress at every step and every try.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa

from syncbeat.connectors.statements import Statements
from syncbeat.store import Store, events, protocol
from syncbeat.vocabulary.errors import LeaseLost, Stuck
from syncbeat.vocabulary.lease import Lease
from syncbeat.vocabulary.status import FAILED, QUEUED

log = logging.getLogger(__name__)

InStore = Callable[[Callable[[sa.Connection], None]], None]
"""Runs one store transaction, retried while the store fails transiently (the runner's)."""


class Watchdog:
    def __init__(
        self, lease: Lease, batch_timeout: float, statements: Statements, in_store: InStore
    ) -> None:
        self.lease, self.batch_timeout, self.statements = lease, batch_timeout, statements
        self._in_store = in_store
        self._progress_at: float | None = None
        self.stuck = False
        """True once this watchdog gave the job back: the run's later writes are refused."""
        self.stuck_message = ""

    def progress(self) -> None:
        """The run is starting a step or a try: the clock starts again."""
        self._progress_at = time.monotonic()

    def check(self) -> LeaseLost | None:
        """On the heartbeat thread: abandon a batch that made no progress for
        ``batch_timeout``. The job goes back to the queue (the attempt stays counted, so
        a job that always hangs ends up failed: once its attempts are used up, it fails
        here), the statement is cancelled, and the run is told to stop before its next
        write: the reason is returned."""
        started = self._progress_at
        if started is None or self.stuck:
            return None
        stalled = time.monotonic() - started
        if stalled <= self.batch_timeout:
            return None
        self.stuck = True
        lease = self.lease
        used_up = lease.attempt >= lease.max_attempts
        message = (
            f"batch made no progress for {stalled:.1f}s (batch timeout "
            f"{self.batch_timeout:g}s): abandoned, "
            + (
                f"and all {lease.max_attempts} attempts are used; the job failed"
                if used_up
                else "job given back"
            )
        )

        def give_back(conn: sa.Connection) -> None:
            if used_up:
                epoch, owner = lease.epoch, lease.owner
                events.record(conn, lease.job_id, events.STUCK, message, epoch=epoch, owner=owner)
                protocol.finish(conn, lease, FAILED, message, error=message)
            else:
                protocol.finish(conn, lease, QUEUED, message, kind=events.STUCK)

        stop: LeaseLost = Stuck(message)
        try:
            self._in_store(give_back)
            self.stuck_message = message
        except LeaseLost as exc:
            # The job was no longer ours to give back: it was taken over while this
            # process was frozen past its lease. That is what the run ends with, and
            # records (lease_lost), not a stuck batch given back.
            self.stuck = False
            stop = exc
        except sa.exc.DBAPIError as exc:  # the lease expires, and the reaper requeues it
            log.warning(
                "could not give the stuck job back: %s",
                type(exc.orig).__name__,
                extra={"action": "stuck", "job_id": lease.job_id},
            )
            self.stuck_message = message
        self.statements.cancel_all()
        return stop


class Heartbeat:
    def __init__(
        self,
        store: Store,
        lease: Lease,
        interval: float,
        *,
        watchdog: Watchdog | None = None,
        enabled: bool = True,
    ) -> None:
        self.store, self.lease, self.interval = store, lease, interval
        self.enabled = enabled  # False only for benchmarks measuring what it costs
        self.requested: str | None = None
        self.watchdog = watchdog
        period = watchdog.batch_timeout / 4 if watchdog is not None else interval
        self._tick = min(interval, period)
        self._lost: LeaseLost | None = None
        self._renewed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-job-{lease.job_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.enabled:
            self._thread.join(timeout=self._tick + 5)

    def renewed(self, requested: str | None) -> None:
        """The runner renewed the lease itself (every checkpoint does)."""
        self._renewed = time.monotonic()
        self.requested = requested

    def lost(self, error: LeaseLost) -> None:
        self._lost = error

    def check(self) -> None:
        """Raise LeaseLost unless the lease is certainly still ours."""
        if self._lost is not None:
            raise self._lost
        silent = time.monotonic() - self._renewed
        if self.enabled and not self.lease.trusted(silent):
            raise LeaseLost(
                f"The lease could not be renewed for {silent:.1f}s (TTL "
                f"{self.lease.ttl:g}s); stopping before it can expire under us."
            )

    def beat(self) -> None:
        with self.store.begin() as conn:
            requested = protocol.renew(conn, self.lease)
        self.renewed(requested)

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(self._tick):
            if self.watchdog is not None and (stop := self.watchdog.check()) is not None:
                self.lost(stop)
            if self._lost is not None:
                return
            if time.monotonic() - last_beat < self.interval - 1e-3:
                continue
            last_beat = time.monotonic()
            try:
                self.beat()
            except LeaseLost as exc:
                self.lost(exc)
                return
            except Exception as exc:  # store down: keep trying until the TTL says stop
                log.warning(
                    "heartbeat failed: %s",
                    exc.__class__.__name__,
                    extra={"action": "heartbeat_failed", "job_id": self.lease.job_id},
                )
