"""Was every stale write refused? The lease protocol, from the store's events and the
destinations' state rows.

Each completed job must show one owner at a time (no event of a stale lease but its own
``lease_lost``), batches whose progress only grows within a lease, and a destination
state row that ends with the job's final fencing token and progress: a write of an
earlier lease accepted after a takeover would break one of them. On the way, the events
tell how the engine met the faults: takeovers, writes refused by fencing (in the store
or in the destination), workers that stopped writing on their own, stuck batches,
retries.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa

from syncbeat import Syncbeat
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.service.models import EventView, JobView
from tests.support.leases import assert_one_owner_at_a_time


@dataclass
class Tally:
    """What the events tell about the faults the engine met and how it handled them."""

    takeovers: int = 0
    fenced_store: int = 0  # a write to the store refused: another lease held the job
    fenced_dest: int = 0  # a batch refused by the destination's state row
    self_stopped: int = 0  # a worker that could not renew stopped before any write
    stuck: int = 0
    stalled: int = 0
    retries: int = 0
    injected_retries: int = 0
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def fenced_rejected(self) -> int:
        return self.fenced_store + self.fenced_dest


def _lease_lost(tally: Tally, event: EventView) -> None:
    text = event.message
    if "newer lease" in text:
        tally.fenced_dest += 1
    elif "taken over" in text:
        tally.fenced_store += 1
    else:
        tally.self_stopped += 1


def check_job(
    sb: Syncbeat, job: JobView, uid: str, dest_url: str, rows: int, batch: int, tally: Tally
) -> list[str]:
    """Problems with one completed job's protocol record; counts into ``tally``."""
    problems: list[str] = []
    history = sb.events(job.id, limit=10_000_000)
    try:
        claims = assert_one_owner_at_a_time(history, stale_lease_lost=True)
    except AssertionError as exc:
        problems.append(f"job {job.id} ({job.pipeline}): a stale lease wrote: {exc}")
        claims = [e for e in history if e.kind == "claimed"]
    tally.takeovers += max(0, len(claims) - 1)
    for event in history:
        tally.kinds[event.kind] += 1
        if event.kind == "lease_lost":
            _lease_lost(tally, event)
        elif event.kind == "stuck":
            tally.stuck += 1
        elif event.kind == "stalled":
            tally.stalled += 1
        elif event.kind == "retry":
            tally.retries += 1
            tally.injected_retries += "injected fault" in event.message
    problems += [f"job {job.id} ({job.pipeline}): {p}" for p in _progress(history, batch)]
    if job.rows_done != rows:
        problems.append(f"job {job.id} ({job.pipeline}): rows_done {job.rows_done}, not {rows}")
    problems += _check_state_row(job, uid, dest_url)
    return problems


def _progress(history: list[EventView], batch: int) -> list[str]:
    """Progress is one unbroken line: each lease resumes where the last committed batch
    ended (the destination may be one batch ahead of what the store heard, by a batch or
    a resume: a batch whose checkpoint write was refused), never before it; each of its
    batches starts where the previous one ended."""
    problems = []
    at: dict[int | None, int] = {}  # each lease's position
    heard = 0  # the furthest batch the store recorded
    for event in history:
        data = event.data or {}
        if event.kind == "resumed":
            resumed = int(data.get("rows_done", -1))
            if not heard <= resumed <= heard + batch:
                problems.append(
                    f"event {event.id}: lease {event.lease_epoch} resumed at row {resumed}, "
                    f"but the last batch recorded ended at row {heard}"
                )
            at[event.lease_epoch] = resumed
            # The destination's position, which the store now knows: a lease killed after
            # committing a batch there but before the store heard of it leaves the next
            # lease one batch past this one.
            heard = max(heard, resumed)
        elif event.kind == "batch":
            done, moved = int(data.get("rows_done", -1)), int(data.get("rows", -1))
            start = at.get(event.lease_epoch, 0)
            if done != start + moved:
                problems.append(
                    f"event {event.id}: a batch of {moved} rows of lease {event.lease_epoch} "
                    f"ends at row {done}, its lease was at row {start}"
                )
            at[event.lease_epoch] = done
            heard = max(heard, done)
    return problems


def _check_state_row(job: JobView, uid: str, dest_url: str) -> list[str]:
    """The destination's state row ends where the store's job ends, under its last
    lease: a write of any earlier lease accepted after it would show here."""
    engine = sa.create_engine(dest_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            table = dest_state.state_table
            found = conn.execute(sa.select(table).where(table.c.job_uid == uid)).all()
    finally:
        engine.dispose()
    if len(found) != 1:
        return [f"job {job.id}: {len(found)} state rows in its destination, not 1"]
    row = found[0]
    got = (row.lease_epoch, row.batch_index, row.rows_done, row.status)
    checkpoint = job.checkpoint or {}
    want = (job.lease_epoch, checkpoint.get("batch_index"), job.rows_done, dest_state.DONE)
    if got != want:
        return [
            f"job {job.id} ({job.pipeline}): destination state (epoch, batch, rows, status) "
            f"{got}, the store says {want}"
        ]
    return []
