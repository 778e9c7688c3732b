"""Keyset (seek) paging: ``WHERE (k) > (:last) ORDER BY k LIMIT :n``.

Unlike ``OFFSET n``, the cost of a page does not grow with n, and rows inserted or
deleted behind the cursor cannot shift the pages (no row skipped or read twice). Each
page reads one row more than the batch: that peek row is how a key that is not unique
is caught at the batch boundary, where it would otherwise lose rows silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncbeat.connectors.keys import KeyColumn
from syncbeat.vocabulary.checkpoint import Key
from syncbeat.vocabulary.errors import KeyColumnError


def after(
    key_cols: Sequence[sa.ColumnElement[Any]],
    last: Key,
    dialect: str,
    keys: Sequence[KeyColumn] | None = None,
) -> sa.ColumnElement[bool]:
    """Rows strictly after ``last`` in key order, as bound parameters only, each bound
    as its key column compares (``keys``; by default as the column's type).

    PostgreSQL and SQLite compare row values and use the index for it; MySQL/MariaDB
    plan the expanded form better: ``a > :a OR (a = :a AND b > :b)``.
    """
    return _beyond(key_cols, last, dialect, keys, upto=False)


def at_most(
    key_cols: Sequence[sa.ColumnElement[Any]],
    last: Key,
    dialect: str,
    keys: Sequence[KeyColumn] | None = None,
) -> sa.ColumnElement[bool]:
    """Rows up to ``last`` included, in key order: the upper end of a key range, bound
    as :func:`after` binds its lower end."""
    return _beyond(key_cols, last, dialect, keys, upto=True)


def _beyond(
    key_cols: Sequence[sa.ColumnElement[Any]],
    last: Key,
    dialect: str,
    keys: Sequence[KeyColumn] | None,
    *,
    upto: bool,
) -> sa.ColumnElement[bool]:
    plan = keys or [KeyColumn(str(c.key)) for c in key_cols]

    def bound(i: int) -> sa.ColumnElement[Any]:
        return plan[i].bound(key_cols[i], last[i])

    def strictly(col: sa.ColumnElement[Any], value: sa.ColumnElement[Any]) -> Any:
        return col < value if upto else col > value

    if len(key_cols) == 1:
        single: sa.ColumnElement[bool] = key_cols[0] <= bound(0) if upto else key_cols[0] > bound(0)
        return single
    if dialect in ("postgresql", "sqlite"):
        row, other = sa.tuple_(*key_cols), sa.tuple_(*(bound(i) for i in range(len(last))))
        tupled: sa.ColumnElement[bool] = row <= other if upto else row > other
        return tupled
    clauses = []
    for i, col in enumerate(key_cols):
        equal = [key_cols[j] == bound(j) for j in range(i)]
        clauses.append(sa.and_(*equal, strictly(col, bound(i))))
    if upto:
        clauses.append(sa.and_(*(key_cols[j] == bound(j) for j in range(len(key_cols)))))
    return sa.or_(*clauses)


def page_query(
    source: sa.FromClause,
    key_names: Sequence[str],
    last: Key | None,
    batch_size: int,
    dialect: str,
    keys: Sequence[KeyColumn] | None = None,
) -> sa.Select[Any]:
    """One page plus the peek row, in key order."""
    key_cols = [source.c[name] for name in key_names]
    query = sa.select(source).order_by(*key_cols).limit(batch_size + 1)
    if last is not None:
        query = query.where(after(key_cols, last, dialect, keys))
    return query


def offset_query(source: sa.FromClause, offset: int, batch_size: int) -> sa.Select[Any]:
    """The fallback for a source with no key: ordered by every column, so at least a
    source that does not change while it is read is paged deterministically."""
    return sa.select(source).order_by(*source.c).offset(offset).limit(batch_size)


@dataclass(frozen=True)
class Page:
    rows: list[Sequence[Any]]
    last_key: Key | None
    more: bool


def split(
    rows: Sequence[Sequence[Any]],
    key_index: Sequence[int],
    batch_size: int,
    key_names: Sequence[str],
    width: int | None = None,
) -> Page:
    """Cut a fetched page into the batch and the peek row, checking the key.

    The rows are sorted by key, so any duplicate key is between neighbours; checking
    every neighbouring pair, peek row included, finds them all. ``key_index`` points at
    each key's boundary value; where some were read beside the row (see keys.py), the
    row's own columns are its first ``width`` values.
    """
    previous: Key | None = None
    for row in rows:
        key = tuple(row[i] for i in key_index)
        if any(v is None for v in key):
            raise KeyColumnError(
                f"The key ({', '.join(key_names)}) is NULL in a source row: "
                "keyset paging cannot reach such rows.",
                hint="Choose key columns that are never NULL (--key), or filter those "
                "rows out with --query.",
            )
        if key == previous:
            raise KeyColumnError(
                f"The key ({', '.join(key_names)}) is not unique: value {key!r} appears "
                "more than once, so paging on it would skip rows.",
                hint="Give --key columns that identify one row each (add a column to "
                "make it unique), or use the table's primary key.",
            )
        previous = key
    batch = list(rows[:batch_size])
    last = tuple(batch[-1][i] for i in key_index) if batch else None
    if width is not None:
        batch = [tuple(row[:width]) for row in batch]
    return Page(batch, last, len(rows) > batch_size)
