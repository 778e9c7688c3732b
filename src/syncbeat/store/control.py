"""Pause, resume and cancel: a person's requests to a job, as compare-and-set writes.

A job that is not running changes status at once. A running job gets the request
written on its row, and its runner honours it at the next batch boundary (it reads it
in the answer to its heartbeat or checkpoint). Every write is conditional on the status
and lease epoch just read, so a job that finished or changed hands meanwhile is looked
at again, never overwritten.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncbeat.store import clock, events, jobs
from syncbeat.store import protocol as lease
from syncbeat.vocabulary.errors import InvalidTransition, JobNotFound

# For each request: the status a job can be in -> the status it goes to (None: the job is
# running, so the request is left for its runner to honour at the next batch boundary).
TRANSITIONS: dict[str, dict[str, str | None]] = {
    "pause": {"queued": "paused", "running": None},
    "cancel": {
        "queued": "cancelled",
        "paused": "cancelled",
        "failed": "cancelled",
        "running": None,
    },
    "resume": {"paused": "queued", "failed": "queued"},
}
DONE = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


def request(conn: sa.Connection, job_id: int, action: str) -> bool:
    """Ask for ``action`` on the job, in ``conn``'s transaction. False when the job changed
    between the read and the write (the caller decides again); InvalidTransition when its
    status does not allow the action."""
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise JobNotFound(f"There is no job {job_id}.", hint="`syncbeat jobs` lists the jobs.")
    status = row["status"]
    transitions = TRANSITIONS[action]
    if status not in transitions:
        raise InvalidTransition(
            f"Job {job_id} is {status}; it cannot be {DONE[action]} "
            f"(only a {' or '.join(transitions)} job can).",
            hint=f"A {status} job is finished; start a new one with: syncbeat run {row['pipeline']}"
            if action == "resume" and status in lease.FINAL
            else None,
        )
    target = transitions[status]
    # Both writes are conditional on the status (and lease) just read: a job that
    # finished or changed hands meanwhile is looked at again, never overwritten.
    same = sa.and_(
        jobs.c.id == job_id,
        jobs.c.status == status,
        jobs.c.lease_epoch == row["lease_epoch"],
    )
    if target is None:  # running: the runner honours it at the next batch
        if not conn.execute(jobs.update().where(same).values(requested=action)).rowcount:
            return False
        events.record(conn, job_id, events.REQUESTED, f"{action} requested")
    else:
        values: dict[str, Any] = {"status": target, "updated_at": clock.now()}
        if action == "resume":
            values.update(attempt=0, last_error=None, finished_at=None)
        if target == "cancelled":
            values["finished_at"] = clock.now()
        if not conn.execute(jobs.update().where(same).values(**values)).rowcount:
            return False
        events.record(
            conn,
            job_id,
            {"queued": "requeued"}.get(target, target),
            f"{DONE[action]} by request",
        )
    return True
