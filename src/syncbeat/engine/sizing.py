"""Adaptive batch size: aim every batch at about ``BATCH_TARGET_SECONDS``.

Narrow rows and wide rows, a fast path and a slow one, all want different row counts
per batch; a fixed count is either slow (too many commits) or far between checkpoints
(too much redone after a crash, a stale progress bar). So the size follows the measured
speed, within bounds: it grows at most 4x and shrinks at most 2x per batch, so one odd
batch cannot swing it. ``--batch-size N`` pins it.
"""

from __future__ import annotations

from syncbeat.vocabulary import defaults


class BatchSizer:
    def __init__(
        self,
        pinned: int | None,
        maximum: int,
        *,
        initial: int = defaults.BATCH_SIZE,
        minimum: int = defaults.BATCH_SIZE_MIN,
        target_seconds: float = defaults.BATCH_TARGET_SECONDS,
    ) -> None:
        self.pinned = pinned
        self.minimum, self.maximum = minimum, max(minimum, maximum)
        self.target = target_seconds
        self.size = pinned if pinned is not None else min(max(initial, minimum), self.maximum)

    def observe(self, rows: int, seconds: float) -> None:
        """Learn from a batch that moved ``rows`` in ``seconds``."""
        if self.pinned is not None or rows < self.size or seconds <= 0:
            return  # a short batch is the last one: it says nothing about speed
        ideal = rows * self.target / seconds
        bounded = min(max(ideal, self.size / 2), self.size * 4)
        self.size = int(min(max(bounded, self.minimum), self.maximum))
