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
from collections.abc import Callable
from typing import ParamSpec

from prometheus_client import CollectorRegistry, Counter, Histogram

log = logging.getLogger(__name__)
P = ParamSpec("P")

REGISTRY = CollectorRegistry(auto_describe=True)
"""syncbeat's own registry: this process's counters and histograms."""

BATCH_OUTCOMES = ("committed", "failed", "fenced", "stuck")
FENCED_WHERE = ("store", "destination")
REAPED_RESULTS = ("requeued", "failed")
RUN_OUTCOMES = ("completed", "failed", "paused", "cancelled", "released", "lease_lost", "stuck")
"""The words of ``syncbeat.vocabulary.status.RunEnd`` (this module imports nothing of
syncbeat, so a unit test keeps the two equal)."""

ROWS_SYNCED = Counter(
    "syncbeat_rows_synced",
    "Rows written to destinations in committed batches, by pipeline.",
    ["pipeline"],
    registry=REGISTRY,
)
BATCHES = Counter(
    "syncbeat_batches",
    "Batches by how they ended: committed; failed (the error fails the job: not "
    "retryable, or retries used up); fenced (rolled back: the lease moved on); stuck "
    "(abandoned by the progress watchdog). A retried batch that then commits counts once, "
    "as committed.",
    ["outcome"],
    registry=REGISTRY,
)
BATCH_RETRIES = Counter(
    "syncbeat_batch_retries",
    "Tries of a batch that failed with a transient error and were retried after a backoff.",
    registry=REGISTRY,
)
BATCH_DURATION = Histogram(
    "syncbeat_batch_duration_seconds",
    "Time of a committed batch's try, from the source read to the destination commit. "
    "Adaptive batches aim at 1.5 s.",
    # Dense around the 1.5 s target; up to the default batch timeout (600 s).
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0),
    registry=REGISTRY,
)
LEASE_TAKEOVERS = Counter(
    "syncbeat_lease_takeovers",
    "Claims that took a running job over from an owner whose lease had expired or whose "
    "process was dead.",
    registry=REGISTRY,
)
LEASES_REAPED = Counter(
    "syncbeat_leases_reaped",
    "Expired leases this process's reaper ended, by result: the job requeued, or failed "
    "because its attempts were used up.",
    ["result"],
    registry=REGISTRY,
)
FENCED_WRITES_REJECTED = Counter(
    "syncbeat_fenced_writes_rejected",
    "Writes refused because their fencing token (lease epoch) was no longer current, in "
    "the job store or in a destination's state table. Each stops a stale writer.",
    ["where"],
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "syncbeat_job_runs",
    "Runs of jobs in this process, by how they ended (released: given back to the queue, "
    "by a drain or Ctrl-C; lease_lost: taken over while it ran).",
    ["outcome"],
    registry=REGISTRY,
)

# Every label value a counter can take shows from the start, at 0: a rate() over a series
# that appears only at its first increment misses that increment.
for _outcome in BATCH_OUTCOMES:
    BATCHES.labels(outcome=_outcome)
for _where in FENCED_WHERE:
    FENCED_WRITES_REJECTED.labels(where=_where)
for _result in REAPED_RESULTS:
    LEASES_REAPED.labels(result=_result)
for _outcome in RUN_OUTCOMES:
    JOB_RUNS.labels(outcome=_outcome)


def _never_raises(record: Callable[P, None]) -> Callable[P, None]:
    """Counting is never worth failing a batch for."""

    @functools.wraps(record)
    def safe(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception:
            log.warning("could not record a metric", exc_info=True, extra={"action": "metric"})

    return safe


# -- recording, called by the engine --------------------------------------------------------


@_never_raises
def batch_committed(pipeline: str, rows: int, seconds: float) -> None:
    ROWS_SYNCED.labels(pipeline=pipeline).inc(rows)
    BATCHES.labels(outcome="committed").inc()
    BATCH_DURATION.observe(seconds)


@_never_raises
def batch_ended(outcome: str) -> None:
    """A batch that did not commit: failed, fenced or stuck."""
    BATCHES.labels(outcome=outcome).inc()


@_never_raises
def batch_retried() -> None:
    BATCH_RETRIES.inc()


@_never_raises
def lease_taken_over() -> None:
    LEASE_TAKEOVERS.inc()


@_never_raises
def leases_reaped(result: str, count: int) -> None:
    LEASES_REAPED.labels(result=result).inc(count)


@_never_raises
def fenced_write_rejected(where: str) -> None:
    FENCED_WRITES_REJECTED.labels(where=where).inc()


@_never_raises
def job_run_ended(status: str) -> None:
    """``status`` is the run's end (``syncbeat.vocabulary.status.RunEnd``)."""
    JOB_RUNS.labels(outcome=str(status)).inc()
