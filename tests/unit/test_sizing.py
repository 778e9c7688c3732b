"""Adaptive batch size: follows the measured speed, within bounds."""

from __future__ import annotations

from syncbeat.engine.sizing import BatchSizer


def test_grows_towards_the_target_duration_at_most_four_times_per_batch() -> None:
    sizer = BatchSizer(None, 1_000_000, initial=5_000, minimum=500, target_seconds=1.5)
    sizer.observe(5_000, 0.05)  # 100k rows/s: the ideal is 150k rows
    assert sizer.size == 20_000
    sizer.observe(20_000, 0.2)
    sizer.observe(80_000, 0.8)
    assert sizer.size == 150_000
    sizer.observe(150_000, 1.5)
    assert sizer.size == 150_000


def test_shrinks_at_most_by_half_and_never_below_the_minimum() -> None:
    sizer = BatchSizer(None, 1_000_000, initial=4_000, minimum=500, target_seconds=1.0)
    sizer.observe(4_000, 40.0)  # a very slow batch
    assert sizer.size == 2_000
    for _ in range(10):
        sizer.observe(sizer.size, 40.0)
    assert sizer.size == 500


def test_stays_within_the_path_maximum() -> None:
    sizer = BatchSizer(None, 20_000, initial=5_000)
    for _ in range(5):
        sizer.observe(sizer.size, 0.01)
    assert sizer.size == 20_000


def test_a_short_last_batch_teaches_nothing() -> None:
    sizer = BatchSizer(None, 1_000_000, initial=5_000)
    sizer.observe(12, 0.001)
    assert sizer.size == 5_000


def test_pinned_size_never_changes() -> None:
    sizer = BatchSizer(2_000, 1_000_000)
    sizer.observe(2_000, 0.001)
    sizer.observe(2_000, 100.0)
    assert sizer.size == 2_000
