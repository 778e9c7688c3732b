"""The naive OFFSET/LIMIT design's plan: where its batches are timed, and what they predict.

Paging the whole table by OFFSET takes hours (every page rescans the rows before it), so
the naive variant times a prefix of batches at a few offsets and the full-table time is
extrapolated from them.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics

PAGE = 100  # rows per batch: each batch commits its rows and a checkpoint together


@dataclasses.dataclass(frozen=True)
class NaivePlan:
    offsets: tuple[int, ...]  # where a prefix of batches is timed
    batches: int  # batches timed at each offset

    @classmethod
    def for_table(cls, rows: int, max_batches: int) -> NaivePlan:
        offsets = tuple(sorted({0, rows // 10, rows // 2, rows * 9 // 10}))
        # The timed prefixes must not overlap (their rows go into one destination table).
        gap = min((b - a for a, b in itertools.pairwise(offsets)), default=rows)
        return cls(offsets=offsets, batches=max(1, min(max_batches, gap // PAGE)))

    def expected_rows(self, rows: int) -> int:
        """Rows the timed prefixes copy out of a table of ``rows``."""
        return sum(min(self.batches * PAGE, max(rows - o, 0)) for o in self.offsets)


def extrapolate(per_batch: dict[str, float], rows: int) -> float:
    """Least-squares line through (offset, cost of one batch), summed over every
    batch of the full table: the time the naive design needs for all of it."""
    xs = [float(k) for k in per_batch]
    ys = list(per_batch.values())
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    slope = (
        sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    )
    intercept = mean_y - slope * mean_x
    batches = -(-rows // PAGE)
    return batches * intercept + slope * PAGE * batches * (batches - 1) / 2
