"""Which mover serves a pair of ends: the fastest that fits, and why the others did not."""

from __future__ import annotations

from collections.abc import Callable

from syncbeat.connectors.destinations import SqlDestination
from syncbeat.connectors.sources import SqlSource
from syncbeat.connectors.statements import Statements
from syncbeat.engine.movers import Mover, PgCopyMover, RowMover
from syncbeat.engine.relay_to_mysql import PgToMysqlRelay
from syncbeat.engine.relay_to_postgres import MysqlToPgRelay
from syncbeat.engine.rows_ahead import RowsAheadMover

MOVERS: tuple[type[Mover], ...] = (
    PgCopyMover,
    PgToMysqlRelay,
    MysqlToPgRelay,
    RowsAheadMover,
    RowMover,
)
"""Every way to move batches, fastest first: the first that fits both ends is chosen.
RowMover fits any pair, so the list always ends in a choice."""


def choose_mover(
    source: SqlSource,
    dest: SqlDestination,
    statements: Statements,
    uid: str,
    epoch: int,
    *,
    fenced: bool,
    before_write: Callable[[], None],
) -> tuple[Mover, str]:
    """The fastest mover for these two ends, and why it was chosen (the `plan` event)."""
    passed: list[str] = []
    for kind in MOVERS:
        unfit = kind.unfit(source, dest)
        if unfit is not None:
            if unfit:
                passed.append(unfit)
            continue
        mover = kind(source, dest, statements, uid, epoch, fenced=fenced, before_write=before_write)
        return mover, kind.describe + "".join(f" ({why})" for why in passed)
    raise AssertionError("RowMover fits every pair")
