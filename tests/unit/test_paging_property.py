"""Keyset paging, checked against a plain sort: from any resume point, paging a table on a
composite key visits every later row exactly once, in key order, and a key that is not
unique is always caught instead of silently losing rows.

Each example builds its own in-memory SQLite database (a function-scoped fixture would be
shared by every example), and pages it the two ways syncbeat compiles the "after the last
key" condition: the row-value form (PostgreSQL, SQLite) through ``SqlSource.read``, and
the expanded ``a > :a OR (a = :a AND b > :b)`` form (MySQL/MariaDB) through
``paging.page_query`` + ``paging.split``, which is plain SQL that SQLite runs as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from syncbeat.connectors import paging
from syncbeat.connectors.sources.sql import SqlSource
from syncbeat.vocabulary.errors import KeyColumnError

# Small domains, so that leading key columns repeat a lot (the case where a wrong
# composite comparison skips or repeats rows). "Z" < "a" < "b" in both Python and
# SQLite's BINARY collation; "" sorts first.
INTS = st.integers(min_value=-2, max_value=3)
STRS = st.text(alphabet="abZ", max_size=2)
FORMS = ("row-value", "expanded")

Key = tuple[Any, ...]

CI = settings(max_examples=150, deadline=None)


@st.composite
def key_kinds(draw: st.DrawFn) -> list[str]:
    return draw(st.lists(st.sampled_from(["int", "str"]), min_size=2, max_size=3))


def key_tuples(kinds: Sequence[str]) -> st.SearchStrategy[Key]:
    return st.tuples(*(INTS if kind == "int" else STRS for kind in kinds))


def _table(kinds: Sequence[str], primary_key: bool) -> sa.Table:
    names = [f"k{i}" for i in range(len(kinds))]
    return sa.Table(
        "t",
        sa.MetaData(),
        *(
            sa.Column(
                name,
                sa.Integer if kind == "int" else sa.String(4),
                primary_key=primary_key,
                autoincrement=False,
                nullable=False,
            )
            for name, kind in zip(names, kinds, strict=True)
        ),
        sa.Column("payload", sa.Integer, nullable=False),
    )


def _load(kinds: Sequence[str], keys: Sequence[Key], primary_key: bool) -> SqlSource:
    """A SqlSource over an in-memory SQLite table holding ``keys`` (in the given order),
    each row's payload its position in that order. The in-memory database lives as long
    as the source's engine: SQLAlchemy keeps one connection per thread for it."""
    names = [f"k{i}" for i in range(len(kinds))]
    source = SqlSource("sqlite://", table="t", key=[] if primary_key else names)
    table = _table(kinds, primary_key)
    with source.engine.begin() as conn:
        table.create(conn)
        if keys:
            conn.execute(
                table.insert(),
                [
                    {**dict(zip(names, key, strict=True)), "payload": i}
                    for i, key in enumerate(keys)
                ],
            )
    source.open()
    assert source.key == names, "the primary key (or the given --key) is the paging key"
    return source


def _page_all(
    source: SqlSource, form: str, start: Key | None, batch: int, total: int
) -> list[tuple[Any, ...]]:
    """Page from ``start`` until the source says there is no more, like the runner."""
    read: Callable[[sa.Connection, Key | None], paging.Page]
    if form == "row-value":

        def read(conn: sa.Connection, last: Key | None) -> paging.Page:
            return source.read(conn, last, batch)
    else:

        def read(conn: sa.Connection, last: Key | None) -> paging.Page:
            query = paging.page_query(source.selectable, source.key, last, batch, "mysql")
            rows = conn.execute(query).all()
            return paging.split(rows, source.key_index, batch, source.key)

    visited: list[tuple[Any, ...]] = []
    last = start
    with source.engine.connect() as conn:
        for _ in range(total + 2):
            page = read(conn, last)
            assert len(page.rows) <= batch
            if page.rows:
                assert page.last_key == tuple(page.rows[-1][i] for i in source.key_index)
            visited.extend(tuple(row) for row in page.rows)
            if not page.more:
                return visited
            assert page.rows, "a page that says there is more must carry rows"
            last = page.last_key
    pytest.fail(f"paging did not end after {total + 2} pages")


@st.composite
def tables_and_resume_points(draw: st.DrawFn) -> tuple[list[str], list[Key], Key | None]:
    kinds = draw(key_kinds())
    keys = draw(st.lists(key_tuples(kinds), unique=True, max_size=40))
    choice = draw(
        st.sampled_from(["none", "existing", "anywhere"] if keys else ["none", "anywhere"])
    )
    if choice == "none":
        start = None
    elif choice == "existing":
        start = draw(st.sampled_from(keys))
    else:  # usually between existing keys, sometimes before or after all of them
        start = draw(key_tuples(kinds))
    return kinds, draw(st.permutations(keys)), start


@CI
@given(
    case=tables_and_resume_points(),
    batch=st.integers(min_value=1, max_value=7),
    form=st.sampled_from(FORMS),
    primary_key=st.booleans(),
)
def test_keyset_paging_visits_every_later_row_exactly_once(
    case: tuple[list[str], list[Key], Key | None],
    batch: int,
    form: str,
    primary_key: bool,
) -> None:
    kinds, keys, start = case
    source = _load(kinds, keys, primary_key)
    try:
        visited = _page_all(source, form, start, batch, len(keys))
    finally:
        source.dispose()
    n = len(kinds)
    payload_of = {key: i for i, key in enumerate(keys)}
    expected = sorted(key for key in keys if start is None or key > start)
    got = [row[:n] for row in visited]
    assert got == expected, f"resume after {start!r}, batch {batch}, {form} form"
    # Each key came with its own row, not a neighbour's.
    assert [row[n] for row in visited] == [payload_of[key] for key in expected]


@st.composite
def tables_with_duplicate_keys(draw: st.DrawFn) -> tuple[list[str], list[Key]]:
    kinds = draw(key_kinds())
    keys = draw(st.lists(key_tuples(kinds), unique=True, min_size=1, max_size=30))
    repeated = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=3))
    return kinds, draw(st.permutations(keys + repeated))


@CI
@given(
    case=tables_with_duplicate_keys(),
    batch=st.integers(min_value=1, max_value=7),
    form=st.sampled_from(FORMS),
)
def test_a_key_that_is_not_unique_is_always_detected(
    case: tuple[list[str], list[Key]],
    batch: int,
    form: str,
) -> None:
    kinds, keys = case
    source = _load(kinds, keys, primary_key=False)
    try:
        with pytest.raises(KeyColumnError, match="not unique"):
            _page_all(source, form, None, batch, len(keys))
    finally:
        source.dispose()
