"""The destination's state table: the authoritative checkpoint, fenced.

Each SQL destination holds ``_syncbeat_state``: per job, the last key committed, the
batch index, the rows done, and the fencing token (``lease_epoch``) of the lease that
wrote them. The row is updated in the same transaction as the batch's rows, with a
compare-and-set on the epoch *and* the previous batch index, so:

* a writer whose lease was taken over matches zero rows, and its whole batch rolls back;
* a batch retried after a commit whose answer was lost is recognised, not written twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncbeat import counters
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.checkpoint import Checkpoint, decode_key, encode_key
from syncbeat.vocabulary.errors import DestinationError, LeaseLost

RUNNING, SWAPPING, DONE = "running", "swapping", "done"

metadata = sa.MetaData()
state_table = sa.Table(
    defaults.STATE_TABLE,
    metadata,
    sa.Column("job_uid", sa.String(32), primary_key=True),
    # One row per key range, for jobs split into partitions; 0 for the whole source.
    sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("lease_epoch", sa.Integer, nullable=False),
    sa.Column("batch_index", sa.Integer, nullable=False),
    sa.Column("rows_done", sa.BigInteger, nullable=False),
    sa.Column("last_key", sa.Text),
    sa.Column("status", sa.String(16), nullable=False),
    # Where rows go: the destination table, or the staging table in replace mode.
    sa.Column("target", sa.String(255), nullable=False),
)


@dataclass(frozen=True)
class DestState:
    checkpoint: Checkpoint
    status: str
    target: str


def _row_to_state(row: Any) -> DestState:
    last = json.loads(row.last_key) if row.last_key else None
    return DestState(
        Checkpoint(decode_key(last), row.batch_index, row.rows_done), row.status, row.target
    )


def _where(uid: str, part: int = 0) -> sa.ColumnElement[bool]:
    return sa.and_(state_table.c.job_uid == uid, state_table.c.part == part)


def ensure_table(conn: sa.Connection) -> None:
    metadata.create_all(conn, checkfirst=True)


def fence(conn: sa.Connection, uid: str, epoch: int, target: str) -> DestState:
    """Take the destination for lease ``epoch`` and read where the job stands.

    Raising the row's epoch waits for the row lock, so an older writer's batch in
    flight either commits first (and we read its checkpoint) or finds the new epoch
    and rolls back. Called in its own transaction before the first batch.
    """
    raised = conn.execute(
        state_table.update()
        .where(_where(uid), state_table.c.lease_epoch <= epoch)
        .values(lease_epoch=epoch)
    ).rowcount
    if raised == 0:
        row = conn.execute(sa.select(state_table).where(_where(uid))).first()
        if row is not None:
            counters.fenced_write_rejected("destination")
            raise LeaseLost(
                f"The destination is held by a newer lease ({row.lease_epoch} > {epoch})."
            )
        conn.execute(
            state_table.insert().values(
                job_uid=uid,
                part=0,
                lease_epoch=epoch,
                batch_index=0,
                rows_done=0,
                last_key=None,
                status=RUNNING,
                target=target,
            )
        )
    row = conn.execute(sa.select(state_table).where(_where(uid))).one()
    return _row_to_state(row)


def advance(
    conn: sa.Connection, uid: str, epoch: int, before: Checkpoint, after: Checkpoint
) -> bool:
    """Move the state from ``before`` to ``after`` inside the batch's transaction.

    Returns False when ``after`` was already committed by an earlier try of this batch
    (the caller then writes nothing). Raises LeaseLost when a newer lease holds it.
    """
    moved = conn.execute(
        state_table.update()
        .where(
            _where(uid),
            state_table.c.lease_epoch == epoch,
            state_table.c.batch_index == before.batch_index,
        )
        .values(
            batch_index=after.batch_index,
            rows_done=after.rows_done,
            last_key=json.dumps(encode_key(after.last_key)),
        )
    ).rowcount
    if moved == 1:
        return True
    row = conn.execute(sa.select(state_table).where(_where(uid))).first()
    if row is None or row.lease_epoch != epoch:
        counters.fenced_write_rejected("destination")
        raise LeaseLost("A newer lease took the destination over; this batch rolls back.")
    if row.batch_index == after.batch_index:
        return False
    raise DestinationError(
        f"The destination state of this job is at batch {row.batch_index}, expected "
        f"{before.batch_index}: it was changed outside syncbeat."
    )


def status(conn: sa.Connection, uid: str) -> str | None:
    """The job's status here (running, swapping, done), or None before its first fence."""
    return conn.execute(sa.select(state_table.c.status).where(_where(uid))).scalar()


def set_status(conn: sa.Connection, uid: str, epoch: int, status: str) -> None:
    moved = conn.execute(
        state_table.update()
        .where(_where(uid), state_table.c.lease_epoch == epoch)
        .values(status=status)
    ).rowcount
    if moved == 0:
        counters.fenced_write_rejected("destination")
        raise LeaseLost("A newer lease took the destination over.")
