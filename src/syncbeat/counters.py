"""Prometheus metrics: what this process did, and what the store holds now.

Two kinds, in one exposition:

* **Process metrics**, counted where things happen (a batch commits, a claim takes a
  lease over, a fenced write is refused). They live in :data:`REGISTRY`, syncbeat's own
  registry, not prometheus_client's global one, so an application that embeds syncbeat
  and several handles in one test process never register a metric twice. They count what
  *this* process did since it started; Prometheus sums them over processes.
* **Store gauges**, read from the job store at scrape time by :class:`StoreCollector`:
  jobs by state, heartbeat age, expired leases, live workers. Every process that serves
  metrics (a worker, the API) reports the same figures for the same store.

Labels are bounded: a pipeline's name, an outcome, a state; never a job id (one series
per job would grow without end) and never a URL (it may hold a password).
Recording costs a counter increment per batch, never per row, and never raises into the
engine: a failure to count is logged and forgotten.
"""

from __future__ import annotations

import errno
import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ParamSpec

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from syncbeat.store import clock
from syncbeat.store.schema import jobs
from syncbeat.vocabulary.errors import ConfigError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from syncbeat.service.facade import Syncbeat

log = logging.getLogger(__name__)
P = ParamSpec("P")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text format, as :func:`prometheus_client.generate_latest` writes it."""

REGISTRY = CollectorRegistry(auto_describe=True)
"""syncbeat's own registry: this process's counters and histograms."""

BATCH_OUTCOMES = ("committed", "failed", "fenced", "stuck")
FENCED_WHERE = ("store", "destination")
REAPED_RESULTS = ("requeued", "failed")
RUN_OUTCOMES = ("completed", "failed", "paused", "cancelled", "released", "lease_lost", "stuck")

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
    """``status`` is the run's Outcome status; a job given back is ``queued`` there."""
    JOB_RUNS.labels(outcome="released" if status == "queued" else status).inc()


# -- store gauges, read at scrape time ------------------------------------------------------


@dataclass(frozen=True)
class StoreFigures:
    jobs_by_state: dict[str, int]
    heartbeat_age_max: float
    lease_expired: int
    workers_alive: int


def store_figures(sb: Syncbeat) -> StoreFigures:
    """The job store's state as gauges see it, timed by the store's clock."""
    from syncbeat.store.protocol import RUNNING

    counts = sb.job_counts()
    running = jobs.c.status == RUNNING
    with sb.store.begin() as conn:
        age, expired = conn.execute(
            sa.select(
                sa.func.max(clock.now() - jobs.c.heartbeat_at),
                sa.func.count().filter(jobs.c.lease_expires_at < clock.now()),
            ).where(running)
        ).one()
    return StoreFigures(
        jobs_by_state=counts,
        heartbeat_age_max=max(0.0, float(age or 0.0)),
        lease_expired=int(expired or 0),
        workers_alive=sum(1 for worker in sb.workers() if worker.alive),
    )


_STORE_GAUGES = {
    "syncbeat_store_up": "1 when this scrape could read the job store, else 0.",
    "syncbeat_jobs": "Jobs in the store, by state.",
    "syncbeat_job_heartbeat_age_seconds_max": "Oldest heartbeat among running jobs, by the "
    "store's clock; 0 when none runs. Healthy: below the heartbeat interval.",
    "syncbeat_jobs_lease_expired": "Running jobs whose lease has expired: their worker died "
    "or froze, and no reaper or claim has taken them yet.",
    "syncbeat_workers_alive": "Workers that have not stopped and whose last heartbeat is "
    "less than three heartbeat intervals old.",
}


def _gauge(name: str, value: float | None = None) -> GaugeMetricFamily:
    labels = ["state"] if name == "syncbeat_jobs" else None
    return GaugeMetricFamily(name, _STORE_GAUGES[name], value=value, labels=labels)


class StoreCollector:
    """Gauges read from one store at each scrape. A store that cannot be read gives
    ``syncbeat_store_up 0`` and no other store gauge, instead of failing the scrape."""

    def __init__(self, sb: Syncbeat) -> None:
        self.sb = sb

    def describe(self) -> Iterator[Metric]:
        """The gauges' names, without reading the store (for the registry)."""
        return (_gauge(name) for name in _STORE_GAUGES)

    def collect(self) -> Iterator[Metric]:
        try:
            figures = store_figures(self.sb)
        except Exception as exc:
            log.warning(
                "metrics: cannot read the job store: %s",
                type(getattr(exc, "orig", None) or exc).__name__,
                extra={"action": "metrics_store"},
            )
            yield _gauge("syncbeat_store_up", 0)
            return
        yield _gauge("syncbeat_store_up", 1)
        by_state = _gauge("syncbeat_jobs")
        for state, count in figures.jobs_by_state.items():
            by_state.add_metric([state], count)
        yield by_state
        yield _gauge("syncbeat_job_heartbeat_age_seconds_max", figures.heartbeat_age_max)
        yield _gauge("syncbeat_jobs_lease_expired", figures.lease_expired)
        yield _gauge("syncbeat_workers_alive", figures.workers_alive)


class _ProcessMetrics:
    """:data:`REGISTRY` as one collector of another registry, without the ``*_created``
    series: the text format shows each as a gauge of its own that says nothing a reset
    of the counter does not, and doubles the output."""

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        for metric in REGISTRY.collect():  # fresh objects at each collect: ours to trim
            metric.samples = [s for s in metric.samples if not s.name.endswith("_created")]
            yield metric


def scrape_registry(sb: Syncbeat) -> CollectorRegistry:
    """This process's metrics and ``sb``'s store gauges, in one registry."""
    registry = CollectorRegistry()
    registry.register(_ProcessMetrics())
    registry.register(StoreCollector(sb))
    return registry


def exposition(sb: Syncbeat) -> tuple[bytes, str]:
    """The Prometheus text exposition of this process's metrics and of ``sb``'s store
    gauges, and its content type (for ``GET /metrics``)."""
    return generate_latest(scrape_registry(sb)), CONTENT_TYPE


def serve(sb: Syncbeat, port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve :func:`exposition` over HTTP on a thread (``syncbeat worker --metrics-port``).
    Returns the server; ``shutdown()`` stops it. A port in use is a ConfigError."""
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(port, addr=host, registry=scrape_registry(sb))
    except OSError as exc:
        taken = exc.errno == errno.EADDRINUSE
        raise ConfigError(
            f"Cannot serve metrics on {host}:{port}: "
            + ("the port is in use." if taken else (exc.strerror or str(exc))),
            hint="Choose another --metrics-port"
            + (", or stop the process that holds this one." if taken else " or --metrics-host."),
        ) from None
    return server
