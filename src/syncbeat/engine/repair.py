"""Repair: a job that copies again only what verify finds different.

A repair job is leased, fenced, checkpointed and resumed like a full sync; only its
batches differ. Each batch walks verify's segments (:mod:`syncbeat.engine.verify`) from
the checkpoint on, until one differs (or a few seconds pass), and then, in ONE
destination transaction with the state row: upserts the source rows that are missing
or changed there, and deletes the rows the source does not have. Its checkpoint is the
last segment's upper key, so a resumed repair starts at the first segment it had not
finished, and a batch tried again after its commit finds the state row moved on and
writes nothing. Reads are O(differing rows x leaf range) plus the checksums, never the
table; rows pass through the same conversions as a sync's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from syncbeat.connectors.failures import classify
from syncbeat.engine.movers import Moved, Mover
from syncbeat.engine.sides import Sides
from syncbeat.engine.verify import Difference, Verifier
from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.checkpoint import Checkpoint, Key


class RepairMover(Mover):
    """Moves a repair's batches (see the module); :meth:`attach` gives it both sides."""

    name = "repair"
    describe = "repair: copies again only the key ranges whose checksums differ"

    def prepare(self) -> None:
        self.copied = self.deleted = 0
        self.lost = False
        self.sides: Sides | None = None
        self.verifier: Verifier | None = None

    def attach(self, sides: Sides) -> None:
        self.sides = sides
        self.verifier = Verifier(sides).__enter__()
        for engine in (sides.reader.engine, sides.dest_engine):
            self.statements.watch(engine)

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.__exit__(None, None, None)
        if self.sides is not None:
            self.sides.dispose()

    def summary(self) -> str:
        fetched = self.verifier.report.rows_fetched if self.verifier else 0
        return (
            f"repaired: {self.copied:,} rows copied again, {self.deleted:,} deleted "
            f"({fetched:,} rows fetched to find them; the rest compared by checksums)"
        )

    def move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        assert self.sides is not None and self.verifier is not None
        source = self.sides.source
        lo = source.bound_of(before.last_key) if before.last_key else None
        copy: list[Sequence[Any]] = []
        delete: list[Key] = []
        give_up_at = time.monotonic() + defaults.REPAIR_SCAN_SECONDS
        try:
            if self.lost:  # the last try lost a connection: this one gets new ones
                self.verifier.reconnect()
                self.lost = False
            while True:
                hi = source.probe(
                    self.verifier.conns[source.role], lo, None, self.verifier.segment_rows - 1
                )
                for difference in self.verifier.compare_segment(lo, hi):
                    copy.extend(self._source_rows(difference))
                    delete.extend(difference.delete)
                if hi is None or copy or delete or time.monotonic() > give_up_at:
                    break
                lo = hi
        except sa.exc.DBAPIError as exc:
            self.lost = True
            raise classify(exc, "comparing the source with the destination") from None
        last = hi.source if hi is not None else (before.last_key or ())
        after = before.advance(last, len(copy) + len(delete), retries)
        self.before_write()
        try:
            written = self.dest.write(
                copy, self.uid, self.epoch, before, after, statements=self.statements, delete=delete
            )
        except sa.exc.DBAPIError as exc:
            raise classify(
                exc, f"repairing the destination {urls.mask(self.dest.url)}", destination=True
            ) from None
        if written:
            self.copied += len(copy)
            self.deleted += len(delete)
        return Moved(len(copy) + len(delete), after, hi is not None)

    def _source_rows(self, difference: Difference) -> list[Sequence[Any]]:
        """The source rows of a leaf range to copy again, read as a sync reads them."""
        assert self.sides is not None and self.verifier is not None
        if not difference.copy:
            return []
        reader, side = self.sides.reader, self.sides.source
        query = (
            sa.select(*reader.exact_columns)
            .select_from(reader.selectable)
            .where(side.within(difference.lo, difference.hi))
        )
        wanted, at = set(difference.copy), reader.key_index
        rows = self.verifier.conns[side.role].execute(query)
        return [row for row in rows if tuple(row[i] for i in at) in wanted]
