"""A worker: claims jobs from the store, runs up to N at once, and reaps expired leases.

Any number of workers, on any number of machines, share one store. The store's row
locks and clock coordinate them (see :mod:`syncbeat.store.protocol`); workers never talk to each
other. On SIGTERM/SIGINT a worker drains: each job stops after its current batch and
goes back to the queue without being charged an attempt.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from syncbeat import counters
from syncbeat.connectors.allowlist import Allowlist
from syncbeat.engine.hooks import RunHooks
from syncbeat.engine.runner import Outcome, run_claimed
from syncbeat.store import Store, protocol, registry
from syncbeat.store.owners import Owner
from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.lease import Lease
from syncbeat.vocabulary.pipeline import PipelineSpec, check_lease_timing
from syncbeat.vocabulary.status import FAILED, QUEUED, RunEnd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker behaves. ``None`` leaves each pipeline's own value in force."""

    concurrency: int = defaults.WORKER_CONCURRENCY
    heartbeat_interval: float | None = None
    lease_ttl: float | None = None
    max_attempts: int | None = None
    batch_timeout: float | None = None
    poll_interval: float = defaults.POLL_INTERVAL
    once: bool = False
    name: str | None = None
    allowlist: Allowlist | None = None  # None: Allowlist.configured() from the environment

    def __post_init__(self) -> None:
        if self.heartbeat_interval is not None:
            check_lease_timing(self.lease_ttl or defaults.LEASE_TTL, self.heartbeat_interval)

    @property
    def reap_interval(self) -> float:
        return self.heartbeat_interval or defaults.HEARTBEAT_INTERVAL


