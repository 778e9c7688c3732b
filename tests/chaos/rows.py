"""Is every destination its source, row by row?

Each side is summed up per range of source keys: a row count and an MD5 of the range's
rows in key order, each row written in one canonical text form whatever the database
(the forms :func:`syncbeat.engine.compare.normalise` gives: decimals to their scale,
timestamps to the microsecond, booleans as 0/1, text prefixed by its length, NULL as
``N``). PostgreSQL and MariaDB compute it themselves, so a million rows are summed up
in seconds. The rows of a range whose summaries differ are then read, normalised by
:func:`~syncbeat.engine.compare.normalise`, and compared key by key: lost, duplicated,
changed and extra rows are counted, and the first few shown.

Ranges are bounded queries, not keyset pages: a destination without a key may hold a
key twice, and that must be counted, not refused.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from syncbeat.connectors import typemap
from syncbeat.engine.compare import normalise
from tests.chaos.data import COLUMNS, KEY

RANGE = 10_000
"""Source keys per checksummed range."""

Bounds = tuple[int | None, int | None]  # (after this key, up to this key), None: open

# One row as text, per dialect: id|len:name|price|qty|created|flag|len:note.
_CANONICAL = {
    "postgresql": (
        "concat_ws('|', id, length(name) || ':' || name, coalesce(price::text, 'N'), "
        "coalesce(qty::text, 'N'), "
        "coalesce(to_char(created, 'YYYY-MM-DD HH24:MI:SS.US'), 'N'), "
        "coalesce(flag::int::text, 'N'), coalesce(length(note) || ':' || note, 'N'))"
    ),
    "mysql": (
        "CONCAT_WS('|', id, CONCAT(CHAR_LENGTH(name), ':', name), "
        "COALESCE(CAST(price AS CHAR), 'N'), COALESCE(qty, 'N'), "
        "COALESCE(DATE_FORMAT(created, '%Y-%m-%d %H:%i:%s.%f'), 'N'), "
        "COALESCE(flag + 0, 'N'), COALESCE(CONCAT(CHAR_LENGTH(note), ':', note), 'N'))"
    ),
    # Timestamps are stored as text with six decimals (tests.chaos.data), booleans as 0/1.
    "sqlite": (
        "id || '|' || length(name) || ':' || name || '|' || "
        "CASE WHEN price IS NULL THEN 'N' ELSE printf('%.2f', price) END || '|' || "
        "coalesce(qty, 'N') || '|' || "
        "coalesce(created, 'N') || '|' || coalesce(flag, 'N') || '|' || "
        "coalesce(length(note) || ':' || note, 'N')"
    ),
}


def key_ranges(keys: Sequence[int], size: int = RANGE) -> list[Bounds]:
    """Ranges of ``size`` source keys, the first and last open-ended so that a row
    outside the source's keys is still seen."""
    uppers: list[int | None] = list(keys[size - 1 : -1 : size])
    lowers: list[int | None] = [None, *uppers]
    return list(zip(lowers, [*uppers, None], strict=True))


def _where(bounds: Bounds) -> str:
    low, high = bounds
    parts = ([f"{KEY} > {int(low)}"] if low is not None else []) + (
        [f"{KEY} <= {int(high)}"] if high is not None else []
    )
    return " AND ".join(parts) or "1 = 1"


class Side:
    """One table, summed up and read range by range."""

    def __init__(self, url: str, table: str) -> None:
        self.url, self.table_name = url, table
        self.engine = sa.create_engine(url, poolclass=sa.NullPool)
        self.dialect = self.engine.dialect.name
        with self.engine.connect() as conn:
            self.table = typemap.reflect(conn, table)

    def summaries(self, ranges: list[Bounds]) -> Iterator[tuple[int, str]]:
        row = _CANONICAL[self.dialect]
        with self.engine.connect() as conn:
            if self.dialect == "mysql":
                conn.exec_driver_sql("SET SESSION group_concat_max_len = 1073741824")
            for bounds in ranges:
                where = f"FROM {self.table_name} WHERE {_where(bounds)}"
                if self.dialect == "postgresql":
                    count, digest = conn.exec_driver_sql(
                        f"SELECT count(*), md5(coalesce(string_agg({row}, E'\\n' "
                        f"ORDER BY {KEY}), '')) {where}"
                    ).one()
                elif self.dialect == "mysql":
                    count, digest = conn.exec_driver_sql(
                        f"SELECT COUNT(*), MD5(COALESCE(GROUP_CONCAT({row} ORDER BY {KEY} "
                        f"SEPARATOR '\\n'), '')) {where}".replace("%", "%%")
                    ).one()
                else:
                    lines = conn.exec_driver_sql(f"SELECT {row} {where} ORDER BY {KEY}").scalars()
                    text = list(lines)
                    count = len(text)
                    digest = hashlib.md5("\n".join(text).encode()).hexdigest()
                yield int(count), str(digest)

    def rows(self, bounds: Bounds) -> list[tuple[Any, ...]]:
        key = self.table.c[KEY]
        query = sa.select(*(self.table.c[c] for c in COLUMNS)).order_by(key)
        low, high = bounds
        if low is not None:
            query = query.where(key > low)
        if high is not None:
            query = query.where(key <= high)
        with self.engine.connect() as conn:
            return [tuple(normalise(v) for v in r) for r in conn.execute(query)]

    def close(self) -> None:
        self.engine.dispose()


@dataclass
class RowDiff:
    compared: int = 0
    lost: int = 0
    duplicated: int = 0
    changed: int = 0
    extra: int = 0
    ranges_differing: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.changed or self.extra)

    def add(self, other: RowDiff) -> None:
        self.compared += other.compared
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.changed += other.changed
        self.extra += other.extra
        self.ranges_differing += other.ranges_differing
        self.examples += other.examples


def compare_ranges(
    source: Side, dest: Side, ranges: list[Bounds], source_sums: list[tuple[int, str]]
) -> RowDiff:
    """Diff ``dest`` against ``source`` (whose range summaries are given)."""
    diff = RowDiff()
    for bounds, expected, got in zip(ranges, source_sums, dest.summaries(ranges), strict=True):
        diff.compared += expected[0]
        if expected != got:
            diff.ranges_differing += 1
            diff.add(_diff_rows(source.rows(bounds), dest.rows(bounds), dest.table_name))
    return diff


def _diff_rows(
    src_rows: list[tuple[Any, ...]], dst_rows: list[tuple[Any, ...]], where: str
) -> RowDiff:
    """Key by key. (Summaries that differ over rows that do not would mean the canonical
    forms above disagree, not the data: the rows decide.)"""
    diff = RowDiff()
    wanted = {row[0]: row for row in src_rows}
    held: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
    for row in dst_rows:
        held[row[0]].append(row)
    for key, row in wanted.items():
        copies = held.get(key, [])
        if not copies:
            diff.lost += 1
            diff.examples.append(f"{where}: id {key} lost")
        elif any(c != row for c in copies):
            diff.changed += 1
            diff.examples.append(f"{where}: id {key} is {copies} instead of {row}")
        if len(copies) > 1:
            diff.duplicated += len(copies) - 1
            diff.examples.append(f"{where}: id {key} written {len(copies)} times")
    for key, copies in held.items():
        if key not in wanted:
            diff.extra += len(copies)
            diff.examples.append(f"{where}: id {key} is not in the source")
    del diff.examples[20:]
    return diff
