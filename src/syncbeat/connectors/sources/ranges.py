"""A batch as a key range of the source, for paths that never see its rows.

The row path learns a batch's last key from the rows it read. A relay moves bytes the
source formatted (``COPY … TO STDOUT``, one text line per row) and never decodes a row,
so it asks the source for the range first: the key ``batch_size`` rows after the
checkpoint, read from the index, then every row with ``last < key <= upper``. Both
bounds are compared by the source database, bound the way the row path binds them
(keys.KeyColumn: an enum by its number, a real as a real, a collated text as stored),
and the upper key is recorded in the checkpoint exactly as the row path records one,
so a job may resume on either path.

The range needs a key that is unique in the source: with duplicates a range of
``batch_size`` keys is not ``batch_size`` rows, and the peek-row check the row path
makes cannot be made on rows that are not read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from syncbeat.connectors import paging, typemap
from syncbeat.vocabulary.checkpoint import Key

if TYPE_CHECKING:
    from syncbeat.connectors.sources.sql import SqlSource


def unranged(source: SqlSource) -> str | None:
    """Why ``source`` cannot be read in key ranges (see the module), or None."""
    if source.table_name is None:
        return "the source is a query"
    if not source.key or not source.key_unique:
        return "the key is not backed by a unique index in the source"
    return None


class KeyRanges:
    """The key ranges of one opened source: each batch's upper bound, and the
    condition that selects the rows between two bounds."""

    def __init__(self, source: SqlSource) -> None:
        self.source = source
        self.columns = [source.selectable.c[name] for name in source.key]
        # What the checkpoint holds of each key column, read as the row path reads it:
        # the boundary it reads beside the row (an enum's number), or the value as
        # selected to arrive exactly (a MariaDB TIME as the duration it is: as the
        # column's type, 25:00:00 would arrive as a time of day, 01:00).
        self.recorded: list[sa.ColumnElement[Any]] = []
        for k, column in zip(source.key_plan, self.columns, strict=True):
            boundary = k.boundary(column)
            exact = typemap.read_expression(column, source.dialect)
            self.recorded.append(exact if boundary is None else boundary)

    def upper(
        self, conn: sa.Connection, last: Key | None, batch_size: int
    ) -> tuple[Key, bool] | None:
        """The last key of the batch after ``last``, and whether rows follow it; None
        when no row follows ``last``. Two keys at ``OFFSET batch_size - 1`` tell a full
        last batch from one with more to come, in one index scan."""
        query = sa.select(*self.recorded).select_from(self.source.selectable)
        if last is not None:
            query = query.where(self._after(last))
        rows = conn.execute(query.order_by(*self.columns).offset(batch_size - 1).limit(2)).all()
        if rows:
            return tuple(rows[0]), len(rows) == 2
        final = conn.execute(query.order_by(*(c.desc() for c in self.columns)).limit(1)).first()
        return None if final is None else (tuple(final), False)

    def within(self, last: Key | None, upper: Key) -> sa.ColumnElement[bool]:
        """The rows after ``last`` (all, for None) up to ``upper`` included."""
        dialect, plan = self.source.dialect, self.source.key_plan
        below = paging.at_most(self.columns, upper, dialect, plan)
        return below if last is None else sa.and_(self._after(last), below)

    def _after(self, last: Key) -> sa.ColumnElement[bool]:
        return paging.after(self.columns, last, self.source.dialect, self.source.key_plan)
