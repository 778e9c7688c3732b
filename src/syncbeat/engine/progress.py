"""Progress of the current run: rows done, a smoothed rate and an ETA.

The rate is an EWMA of rows/s over the batches of *this* run, so time spent before a
resume, paused, or waiting in backoff is not counted as work, and one slow commit does
not swing the ETA. Until the first batch lands the rate, and so the ETA, is unknown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from syncbeat.vocabulary import defaults


@dataclass(frozen=True)
class Snapshot:
    rows_done: int
    rows_total: int | None
    rate: float | None
    eta_seconds: float | None

    @property
    def percent(self) -> float | None:
        if not self.rows_total:
            return None
        return min(100.0, 100.0 * self.rows_done / self.rows_total)


def eta(rows_done: int, rows_total: int | None, rate: float | None) -> float | None:
    if rate is None or rate <= 0 or rows_total is None:
        return None
    return max(0.0, (rows_total - rows_done) / rate)


class Progress:
    def __init__(
        self,
        rows_done: int = 0,
        rows_total: int | None = None,
        smoothing: float = defaults.RATE_SMOOTHING,
    ) -> None:
        self.rows_done = rows_done
        self.rows_total = rows_total
        self.rate: float | None = None
        self._smoothing = smoothing
        self._batch_started = time.monotonic()

    def batch_started(self) -> None:
        """Call when a batch's work begins, after any pause or backoff."""
        self._batch_started = time.monotonic()

    def batch_done(self, rows: int) -> None:
        elapsed = max(time.monotonic() - self._batch_started, 1e-6)
        self.rows_done += rows
        if self.rows_total is not None and self.rows_done > self.rows_total:
            self.rows_total = self.rows_done  # rows were added since we counted
        if rows:
            sample = rows / elapsed
            self.rate = (
                sample
                if self.rate is None
                else self._smoothing * sample + (1 - self._smoothing) * self.rate
            )

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.rows_done,
            self.rows_total,
            self.rate,
            eta(self.rows_done, self.rows_total, self.rate),
        )
