"""Verify: is the destination equal to its source? Checksums first, rows only where
they differ.

The source's key space is cut into segments of about ``VERIFY_SEGMENT_ROWS`` rows
(boundaries read from the source's key index, so skewed keys cut evenly), and each
segment's summary (:mod:`syncbeat.connectors.checksums`) is computed by both databases
at once, one thread each. The first segment starts before the source's first key and
the last one ends after its last, so destination rows outside the source's key span
are in a segment too. A segment whose summaries differ is cut again into
``VERIFY_FANOUT`` ranges (by the side holding more of its rows), and so on down to
ranges of at most ``VERIFY_LEAF_ROWS`` rows on both sides, whose rows are fetched as
canonical texts and matched by key: missing (source only), extra (destination only)
or changed (some column's text differs). Memory is one such range, whatever the
table's size; a damaged row costs O(log n) checksums over shrinking ranges.

A range that differs is looked at a second time before it is reported: if it no longer
differs, it changed while verify ran (a source or destination being written), and is
counted as such rather than as drift.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from syncbeat.connectors.checksums import Bound, RowTexts, Summary
from syncbeat.engine.compare import normalise
from syncbeat.engine.sides import Sides
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.checkpoint import Key


@dataclass
class Found:
    """One kind of difference: how many, and the first keys."""

    count: int = 0
    keys: list[Any] = field(default_factory=list)

    def add(self, key: Key) -> None:
        self.count += 1
        if len(self.keys) < defaults.VERIFY_KEYS_SHOWN:
            # JSON-safe whatever the key's type (a MariaDB TIME's duration, say).
            shown = [v if isinstance(v := normalise(k), int | str | None) else str(v) for k in key]
            self.keys.append(shown[0] if len(shown) == 1 else shown)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "keys": list(self.keys)}


@dataclass
class Difference:
    """A leaf range's differences, by key: rows the destination lacks (missing) or
    holds otherwise (changed, with the columns), as the source reads their keys, and
    rows only the destination holds (extra), as it reads them."""

    lo: Bound | None
    hi: Bound | None
    missing: list[Key] = field(default_factory=list)
    changed: list[tuple[Key, list[str]]] = field(default_factory=list)
    extra: list[Key] = field(default_factory=list)

    @property
    def copy(self) -> list[Key]:
        """The keys a repair copies again."""
        return self.missing + [key for key, _ in self.changed]

    @property
    def delete(self) -> list[Key]:
        """The keys a repair deletes."""
        return self.extra

    def __bool__(self) -> bool:
        return bool(self.missing or self.changed or self.extra)


@dataclass
class Report:
    """What verify found. ``equal`` is the verdict; the rest says where and how much."""

    missing: Found = field(default_factory=Found)
    extra: Found = field(default_factory=Found)
    changed: Found = field(default_factory=Found)
    changed_columns: dict[str, int] = field(default_factory=dict)
    changed_during_verify: int = 0
    source_rows: int = 0
    destination_rows: int = 0
    ranges: int = 0
    rows_fetched: int = 0
    seconds: float = 0.0

    @property
    def equal(self) -> bool:
        return not (self.missing.count or self.extra.count or self.changed.count)

    def to_json(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "missing": self.missing.to_json(),
            "extra": self.extra.to_json(),
            "changed": {**self.changed.to_json(), "columns": dict(self.changed_columns)},
            "changed_during_verify": self.changed_during_verify,
            "rows": {"source": self.source_rows, "destination": self.destination_rows},
            "ranges_compared": self.ranges,
            "rows_fetched": self.rows_fetched,
            "seconds": round(self.seconds, 3),
        }

    def describe(self) -> str:
        """The verdict in words, for a person."""
        rows = f"{self.source_rows:,} source rows, {self.destination_rows:,} destination rows"
        if self.equal:
            said = f"Equal: {rows}, compared in {self.ranges:,} checksummed ranges."
        else:
            parts = [
                f"{found.count:,} {what}"
                for found, what in (
                    (self.missing, "missing from the destination"),
                    (self.extra, "extra in the destination"),
                    (self.changed, "changed"),
                )
                if found.count
            ]
            said = f"Different: {', '.join(parts)} ({rows})."
            if self.changed_columns:
                columns = ", ".join(f"{c} ({n:,})" for c, n in self.changed_columns.items())
                said += f" Changed columns: {columns}."
        if self.changed_during_verify:
            said += (
                f" {self.changed_during_verify:,} rows changed while verify ran "
                "(a second look found them equal): not counted as differences."
            )
        return said


Range = tuple[Bound | None, Bound | None]
MAX_DEPTH = 48
"""Cuts deeper than any table needs (16^48 rows): past it a range is compared by rows."""


class Verifier:
    """Compares the two sides of a pipeline range by range (see the module)."""

    def __init__(
        self,
        sides: Sides,
        *,
        segment_rows: int = defaults.VERIFY_SEGMENT_ROWS,
        leaf_rows: int = defaults.VERIFY_LEAF_ROWS,
        fanout: int = defaults.VERIFY_FANOUT,
        dense_rows: int = defaults.VERIFY_DENSE_ROWS,
        on_segment: Callable[[Report], None] = lambda report: None,
    ) -> None:
        self.sides, self.report = sides, Report()
        self.segment_rows, self.leaf_rows, self.fanout = segment_rows, leaf_rows, fanout
        self.dense_rows = dense_rows
        self.on_segment = on_segment
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="syncbeat-verify")
        self.conns: dict[str, sa.Connection] = {}

    def __enter__(self) -> Verifier:
        self.reconnect()
        return self

    def reconnect(self) -> None:
        """A fresh connection to each side: at the start, and after one was lost (a
        server restarted, an administrator cut it), for a repair that tries again."""
        for conn in self.conns.values():
            conn.invalidate()  # a lost connection cannot be closed politely
            conn.close()
        self.conns = {
            side.role: side.engine.connect() for side in (self.sides.source, self.sides.destination)
        }

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()

    def run(self) -> Report:
        """Verify the whole table."""
        started = time.monotonic()
        for lo, hi in self.segments(None):
            self.compare_segment(lo, hi)
        self.report.seconds = time.monotonic() - started
        return self.report

    def segments(self, after: Bound | None) -> Iterator[Range]:
        """The source's key space after ``after`` in segments, in key order; the last
        one has no upper end."""
        source = self.sides.source
        lo = after
        while True:
            hi = source.probe(self.conns[source.role], lo, None, self.segment_rows - 1)
            yield lo, hi
            if hi is None:
                return
            lo = hi

    def compare_segment(self, lo: Bound | None, hi: Bound | None) -> list[Difference]:
        """Compare one segment, counting its rows; its differences, leaf by leaf."""
        src, dst = self._summaries(lo, hi)
        self.report.source_rows += src.rows
        self.report.destination_rows += dst.rows
        found: list[Difference] = []
        if src != dst:
            found = list(self._bisect(lo, hi, src, dst))
        self.on_segment(self.report)
        return found

    def _summaries(self, lo: Bound | None, hi: Bound | None) -> tuple[Summary, Summary]:
        self.report.ranges += 1
        source, dest = self.sides.source, self.sides.destination
        left = self._pool.submit(source.summary, self.conns[source.role], lo, hi)
        right = self._pool.submit(dest.summary, self.conns[dest.role], lo, hi)
        return left.result(), right.result()

    def _bisect(
        self, lo: Bound | None, hi: Bound | None, src: Summary, dst: Summary, depth: int = 0
    ) -> Iterator[Difference]:
        # A range that cutting no longer shrinks (the sides disagree on what it holds,
        # which sides.py guards against) is compared row by row rather than cut forever.
        if max(src.rows, dst.rows) <= self.leaf_rows or depth >= MAX_DEPTH:
            leaf = self._leaf(lo, hi)
            if leaf is not None:
                yield leaf
            return
        # Cut by the side holding more rows: a destination with rows the source lacks
        # is cut where its own rows are.
        side = self.sides.source if src.rows >= dst.rows else self.sides.destination
        step = -(-max(src.rows, dst.rows) // self.fanout)
        cuts = side.cuts(self.conns[side.role], lo, hi, step, self.fanout - 1)
        bounds: list[Bound | None] = [lo, *cuts, hi]
        ranges = list(itertools.pairwise(bounds))
        source, dest = self.sides.source, self.sides.destination
        mine = self._pool.submit(source.summaries, self.conns[source.role], lo, cuts, hi)
        theirs = self._pool.submit(dest.summaries, self.conns[dest.role], lo, cuts, hi)
        self.report.ranges += len(ranges)
        pairs = zip(ranges, mine.result(), theirs.result(), strict=True)
        differing = [(a, b, one, two) for (a, b), one, two in pairs if one != two]
        if 2 * len(differing) > len(ranges) and max(src.rows, dst.rows) <= self.dense_rows:
            # Most of it differs: its rows at once cost less than cutting it further.
            yield from self._bisect(lo, hi, src, dst, MAX_DEPTH)
            return
        for a, b, one, two in differing:
            yield from self._bisect(a, b, one, two, depth + 1)

    def _leaf(self, lo: Bound | None, hi: Bound | None) -> Difference | None:
        source, dest = self.sides.source, self.sides.destination
        left = self._pool.submit(source.rows, self.conns[source.role], lo, hi)
        right = self._pool.submit(dest.rows, self.conns[dest.role], lo, hi)
        theirs, ours = left.result(), right.result()
        self.report.rows_fetched += len(theirs) + len(ours)
        difference = _match(lo, hi, theirs, ours, self.sides.columns)
        if not difference:
            return None
        if not self._still_differs(lo, hi):  # it changed while we looked
            self.report.changed_during_verify += len(difference.copy) + len(difference.delete)
            return None
        self._count(difference)
        return difference

    def _still_differs(self, lo: Bound | None, hi: Bound | None) -> bool:
        """A second look at a range whose rows differed: its checksums again."""
        source, dest = self._summaries(lo, hi)
        return source != dest

    def _count(self, difference: Difference) -> None:
        report = self.report
        for key in difference.missing:
            report.missing.add(key)
        for key, columns in difference.changed:
            report.changed.add(key)
            for name in columns:
                report.changed_columns[name] = report.changed_columns.get(name, 0) + 1
        for key in difference.extra:
            report.extra.add(key)


def _match(
    lo: Bound | None,
    hi: Bound | None,
    theirs: list[RowTexts],
    ours: list[RowTexts],
    columns: list[str],
) -> Difference:
    """The rows of one leaf range that differ, matched by their keys' canonical texts
    (computed by each database, so keys are never compared as Python values)."""
    difference = Difference(lo, hi)
    by_key = {row.key_texts: row for row in ours}
    for row in theirs:
        other = by_key.pop(row.key_texts, None)
        if other is None:
            difference.missing.append(row.key)
        elif other.texts != row.texts:
            changed = [n for n, a, b in zip(columns, row.texts, other.texts, strict=True) if a != b]
            difference.changed.append((row.key, changed))
    difference.extra = [row.key for row in by_key.values()]
    return difference


def verify(sides: Sides, on_segment: Callable[[Report], None] = lambda report: None) -> Report:
    """Compare a pipeline's two sides; the report says what differs."""
    with Verifier(sides, on_segment=on_segment) as verifier:
        return verifier.run()
