"""The job protocol: every write to the jobs table, readable whole in one place.

Queue, claim (a takeover included), renew, checkpoint, finish, reap, a person's request,
superseding an unstarted job: each is one conditional statement. Every write of a leased
job carries its fencing token, ``WHERE lease_epoch = :epoch AND status = 'running'``. A
claim bumps the token, so once another worker has claimed a job, every write of the
previous owner matches zero rows, raises :class:`LeaseLost`, and rolls back with its
transaction. Every write that changes a job's status records its event in the same
transaction. Times are the store's (:mod:`~syncbeat.store.clock`); docs/design.md draws
the state machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from syncbeat import counters
from syncbeat.store import catalog, clock, events, owners
from syncbeat.store.schema import jobs
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import InvalidTransition, JobNotFound, LeaseLost
from syncbeat.vocabulary.lease import Lease, Reaped
from syncbeat.vocabulary.status import (
    CANCELLED,
    COMPLETED,
    FAILED,
    FINAL,
    PAUSED,
    QUEUED,
    RUNNING,
    TRANSITIONS,
    JobKind,
    JobStatus,
    Request,
    not_allowed,
    run_end,
)

# -- queueing ---------------------------------------------------------------------------
_KIND_SAID = {JobKind.FULL: "full sync", JobKind.REPAIR: "repair"}


def enqueue(
    conn: sa.Connection, pipeline: str, spec: dict[str, Any], max_attempts: int, kind: JobKind
) -> int:
    """Queue a job of ``kind`` of ``pipeline`` copying ``spec`` (its stored form). One
    unfinished job per pipeline (a partial unique index): a second raises IntegrityError."""
    now = clock.now()
    job_id: int = conn.execute(
        jobs.insert()
        .values(uid=uuid.uuid4().hex, pipeline=pipeline, kind=kind, status=QUEUED, spec=spec)
        .values(max_attempts=max_attempts, created_at=now, updated_at=now)
        .returning(jobs.c.id)
    ).scalar_one()
    events.record(conn, job_id, events.CREATED, f"{_KIND_SAID[kind]} queued")
    return job_id


def supersede(conn: sa.Connection, job_id: int, changed: list[str]) -> bool:
    """Cancel a job not running whose pipeline now copies something else (``changed``)."""
    superseded = conn.execute(
        jobs.update()
        .where(jobs.c.id == job_id, jobs.c.status.in_((QUEUED, FAILED, PAUSED)))
        .values(status=CANCELLED, finished_at=clock.now(), updated_at=clock.now())
    ).rowcount
    if superseded:
        events.record(
            conn,
            job_id,
            events.CANCELLED,
            f"superseded: the pipeline's {', '.join(changed)} changed "
            "before any batch was committed",
        )
    return bool(superseded)


# -- claiming ---------------------------------------------------------------------------
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


def _dead_owner(conn: sa.Connection, job_id: int) -> list[str]:
    """The running job's owner, if it was a process on this host that is gone: its lease
    is void, so the job is taken over at once (fenced, so safe even if we were wrong)."""
    owner = conn.execute(
        sa.select(jobs.c.owner).where(jobs.c.id == job_id, jobs.c.status == RUNNING)
    ).scalar()
    return [owner] if owner and owners.gone(owner) else []


def claim(
    conn: sa.Connection,
    owner: str,
    ttl: float,
    *,
    job_id: int | None = None,
    max_attempts: int | None = None,
) -> Lease | None:
    """Atomically take one queued job, or a running one whose lease expired; with
    ``job_id``, that job (also when its owner is a dead process of this machine).

    The pick locks the row it returns until the transaction ends, so the update that
    follows is the same atomic step. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets many
    workers claim at once without waiting on each other; SQLite: the store's ``BEGIN
    IMMEDIATE`` serialises claims. The pick also tells a takeover (the job was still
    ``running`` under another owner) from a claim of a queued job.
    """
    clamp_future_leases(conn)
    dead = _dead_owner(conn, job_id) if job_id is not None else []
    picked = conn.execute(
        sa.select(jobs.c.id, jobs.c.status, jobs.c.lease_epoch, jobs.c.attempt, jobs.c.max_attempts)
        .where(_claimable(job_id, dead, max_attempts))
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
        counters.lease_taken_over()
    if fresh_budget:
        said = f"all {picked.max_attempts} attempts were used; run again by hand, so the count "
        data = {"attempts_used": picked.attempt}
        events.record(conn, row["id"], events.ATTEMPTS_RESET, said + "starts over", data=data)
    lease = Lease.from_row(row, owner, ttl, catalog.origin_of(conn, row["pipeline"], row["spec"]))
    message = f"attempt {lease.attempt} of {lease.max_attempts}"
    events.record(conn, lease.job_id, events.CLAIMED, message, epoch=lease.epoch, owner=owner)
    return lease


# -- the holder's fenced writes -----------------------------------------------------------
def _fenced(lease: Lease) -> sa.ColumnElement[bool]:
    """The fencing condition of every write a lease's holder makes."""
    return sa.and_(
        jobs.c.id == lease.job_id, jobs.c.lease_epoch == lease.epoch, jobs.c.status == RUNNING
    )


