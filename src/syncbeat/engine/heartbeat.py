"""The heartbeat: renews a lease on its own thread and its own store connection.

A long batch or a slow source cannot starve it. It also carries pause/cancel requests
back to the runner, runs the progress watchdog, and lets the runner ask, before every
write, whether the lease can still be trusted: if renewals have failed for most of a
TTL (store unreachable), the lease may expire in the store at any moment, so the runner
stops writing first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from syncbeat.store import Store
from syncbeat.store import protocol as lease_protocol
from syncbeat.store.protocol import Lease
from syncbeat.vocabulary.errors import LeaseLost

log = logging.getLogger(__name__)

SAFETY = 0.8
"""Fraction of the TTL after the last renewal beyond which the runner stops writing.
The remaining fifth covers the time between that check and the write."""


class Heartbeat:
    def __init__(
        self,
        store: Store,
        lease: Lease,
        interval: float,
        *,
        watchdog: Callable[[], None] | None = None,
        watchdog_period: float | None = None,
        enabled: bool = True,
    ) -> None:
        self.store, self.lease, self.interval = store, lease, interval
        self.enabled = enabled  # False only for benchmarks measuring what it costs
        self.requested: str | None = None
        self._watchdog = watchdog
        self._tick = min(interval, watchdog_period or interval)
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
        if self.enabled and silent > SAFETY * self.lease.ttl:
            raise LeaseLost(
                f"The lease could not be renewed for {silent:.1f}s (TTL "
                f"{self.lease.ttl:g}s); stopping before it can expire under us."
            )

    def beat(self) -> None:
        with self.store.begin() as conn:
            requested = lease_protocol.heartbeat(conn, self.lease)
        self.renewed(requested)

    def _run(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(self._tick):
            if self._watchdog is not None:
                self._watchdog()
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
