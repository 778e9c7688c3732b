"""The generic path with read-ahead: the next keyset page is read while one is written.

The row path decodes every value in Python, so its two halves are each a core's worth
of work at times: the source's driver decoding a page, the destination's writing the
last one (and each server's own work behind them). Run on two threads they overlap, as
the byte relays' halves do (engine.relay): one page ahead, never more, used only by the
batch right after the one written, and batches still commit in key order.

Not for a SQLite source: its reads are in-process and hold the interpreter as long as
they decode, so a second thread would only add switching (and an in-memory database is
another database on another thread).
"""

from __future__ import annotations

from syncbeat.connectors.destinations import SqlDestination
from syncbeat.connectors.sources import SqlSource
from syncbeat.engine.movers import Moved, RowMover
from syncbeat.engine.relay import Fetched, RelayMover
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.checkpoint import Checkpoint, Key


class RowsAheadMover(RelayMover):
    """:class:`~syncbeat.engine.movers.RowMover`'s read and write, on two threads."""

    name = RowMover.name  # the same path, and the same rows, as far as a job can tell
    describe = "generic path, the next page read while one is written"
    first_batch = defaults.ROW_BATCH_FIRST
    max_batch = defaults.ROW_BATCH_MAX

    @staticmethod
    def unfit(source: SqlSource, dest: SqlDestination) -> str | None:
        return "" if source.dialect == "sqlite" else None

    def fetch(self, after: Key | None, batch_size: int) -> Fetched | None:
        page = self.rows.read(after, batch_size)
        if not page.rows:
            return None
        # No byte size: Python values are bounded by rows (ROW_BATCH_MAX), not bytes.
        return Fetched(page.last_key or (), page.more, page, len(page.rows), 0)

    def store(self, fetched: Fetched, before: Checkpoint, retries: int) -> Moved:
        return self.rows.write(fetched.data, before, retries)
