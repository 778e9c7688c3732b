"""The lease protocol: claim, heartbeat, checkpoint, finish, release.

These statements *are* the protocol, so they are kept together and readable as a whole.
Every write of a leased job carries its fencing token: ``WHERE lease_epoch = :epoch``.
A claim bumps the token, so once another worker has claimed a job, every write of the
previous owner matches zero rows, raises :class:`LeaseLost`, and rolls back with its
transaction. All times come from the store's clock (:mod:`syncbeat.store.clock`).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncbeat import counters as metrics
from syncbeat.connectors.allowlist import API, OPERATOR
from syncbeat.store import clock, clockstep, events
from syncbeat.store.schema import jobs, pipelines
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import LeaseLost

QUEUED, RUNNING, PAUSED = "queued", "running", "paused"
COMPLETED, FAILED, CANCELLED = "completed", "failed", "cancelled"
FINAL = frozenset({COMPLETED, FAILED, CANCELLED})
STATUSES = (RUNNING, QUEUED, PAUSED, FAILED, COMPLETED, CANCELLED)
"""Every job status, in the order people watch them: what needs attention first."""


@dataclass(frozen=True)
class Owner:
    """Who holds a lease: a readable name plus the host and process that run it."""

    name: str
    host: str
    pid: int

    @classmethod
    def here(cls, name: str | None = None) -> Owner:
        host = socket.gethostname()
        return cls(name or f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}", host, os.getpid())

    def __str__(self) -> str:
        return f"{self.name}@{self.host}:{self.pid}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        name, _, rest = text.rpartition("@")
        host, _, pid = rest.rpartition(":")
        return cls(name, host, int(pid)) if name and host and pid.isdigit() else None

    def is_dead_here(self) -> bool:
        """True only when this owner ran on this host and its process is gone. Then its
        lease is void at once; anywhere else we must wait for the lease to expire."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _is_zombie(self.pid)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass(frozen=True)
class Lease:
    """A claimed job as its runner sees it (Temporal's ``activity.info()``)."""

    job_id: int
    uid: str
    epoch: int
    owner: str
    attempt: int
    max_attempts: int
    ttl: float
    checkpoint: Checkpoint
    spec: dict[str, Any]
    origin: str = (
        "api"  # who wrote the job's URLs, judged at the claim (syncbeat.connectors.allowlist)
    )


def _expired() -> sa.ColumnElement[bool]:
    return sa.and_(jobs.c.status == RUNNING, jobs.c.lease_expires_at < clock.now())


def _attempts_left(max_attempts: int | None) -> sa.ColumnElement[bool]:
    """A worker's --max-attempts, when given, caps every job's own limit."""
    if max_attempts is None:
        return jobs.c.attempt < jobs.c.max_attempts
    return sa.and_(jobs.c.attempt < jobs.c.max_attempts, jobs.c.attempt < max_attempts)


def _claimable(
    job_id: int | None, dead_owners: Sequence[str], max_attempts: int | None = None
) -> sa.ColumnElement[bool]:
    expired = _expired()
    if job_id is None:
        # A worker never takes a job that has used up its attempts: the reaper fails it.
        expired = sa.and_(expired, _attempts_left(max_attempts))
    conditions = [jobs.c.status == QUEUED, expired]
    if dead_owners:
        conditions.append(sa.and_(jobs.c.status == RUNNING, jobs.c.owner.in_(dead_owners)))
    claimable = sa.or_(*conditions)
    return claimable if job_id is None else sa.and_(jobs.c.id == job_id, claimable)