def _taken_over(lease: Lease) -> LeaseLost:
    """A fenced write matched no row: the lease moved on; the caller's transaction rolls back."""
    counters.fenced_write_rejected("store")
    return LeaseLost(f"Job {lease.job_id}: lease {lease.epoch} was taken over.")


def _renewing(conn: sa.Connection, lease: Lease, **values: Any) -> str | None:
    """A fenced write that also renews the lease; returns the pending request, if any."""
    requested = conn.execute(
        jobs.update()
        .where(_fenced(lease))
        .values(heartbeat_at=clock.now(), lease_expires_at=clock.now_plus(lease.ttl), **values)
        .returning(jobs.c.requested)
    ).first()
    if requested is None:
        raise _taken_over(lease)
    return requested[0]  # type: ignore[no-any-return]


def renew(conn: sa.Connection, lease: Lease) -> str | None:
    """Renew the lease for its TTL. Returns a pending pause/cancel request; raises
    LeaseLost. A worker renews at once with the job's own TTL after claiming with its
    default one, so the lease is as long as the pipeline asked."""
    return _renewing(conn, lease)


def save_checkpoint(
    conn: sa.Connection,
    lease: Lease,
    checkpoint: Checkpoint,
    *,
    rate: float | None,
    event: dict[str, Any] | None = None,
) -> str | None:
    """Record a committed batch, renewing the lease. Returns a pending request."""
    requested = _renewing(
        conn,
        lease,
        checkpoint=checkpoint.to_json(),
        rows_done=checkpoint.rows_done,
        rate=rate,
        updated_at=clock.now(),
    )
    if event is not None:
        message = event.pop("message", "")
        data = dict(data=event, epoch=lease.epoch, owner=lease.owner)
        events.record(conn, lease.job_id, events.BATCH, message, **data)  # type: ignore[arg-type]
    return requested


def update(conn: sa.Connection, lease: Lease, **values: Any) -> None:
    """A fenced write of other job fields (rows_total, last_error, ...)."""
    result = conn.execute(
        jobs.update().where(_fenced(lease)).values(updated_at=clock.now(), **values)
    )
    if result.rowcount == 0:
        raise _taken_over(lease)


def check_fence(conn: sa.Connection, lease: Lease) -> None:
    """Raise LeaseLost unless ``lease`` still holds the job, locking its row until the end
    of the transaction, so what the caller writes next in it (an event) is fenced too."""
    update(conn, lease)


def finish(
    conn: sa.Connection,
    lease: Lease,
    status: JobStatus,
    message: str,
    *,
    error: str | None = None,
    give_back_attempt: bool = False,
    kind: str | None = None,
) -> None:
    """End the lease, leaving the job in ``status`` (final, paused, or queued again), and
    record the event that says so: ``kind``, by default the status's word (``released``
    for a job queued again). ``give_back_attempt``: a worker that stops on request
    (SIGTERM, Ctrl-C) returns the job without charging it an attempt."""
    values: dict[str, Any] = dict(status=status, owner=None, lease_expires_at=None, rate=None)
    values.update(requested=None, updated_at=clock.now())
    if status in FINAL:
        values["finished_at"] = clock.now()
    if error is not None or status == COMPLETED:
        values["last_error"] = error
    if give_back_attempt:
        values["attempt"] = jobs.c.attempt - 1
    result = conn.execute(jobs.update().where(_fenced(lease)).values(**values))
    if result.rowcount == 0:
        raise _taken_over(lease)
    kind = kind or run_end(status)
    events.record(conn, lease.job_id, kind, message, epoch=lease.epoch, owner=lease.owner)


