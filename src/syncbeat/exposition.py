"""Exposition: the store's gauges and the Prometheus endpoint of this process.

Store gauges are read from the job store at scrape time by :class:`StoreCollector`: jobs
by state, heartbeat age, expired leases, live workers. Every process that serves metrics
(a worker, the API) reports the same figures for the same store, next to its own
counters (:mod:`syncbeat.counters`).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from syncbeat.counters import REGISTRY
from syncbeat.service import Syncbeat
from syncbeat.vocabulary.errors import ConfigError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The Prometheus text format, as :func:`prometheus_client.generate_latest` writes it."""


# -- store gauges, read at scrape time ------------------------------------------------------


@dataclass(frozen=True)
class StoreFigures:
    jobs_by_state: dict[str, int]
    heartbeat_age_max: float
    lease_expired: int
    workers_alive: int


def store_figures(sb: Syncbeat) -> StoreFigures:
    """The job store's state as gauges see it, timed by the store's clock."""
    age, expired = sb.lease_health()
    return StoreFigures(
        jobs_by_state=sb.job_counts(),
        heartbeat_age_max=age,
        lease_expired=expired,
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
