"""The job's append-only event log: what happened, when, and under which lease."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncbeat.store import clock
from syncbeat.store.schema import job_events

# Kinds a user will meet in `syncbeat job show` and the API.
CREATED = "created"
CLAIMED = "claimed"
RESUMED = "resumed"
BATCH = "batch"
RETRY = "retry"
COMPLETED = "completed"
FAILED = "failed"
PAUSED = "paused"
CANCELLED = "cancelled"
RELEASED = "released"
LEASE_LOST = "lease_lost"
REQUESTED = "requested"
REQUEUED = "requeued"
WARNING = "warning"
SOURCE_CHANGED = "source_changed"  # a warning: the source changed while it was copied
STALLED = "stalled"
STUCK = "stuck"
PLAN = "plan"
ATTEMPTS_RESET = "attempts_reset"
CLOCK_STEPPED = "clock_stepped"


def record(
    conn: sa.Connection,
    job_id: int,
    kind: str,
    message: str = "",
    *,
    data: dict[str, Any] | None = None,
    epoch: int | None = None,
    owner: str | None = None,
) -> None:
    """Append one event. Callers that change state do it in the same transaction as the
    fenced write, so an event of a stale writer rolls back with its write."""
    conn.execute(
        job_events.insert().values(
            job_id=job_id,
            at=clock.now(),
            kind=kind,
            lease_epoch=epoch,
            owner=owner,
            message=message,
            data=data,
        )
    )
