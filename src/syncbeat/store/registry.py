"""The workers' registry: each worker's own row, for `syncbeat workers` and the gauges.

A worker's row is for people and dashboards only: no lease depends on it (leases live
on the jobs' rows, :mod:`syncbeat.store.protocol`), so a failed write here is logged and
forgotten by the caller.
"""

from __future__ import annotations

import sqlalchemy as sa

from syncbeat.store import clock
from syncbeat.store.schema import workers
from syncbeat.vocabulary import defaults


def register(
    conn: sa.Connection, name: str, host: str, pid: int, concurrency: int, interval: float
) -> None:
    """Start the worker's row afresh (a restarted worker of the same name replaces it)."""
    conn.execute(workers.delete().where(workers.c.name == name))
    conn.execute(
        workers.insert().values(
            name=name,
            host=host,
            pid=pid,
            concurrency=concurrency,
            heartbeat_interval=interval,
            jobs=[],
            started_at=clock.now(),
            heartbeat_at=clock.now(),
        )
    )


def beat(conn: sa.Connection, name: str, job_ids: list[int]) -> None:
    conn.execute(
        workers.update()
        .where(workers.c.name == name)
        .values(heartbeat_at=clock.now(), jobs=job_ids)
    )


def unregister(conn: sa.Connection, name: str) -> None:
    conn.execute(
        workers.update()
        .where(workers.c.name == name)
        .values(stopped_at=clock.now(), heartbeat_at=clock.now(), jobs=[])
    )


def clamp_future_workers(conn: sa.Connection) -> int:
    """Pull worker heartbeats stamped in the store's future back to now, so that a worker
    that died before the store's clock stepped back shows as gone after three of its
    intervals, not after the step. Returns how many were pulled back."""
    return int(
        conn.execute(
            workers.update()
            .where(
                workers.c.stopped_at.is_(None),
                workers.c.heartbeat_at > clock.now_plus(defaults.CLOCK_TOLERANCE),
            )
            .values(heartbeat_at=clock.now())
        ).rowcount
    )
