"""Relays: batches the source database formats for the destination, moved as bytes.

Across engines the row path spends most of its time turning values into Python objects
and back. A relay lets the source produce the destination's load format itself (a
SELECT whose columns are converted in SQL), and hands the bytes over undecoded. Its
batches are key ranges (connectors.sources.ranges): the upper key is read first, then
the rows up to it, and the destination commits them with its state row in one
transaction, fenced on the lease epoch, exactly as every other mover does.

While one batch is written, the next is read on a second thread (one batch ahead, never
more, and batches still commit in key order). The read-ahead is used only by the batch
it was read for, the one right after the batch just written; a retried batch reads
again. A batch holds its bytes in memory, so its rows are capped by
``RELAY_BATCH_BYTES`` over the bytes a row took so far: two batches stay within a few
tens of MB however wide the rows.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from syncbeat.engine.movers import Moved, Mover, RowMover
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.checkpoint import Checkpoint, Key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fetched:
    """One batch as the source formatted it: the rows up to ``upper``."""

    upper: Key
    more: bool
    data: Any
    """What :meth:`RelayMover.store` writes (bytes, lines: the relay's own)."""
    rows: int
    """Rows in ``data``."""
    size: int
    """Bytes in ``data``: what the next batches are sized by."""


class RelayMover(Mover):
    """A mover in two halves: :meth:`fetch` on the source, :meth:`store` on the
    destination, with the next fetch running while the current store does."""

    first_batch = defaults.RELAY_BATCH_FIRST
    max_batch = defaults.RELAY_BATCH_MAX

    def prepare(self) -> None:
        super().prepare()
        # Only the runner's thread reads and sets these; the pool's thread runs fetch.
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: tuple[Key, Future[Fetched | None]] | None = None
        self._row_bytes = 0  # the widest average row of a batch so far
        # The row path, for the batches (or the tables) a relay leaves to it.
        self.rows = RowMover(
            self.source,
            self.dest,
            self.statements,
            self.uid,
            self.epoch,
            fenced=self.fenced,
            before_write=self.before_write,
        )

    def fetch(self, after: Key | None, batch_size: int) -> Fetched | None:
        """Read the batch after ``after``; None when no row follows it. Runs on the
        read-ahead thread too: it may use only the source and what :meth:`prepare` made."""
        raise NotImplementedError

    def store(self, fetched: Fetched, before: Checkpoint, retries: int) -> Moved:
        """Write ``fetched`` and advance the state row from ``before``, in one
        transaction; an earlier try that committed makes this one a no-op."""
        raise NotImplementedError

    def move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        if self._row_bytes:
            batch_size = max(1, min(batch_size, defaults.RELAY_BATCH_BYTES // self._row_bytes))
        fetched = self._take(before.last_key, batch_size)
        if fetched is None:
            return Moved(0, before, False)
        if fetched.rows:
            self._row_bytes = max(self._row_bytes, -(-fetched.size // fetched.rows))
        if fetched.more:
            self._read_ahead(fetched.upper, batch_size)
        self.before_write()
        return self.store(fetched, before, retries)

    def _take(self, after: Key | None, batch_size: int) -> Fetched | None:
        """The batch after ``after``: the one read ahead if it is that batch, else read
        now. A read-ahead's error is raised here, in the batch it belongs to, so it is
        retried and classified as any read error."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            key, future = ahead
            if key == after:
                return future.result()
            future.cancel()  # not this batch: if it runs, its result (or error) is dropped
        return self.fetch(after, batch_size)

    def _read_ahead(self, after: Key, batch_size: int) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="syncbeat-read-ahead")
        self._ahead = (after, self._pool.submit(self.fetch, after, batch_size))

    def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead[1].cancel()
            _quietly(ahead[1])
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        super().close()


def _quietly(future: Future[Any]) -> None:
    """Wait for an unwanted read-ahead to end and drop its result or error."""
    if future.cancelled():
        return
    try:
        future.result()
    except Exception as exc:  # its batch will be read again, and fail again if it must
        log.debug("read-ahead dropped: %s", type(exc).__name__)