class Worker:
    def __init__(self, store: Store, settings: WorkerSettings | None = None) -> None:
        self.store = store
        self.settings = settings or WorkerSettings()
        self.owner = Owner.here(self.settings.name)
        self._stopping = threading.Event()
        self._threads: dict[int, threading.Thread] = {}
        self.outcomes: dict[int, Outcome] = {}

    @property
    def name(self) -> str:
        return self.owner.name

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Drain: stop claiming, let running jobs stop at their next batch boundary."""
        self._stopping.set()

    # -- the loop --------------------------------------------------------------------

    def run(self) -> int:
        """Work until stopped (or, with ``once``, until one job has run). Returns the
        number of jobs run."""
        s = self.settings
        self._register()
        ran = 0
        next_reap = next_beat = 0.0
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                if now >= next_reap:
                    self._reap()
                    next_reap = now + s.reap_interval
                if now >= next_beat:
                    self._beat()
                    next_beat = now + s.reap_interval
                self._threads = {j: t for j, t in self._threads.items() if t.is_alive()}
                claimed = 0
                while len(self._threads) < s.concurrency and not (s.once and ran):
                    lease = self._claim()
                    if lease is None:
                        break
                    self._start(lease)
                    ran += 1
                    claimed += 1
                if s.once and (ran == 0 or not self._threads):
                    break
                # --once waits only for its job to end, not for a poll interval after.
                pause = s.poll_interval if not s.once else min(s.poll_interval, 0.1)
                self._stopping.wait(0.01 if claimed else pause)
        finally:
            for thread in list(self._threads.values()):
                thread.join()
            self._unregister()
        return ran

    def _claim(self) -> Lease | None:
        ttl = self.settings.lease_ttl or defaults.LEASE_TTL
        try:
            with self.store.begin() as conn:
                lease = protocol.claim(
                    conn, str(self.owner), ttl, max_attempts=self.settings.max_attempts
                )
        except sa.exc.DBAPIError as exc:  # store unreachable: try at the next poll
            # (a claim that did commit is a lease nobody renews: the reaper requeues it)
            log.warning(
                "could not claim from the store: %s",
                type(exc.orig).__name__,
                extra={"action": "claim_failed"},
            )
            return None
        if lease is None:
            return None
        log.info(
            "claimed job %s (attempt %s, epoch %s)",
            lease.job_id,
            lease.attempt,
            lease.epoch,
            extra={"action": "claimed", "job_id": lease.job_id},
        )
        return lease

    def _spec(self, lease: Lease) -> PipelineSpec:
        """The job's pipeline, with the worker's overrides."""
        s = self.settings
        spec = PipelineSpec(**lease.spec)
        overrides: dict[str, Any] = {
            name: value
            for name, value in (
                ("heartbeat_interval", s.heartbeat_interval),
                ("lease_ttl", s.lease_ttl),
                ("batch_timeout", s.batch_timeout),
            )
            if value is not None
        }
        return spec.model_copy(update=overrides) if overrides else spec

    def _start(self, lease: Lease) -> None:
        thread = threading.Thread(
            target=self._work, args=(lease,), name=f"job-{lease.job_id}", daemon=True
        )
        self._threads[lease.job_id] = thread
        thread.start()

    def _work(self, lease: Lease) -> None:
        try:
            spec = self._spec(lease)
            cap = self.settings.max_attempts
            if cap is not None and cap < lease.max_attempts:  # e.g. for the watchdog
                lease = replace(lease, max_attempts=cap)
            if spec.lease_ttl != lease.ttl:
                lease = replace(lease, ttl=spec.lease_ttl)
                with self.store.begin() as conn:  # the claim used the worker's TTL
                    protocol.renew(conn, lease)
            hooks = RunHooks(should_stop=self._stopping.is_set, allowlist=self.settings.allowlist)
            outcome = run_claimed(self.store, lease, spec, hooks)
        except Exception as exc:  # never let one job kill the worker
            written = (str(lease.spec.get("source_url", "")), str(lease.spec.get("dest_url", "")))
            log.error(
                "job %s could not run: %s",
                lease.job_id,
                urls.redacted_traceback(written, exc),
                extra={"action": "job_crashed", "job_id": lease.job_id},
            )
            outcome = Outcome(RunEnd.FAILED, urls.redact(written, f"{type(exc).__name__}: {exc}"))
            self._fail(lease, outcome.message)
            counters.job_run_ended(outcome.status)  # run_claimed counts the runs that end
        self.outcomes[lease.job_id] = outcome
        log.info(
            "job %s %s %s",
            lease.job_id,
            outcome.status,
            outcome.message,
            extra={"action": "job_done", "job_id": lease.job_id, "status": outcome.status},
        )

    def _fail(self, lease: Lease, message: str) -> None:
        try:
            with self.store.begin() as conn:
                protocol.finish(conn, lease, FAILED, message, error=message)
        except Exception:
            log.exception("could not fail job %s", lease.job_id)

    def _reap(self) -> None:
        try:
            with self.store.begin() as conn:
                registry.clamp_future_workers(conn)
                reaped = protocol.reap(conn, self.settings.max_attempts)
        except sa.exc.DBAPIError as exc:
            log.warning(
                "reaper could not reach the store: %s",
                type(exc.orig).__name__,
                extra={"action": "reap_failed"},
            )
            return
        for r in reaped:
            log.warning(
                "job %s: lease of %s expired; %s",
                r.job_id,
                r.owner,
                "requeued" if r.status == QUEUED else "failed",
                extra={"action": "reaped", "job_id": r.job_id},
            )

    # -- the worker's own row, for `syncbeat workers` ---------------------------------

    def _register(self) -> None:
        s, owner = self.settings, self.owner
        with self.store.begin() as conn:
            interval = s.reap_interval
            registry.register(conn, self.name, owner.host, owner.pid, s.concurrency, interval)

    def _beat(self) -> None:
        try:
            with self.store.begin() as conn:
                registry.beat(conn, self.name, sorted(self._threads))
        except sa.exc.DBAPIError:
            log.warning("worker heartbeat failed", extra={"action": "worker_beat_failed"})

    def _unregister(self) -> None:
        try:
            with self.store.begin() as conn:
                registry.unregister(conn, self.name)
        except sa.exc.DBAPIError:
            log.warning("could not mark the worker stopped", extra={"action": "unregister"})
