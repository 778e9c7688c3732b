"""The progress watchdog: a batch that makes no progress for ``batch_timeout`` is
abandoned and its job given back, while the worker itself is alive and heartbeating.

A heartbeat proves the process lives, not that its batch moves: a lock, a stuck query
or a hung network read would otherwise hold the lease forever. The watchdog runs on
the heartbeat thread; the runner marks progress at every step and every try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from syncbeat.connectors.statements import Statements
from syncbeat.store import events, protocol
from syncbeat.store.protocol import Lease
from syncbeat.vocabulary.errors import LeaseLost

log = logging.getLogger(__name__)
T = TypeVar("T")


class Stuck(LeaseLost):
    """The batch made no progress for the batch timeout; the job was given back."""


class Watchdog:
    def __init__(
        self,
        lease: Lease,
        batch_timeout: float,
        statements: Statements,
        in_store: Callable[[Callable[[sa.Connection], None]], None],
        stop_run: Callable[[LeaseLost], None],
    ) -> None:
        self.lease, self.batch_timeout, self.statements = lease, batch_timeout, statements
        self._in_store, self._stop_run = in_store, stop_run
        self._progress_at: float | None = None
        self.stuck = False
        """True once this watchdog gave the job back: the run's later writes are refused."""
        self.stuck_message = ""

    def progress(self) -> None:
        """The run is starting a step or a try: the clock starts again."""
        self._progress_at = time.monotonic()

    def check(self) -> None:
        """On the heartbeat thread: abandon a batch that made no progress for
        ``batch_timeout``. The job goes back to the queue (the attempt stays counted, so
        a job that always hangs ends up failed: once its attempts are used up, it fails
        here), the statement is cancelled, and the runner stops before its next write."""
        started = self._progress_at
        if started is None or self.stuck:
            return
        stalled = time.monotonic() - started
        if stalled <= self.batch_timeout:
            return
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
            protocol.finish(
                conn,
                lease,
                protocol.FAILED if used_up else protocol.QUEUED,
                error=message if used_up else None,
            )
            events.record(
                conn, lease.job_id, events.STUCK, message, epoch=lease.epoch, owner=lease.owner
            )
            if used_up:
                events.record(
                    conn, lease.job_id, events.FAILED, message, epoch=lease.epoch, owner=lease.owner
                )

        try:
            self._in_store(give_back)
        except LeaseLost as exc:
            # The job was no longer ours to give back: it was taken over while this
            # process was frozen past its lease. That is what the run ends with, and
            # records (lease_lost), not a stuck batch given back.
            self.stuck = False
            self._stop_run(exc)
            self.statements.cancel_all()
            return
        except sa.exc.DBAPIError as exc:  # the lease expires, and the reaper requeues it
            log.warning(
                "could not give the stuck job back: %s",
                type(exc.orig).__name__,
                extra={"action": "stuck", "job_id": lease.job_id},
            )
        self.stuck_message = message
        self._stop_run(Stuck(message))
        self.statements.cancel_all()