def claim(
    conn: sa.Connection,
    owner: str,
    ttl: float,
    *,
    job_id: int | None = None,
    dead_owners: Sequence[str] = (),
    max_attempts: int | None = None,
) -> Lease | None:
    """Atomically take one queued job, or a running one whose lease expired.

    The pick locks the row it returns until the transaction ends, so the update that
    follows is the same atomic step. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets many
    workers claim at once without waiting on each other; SQLite: the store's ``BEGIN
    IMMEDIATE`` serialises claims. The pick also tells a takeover (the job was still
    ``running`` under another owner) from a claim of a queued job.
    """
    clockstep.clamp_future_leases(conn)
    picked = conn.execute(
        sa.select(jobs.c.id, jobs.c.status, jobs.c.lease_epoch, jobs.c.attempt, jobs.c.max_attempts)
        .where(_claimable(job_id, dead_owners, max_attempts))
        .order_by(jobs.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if picked is None:
        return None
    # A job named by its id is run by a person (`sync`, `run --wait`), who reran it on
    # purpose, usually after fixing the cause: that run gets a fresh attempt budget
    # rather than "attempt 8 of 5". Workers never get here with a spent budget.
    fresh_budget = job_id is not None and picked.attempt >= picked.max_attempts
    row = (
        conn.execute(
            jobs.update()
            # Conditional on what was picked, like every protocol write: on an engine
            # that ignored the row lock, a claim that lost the race updates nothing.
            .where(
                jobs.c.id == picked.id,
                jobs.c.status == picked.status,
                jobs.c.lease_epoch == picked.lease_epoch,
            )
            .values(
                status=RUNNING,
                owner=owner,
                lease_epoch=jobs.c.lease_epoch + 1,
                lease_expires_at=clock.now_plus(ttl),
                heartbeat_at=clock.now(),
                attempt=1 if fresh_budget else jobs.c.attempt + 1,
                started_at=sa.func.coalesce(jobs.c.started_at, clock.now()),
                updated_at=clock.now(),
                rate=None,
            )
            .returning(jobs)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    if picked.status == RUNNING:
        metrics.lease_taken_over()
    if fresh_budget:
        events.record(
            conn,
            row["id"],
            events.ATTEMPTS_RESET,
            f"all {picked.max_attempts} attempts were used; run again by hand, so the "
            "count starts over",
            data={"attempts_used": picked.attempt},
        )
    origin = _origin(conn, row["pipeline"], row["spec"])
    lease = Lease(
        job_id=row["id"],
        uid=row["uid"],
        epoch=row["lease_epoch"],
        owner=owner,
        attempt=row["attempt"],
        max_attempts=row["max_attempts"],
        ttl=ttl,
        checkpoint=Checkpoint.from_json(row["checkpoint"]),
        spec=row["spec"],
        origin=origin,
    )
    events.record(
        conn,
        lease.job_id,
        events.CLAIMED,
        f"attempt {lease.attempt} of {lease.max_attempts}",
        epoch=lease.epoch,
        owner=owner,
    )
    return lease


def _origin(conn: sa.Connection, pipeline: str, job_spec: dict[str, Any]) -> str:
    """Who wrote the URLs the job copies with. The job's definition was copied when it
    was queued, and the pipeline may have been saved since, by someone else: it is the
    operator's only while the operator's pipeline still names exactly these URLs, else
    the API's (the safe side), so re-saving a pipeline never vouches for a queued job."""
    found = conn.execute(
        sa.select(pipelines.c.origin, pipelines.c.spec).where(pipelines.c.name == pipeline)
    ).first()
    if found is None or found.origin != OPERATOR:
        return API
    same = all(found.spec.get(url) == job_spec.get(url) for url in ("source_url", "dest_url"))
    return OPERATOR if same else API


def _fenced(lease: Lease) -> sa.ColumnElement[bool]:
    return sa.and_(
        jobs.c.id == lease.job_id,
        jobs.c.lease_epoch == lease.epoch,
        jobs.c.status == RUNNING,
    )


def _taken_over(lease: Lease) -> LeaseLost:
    """A fenced write matched no row: the lease moved on (taken over, or expired and
    reaped). The caller raises it, and its transaction rolls back."""
    metrics.fenced_write_rejected("store")
    return LeaseLost(f"Job {lease.job_id}: lease {lease.epoch} was taken over.")


def heartbeat(conn: sa.Connection, lease: Lease) -> str | None:
    """Renew the lease. Returns a pending pause/cancel request; raises LeaseLost."""
    requested = conn.execute(
        jobs.update()
        .where(_fenced(lease))
        .values(heartbeat_at=clock.now(), lease_expires_at=clock.now_plus(lease.ttl))
        .returning(jobs.c.requested)
    ).first()
    if requested is None:
        raise _taken_over(lease)
    return requested[0]  # type: ignore[no-any-return]


def save_checkpoint(
    conn: sa.Connection,
    lease: Lease,
    checkpoint: Checkpoint,
    *,
    rate: float | None,
    event: dict[str, Any] | None = None,
) -> str | None:
    """Record a committed batch, renewing the lease. Returns a pending request."""
    requested = conn.execute(
        jobs.update()
        .where(_fenced(lease))
        .values(
            checkpoint=checkpoint.to_json(),
            rows_done=checkpoint.rows_done,
            rate=rate,
            heartbeat_at=clock.now(),
            lease_expires_at=clock.now_plus(lease.ttl),
            updated_at=clock.now(),
        )
        .returning(jobs.c.requested)
    ).first()
    if requested is None:
        raise _taken_over(lease)
    if event is not None:
        events.record(
            conn,
            lease.job_id,
            events.BATCH,
            event.pop("message", ""),
            data=event,
            epoch=lease.epoch,
            owner=lease.owner,
        )
    return requested[0]  # type: ignore[no-any-return]


def update(conn: sa.Connection, lease: Lease, **values: Any) -> None:
    """A fenced write of other job fields (rows_total, last_error, ...)."""
    result = conn.execute(
        jobs.update().where(_fenced(lease)).values(updated_at=clock.now(), **values)
    )
    if result.rowcount == 0:
        raise _taken_over(lease)


def finish(
    conn: sa.Connection,
    lease: Lease,
    status: str,
    *,
    error: str | None = None,
    give_back_attempt: bool = False,
) -> None:
    """End the lease, leaving the job in ``status`` (final, paused, or queued again).

    ``give_back_attempt``: a worker that stops on request (SIGTERM, Ctrl-C) returns the
    job without charging it an attempt.
    """
    values: dict[str, Any] = {
        "status": status,
        "owner": None,
        "lease_expires_at": None,
        "requested": None,
        "updated_at": clock.now(),
        "rate": None,
    }
    if status in FINAL:
        values["finished_at"] = clock.now()
    if error is not None or status == COMPLETED:
        values["last_error"] = error
    if give_back_attempt:
        values["attempt"] = jobs.c.attempt - 1
    result = conn.execute(jobs.update().where(_fenced(lease)).values(**values))
    if result.rowcount == 0:
        raise _taken_over(lease)


@dataclass(frozen=True)
class Reaped:
    job_id: int
    epoch: int
    owner: str | None
    status: str  # queued (to be claimed again) or failed (attempts used up)


def reap(conn: sa.Connection, max_attempts: int | None = None) -> list[Reaped]:
    """Requeue every running job whose lease expired, or fail it once its attempts are
    used up. A stale owner cannot write afterwards: its writes require ``running``."""
    clockstep.clamp_future_leases(conn)
    clockstep.clamp_future_workers(conn)
    reaped: list[Reaped] = []
    for status, attempts_left in ((QUEUED, True), (FAILED, False)):
        left = _attempts_left(max_attempts)
        # The owner stays, to show whose lease expired (RETURNING gives new values).
        values: dict[str, Any] = {
            "status": status,
            "lease_expires_at": None,
            "rate": None,
            "updated_at": clock.now(),
        }
        if status == FAILED:
            values.update(
                finished_at=clock.now(),
                last_error="The lease expired and the job has used up its attempts.",
            )
        rows = conn.execute(
            jobs.update()
            .where(_expired(), left if attempts_left else sa.not_(left))
            .values(**values)
            .returning(
                jobs.c.id, jobs.c.lease_epoch, jobs.c.owner, jobs.c.attempt, jobs.c.max_attempts
            )
        ).all()
        for row in rows:
            reaped.append(Reaped(row.id, row.lease_epoch, row.owner, status))
            message = (
                f"lease of {row.owner} expired; requeued (attempt {row.attempt} of "
                f"{row.max_attempts} used)"
                if status == QUEUED
                else f"lease of {row.owner} expired and all {row.max_attempts} attempts are used; "
                "the job failed"
            )
            events.record(
                conn,
                row.id,
                events.STALLED if status == QUEUED else events.FAILED,
                message,
                epoch=row.lease_epoch,
            )
        if rows:
            metrics.leases_reaped("requeued" if status == QUEUED else "failed", len(rows))
    return reaped
