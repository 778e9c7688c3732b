"""A store clock that stepped back: leases and worker heartbeats stamped in its future.

Every lease time comes from the store's clock (:mod:`syncbeat.store.clock`), which protects
against skew between machines but not against the store's own clock stepping back.
"""

from __future__ import annotations

import sqlalchemy as sa

from syncbeat.store import clock, events
from syncbeat.store.schema import jobs, workers

CLOCK_TOLERANCE = 1.0
"""Seconds a heartbeat may lie ahead of the store's now before it counts as stamped by a
clock that has since stepped back (more than the jitter of concurrent statements)."""


def clamp_future_leases(conn: sa.Connection) -> list[int]:
    """Pull every lease stamped in the store's future back to now + its TTL.

    All times come from the store's clock, so a heartbeat ahead of now means that clock
    stepped back since (NTP, a VM restored, a failover to a server with another clock).
    Left alone, the lease of a dead owner would look live for as long as the step (an
    hour, not a TTL). A heartbeat and its lease expiry are stamped together, so their
    difference is the TTL the owner asked for: the lease keeps that TTL from now, and a
    clock step delays a takeover by at most one TTL. A live owner loses nothing: its next
    heartbeat stamps the same. Returns the ids of the jobs pulled back."""
    ahead = sa.and_(
        jobs.c.status == "running",
        jobs.c.heartbeat_at > clock.now_plus(CLOCK_TOLERANCE),
    )
    rows = conn.execute(
        sa.select(jobs.c.id, jobs.c.heartbeat_at, jobs.c.lease_epoch, jobs.c.owner)
        .where(ahead)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return []
    now = conn.execute(sa.select(clock.now())).scalar_one()
    for row in rows:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == row.id, jobs.c.lease_epoch == row.lease_epoch, ahead)
            .values(
                lease_expires_at=clock.now() + (jobs.c.lease_expires_at - jobs.c.heartbeat_at),
                heartbeat_at=clock.now(),
            )
        )
        step = row.heartbeat_at - now
        events.record(
            conn,
            row.id,
            events.CLOCK_STEPPED,
            f"the lease of {row.owner} was stamped {step:.0f}s in the store's future (its "
            "clock stepped back); it now expires one TTL from now",
            data={"seconds_ahead": round(step, 3)},
            epoch=row.lease_epoch,
        )
    return [row.id for row in rows]


def clamp_future_workers(conn: sa.Connection) -> int:
    """Pull worker heartbeats stamped in the store's future back to now, so that a worker
    that died before the step shows as gone after three of its intervals, not after the
    step. Returns how many were pulled back."""
    return int(
        conn.execute(
            workers.update()
            .where(
                workers.c.stopped_at.is_(None),
                workers.c.heartbeat_at > clock.now_plus(CLOCK_TOLERANCE),
            )
            .values(heartbeat_at=clock.now())
        ).rowcount
    )