# -- reaping ----------------------------------------------------------------------------
def reap(conn: sa.Connection, max_attempts: int | None = None) -> list[Reaped]:
    """Requeue every running job whose lease expired, or fail it once its attempts are
    used up. A stale owner cannot write afterwards: its writes require ``running``."""
    clamp_future_leases(conn)
    reaped: list[Reaped] = []
    for status in (QUEUED, FAILED):
        left = _attempts_left(max_attempts)
        # The owner stays, to show whose lease expired (RETURNING gives new values).
        values: dict[str, Any] = {"status": status, "lease_expires_at": None, "rate": None}
        if status == FAILED:
            used_up = "The lease expired and the job has used up its attempts."
            values.update(finished_at=clock.now(), last_error=used_up)
        rows = conn.execute(
            jobs.update()
            .where(_expired(), left if status == QUEUED else sa.not_(left))
            .values(updated_at=clock.now(), **values)
            .returning(
                jobs.c.id, jobs.c.lease_epoch, jobs.c.owner, jobs.c.attempt, jobs.c.max_attempts
            )
        ).all()
        for row in rows:
            reaped.append(Reaped(row.id, row.lease_epoch, row.owner, status))
            message = f"lease of {row.owner} expired" + (
                f"; requeued (attempt {row.attempt} of {row.max_attempts} used)"
                if status == QUEUED
                else f" and all {row.max_attempts} attempts are used; the job failed"
            )
            kind = events.STALLED if status == QUEUED else events.FAILED
            events.record(conn, row.id, kind, message, epoch=row.lease_epoch)
        if rows:
            counters.leases_reaped("requeued" if status == QUEUED else "failed", len(rows))
    return reaped


def clamp_future_leases(conn: sa.Connection) -> list[int]:
    """Pull every lease stamped in the store's future back to now + its TTL.

    All times come from the store's clock, so a heartbeat ahead of now means that clock
    stepped back since (NTP, a VM restored, a failover). Left alone, a dead owner's lease
    would look live for as long as the step (an hour, not a TTL). A heartbeat and its
    expiry are stamped together, so their difference is the TTL the owner asked for: the
    lease keeps that TTL from now, which delays a takeover by at most one TTL, and a live
    owner's next heartbeat stamps the same. Returns the ids of the jobs pulled back."""
    ahead = sa.and_(
        jobs.c.status == RUNNING, jobs.c.heartbeat_at > clock.now_plus(defaults.CLOCK_TOLERANCE)
    )
    step = (jobs.c.heartbeat_at - clock.now()).label("step")
    rows = conn.execute(
        sa.select(jobs.c.id, jobs.c.lease_epoch, jobs.c.owner, step)
        .where(ahead)
        .with_for_update(skip_locked=True)
    ).all()
    for row in rows:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == row.id, jobs.c.lease_epoch == row.lease_epoch, ahead)
            .values(
                lease_expires_at=clock.now() + (jobs.c.lease_expires_at - jobs.c.heartbeat_at),
                heartbeat_at=clock.now(),
            )
        )
        message = (
            f"the lease of {row.owner} was stamped {row.step:.0f}s in the store's future (its "
            "clock stepped back); it now expires one TTL from now"
        )
        data = {"seconds_ahead": round(row.step, 3)}
        events.record(conn, row.id, events.CLOCK_STEPPED, message, data=data, epoch=row.lease_epoch)
    return [row.id for row in rows]


# -- a person's requests ------------------------------------------------------------------


def request(conn: sa.Connection, job_id: int, action: Request) -> bool:
    """Ask for ``action`` on the job, in ``conn``'s transaction. False when the job changed
    between the read and the write (the caller decides again); InvalidTransition when its
    status does not allow the action. One that takes effect at once also clears a request
    left on the row for a run that no longer goes: the person's latest word counts."""
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise JobNotFound(f"There is no job {job_id}.", hint="`syncbeat jobs` lists the jobs.")
    status = JobStatus(row["status"])
    if action == Request.PAUSE and row["requested"] == Request.CANCEL:
        raise InvalidTransition(f"Job {job_id} is being cancelled; it cannot be paused.")
    transitions = TRANSITIONS[action]
    if status not in transitions:
        raise not_allowed(job_id, status, action, row["pipeline"])
    target = transitions[status]
    # Both writes are conditional on the status (and lease) just read: a job that
    # finished or changed hands meanwhile is looked at again, never overwritten.
    same = sa.and_(
        jobs.c.id == job_id, jobs.c.status == status, jobs.c.lease_epoch == row["lease_epoch"]
    )
    if target is None:  # running: the runner honours it at the next batch
        if not conn.execute(jobs.update().where(same).values(requested=action)).rowcount:
            return False
        events.record(conn, job_id, events.REQUESTED, f"{action} requested")
        return True
    values: dict[str, Any] = {"status": target, "updated_at": clock.now(), "requested": None}
    if action == Request.RESUME:
        values.update(attempt=0, last_error=None, finished_at=None)
    if target == CANCELLED:
        values["finished_at"] = clock.now()
    if not conn.execute(jobs.update().where(same).values(**values)).rowcount:
        return False
    kind = events.REQUEUED if target == QUEUED else target
    events.record(conn, job_id, kind, f"{action.done} by request")
    return True
