"""Process counters: what this process did, counted where it happens.

A batch commits, a claim takes a lease over, a fenced write is refused: each is counted
in :data:`REGISTRY`, syncbeat's own registry, not prometheus_client's global one, so an
application that embeds syncbeat and several handles in one test process never register
a metric twice. They count what *this* process did since it started; Prometheus sums
them over processes. The store's gauges and the HTTP exposition are
:mod:`syncbeat.exposition`'s; this module imports nothing of syncbeat, so every layer
may count.

Labels are bounded: a pipeline's name, an outcome, a state; never a job id (one series
per job would grow without end) and never a URL (it may hold a password).
Recording costs a counter increment per batch, never per row, and never raises into the
engine: a failure to count is logged and forgotten.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    REGISTRY: CollectorRegistry
    """syncbeat's own registry: this process's counters and histograms."""

log = logging.getLogger(__name__)
P = ParamSpec("P")

BATCH_OUTCOMES = ("committed", "failed", "fenced", "stuck")
FENCED_WHERE = ("store", "destination")
REAPED_RESULTS = ("requeued", "failed")
RUN_OUTCOMES = ("completed", "failed", "paused", "cancelled", "released", "lease_lost", "stuck")
"""The words of ``syncbeat.vocabulary.status.RunEnd`` (this module imports nothing of
syncbeat, so a unit test keeps the two equal)."""

_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0)
"""The batch duration's buckets: dense around the 1.5 s target, up to the default batch
timeout (600 s)."""

EARLY_RECORDS = 1_000
"""Records kept, in order, until the metrics are made: importing prometheus_client (and
the http.server, wsgiref and email modules it brings) is a noticeable part of a short
sync's start-up, and `syncbeat sync` never shows its metrics. They are made when
:data:`REGISTRY` is first read (the exposition, `--metrics-port`, a test), or at the
record after these, and the records kept are replayed into them: every count is there."""


class _Metrics:
    """The registry and every metric in it."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.rows_synced = Counter(
            "syncbeat_rows_synced",
            "Rows written to destinations in committed batches, by pipeline.",
            ["pipeline"],
            registry=registry,
        )
        self.batches = Counter(
            "syncbeat_batches",
            "Batches by how they ended: committed; failed (the error fails the job: not "
            "retryable, or retries used up); fenced (rolled back: the lease moved on); "
            "stuck (abandoned by the progress watchdog). A retried batch that then commits "
            "counts once, as committed.",
            ["outcome"],
            registry=registry,
        )
        self.batch_retries = Counter(
            "syncbeat_batch_retries",
            "Tries of a batch that failed with a transient error and were retried after a backoff.",
            registry=registry,
        )
        self.batch_duration = Histogram(
            "syncbeat_batch_duration_seconds",
            "Time of a committed batch's try, from the source read to the destination "
            "commit. Adaptive batches aim at 1.5 s.",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.lease_takeovers = Counter(
            "syncbeat_lease_takeovers",
            "Claims that took a running job over from an owner whose lease had expired or "
            "whose process was dead.",
            registry=registry,
        )
        self.leases_reaped = Counter(
            "syncbeat_leases_reaped",
            "Expired leases this process's reaper ended, by result: the job requeued, or "
            "failed because its attempts were used up.",
            ["result"],
            registry=registry,
        )
        self.fenced_writes_rejected = Counter(
            "syncbeat_fenced_writes_rejected",
            "Writes refused because their fencing token (lease epoch) was no longer "
            "current, in the job store or in a destination's state table. Each stops a "
            "stale writer.",
            ["where"],
            registry=registry,
        )
        self.job_runs = Counter(
            "syncbeat_job_runs",
            "Runs of jobs in this process, by how they ended (released: given back to the "
            "queue, by a drain or Ctrl-C; lease_lost: taken over while it ran).",
            ["outcome"],
            registry=registry,
        )
        # Every label value a counter can take shows from the start, at 0: a rate() over a
        # series that appears only at its first increment misses that increment.
        for outcome in BATCH_OUTCOMES:
            self.batches.labels(outcome=outcome)
        for where in FENCED_WHERE:
            self.fenced_writes_rejected.labels(where=where)
        for result in REAPED_RESULTS:
            self.leases_reaped.labels(result=result)
        for outcome in RUN_OUTCOMES:
            self.job_runs.labels(outcome=outcome)


_Record = Callable[..., None]
_lock = threading.Lock()  # the engine records from several threads (worker, reaper)
_metrics: _Metrics | None = None
_early: list[tuple[_Record, tuple[Any, ...], dict[str, Any]]] = []


def _replay(record: _Record, metrics: _Metrics, args: Any, kwargs: Any) -> None:
    try:
        record(metrics, *args, **kwargs)
    except Exception:
        log.warning("could not record a metric", exc_info=True, extra={"action": "metric"})


def _made() -> _Metrics:
    """The metrics, made (and given the records kept until now) on first need."""
    global _metrics
    with _lock:
        if _metrics is None:
            made = _Metrics()
            for record, args, kwargs in _early:
                _replay(record, made, args, kwargs)
            _early.clear()
            _metrics = made
        return _metrics


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return _made().registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _recorder(record: Callable[Concatenate[_Metrics, P], None]) -> Callable[P, None]:
    """A recording function: kept for later while nobody has read the metrics (see
    :data:`EARLY_RECORDS`), and never raising: counting is never worth failing a batch
    for."""

    @functools.wraps(record)
    def safe(*args: P.args, **kwargs: P.kwargs) -> None:
        with _lock:
            if _metrics is None and len(_early) < EARLY_RECORDS:
                _early.append((record, args, kwargs))
                return
        _replay(record, _made(), args, kwargs)

    return safe


# -- recording, called by the engine --------------------------------------------------------


@_recorder
def batch_committed(m: _Metrics, pipeline: str, rows: int, seconds: float) -> None:
    m.rows_synced.labels(pipeline=pipeline).inc(rows)
    m.batches.labels(outcome="committed").inc()
    m.batch_duration.observe(seconds)


@_recorder
def batch_ended(m: _Metrics, outcome: str) -> None:
    """A batch that did not commit: failed, fenced or stuck."""
    m.batches.labels(outcome=outcome).inc()


@_recorder
def batch_retried(m: _Metrics) -> None:
    m.batch_retries.inc()


@_recorder
def lease_taken_over(m: _Metrics) -> None:
    m.lease_takeovers.inc()


@_recorder
def leases_reaped(m: _Metrics, result: str, count: int) -> None:
    m.leases_reaped.labels(result=result).inc(count)


@_recorder
def fenced_write_rejected(m: _Metrics, where: str) -> None:
    m.fenced_writes_rejected.labels(where=where).inc()


@_recorder
def job_run_ended(m: _Metrics, status: str) -> None:
    """``status`` is the run's end (``syncbeat.vocabulary.status.RunEnd``)."""
    m.job_runs.labels(outcome=str(status)).inc()
