r"""Checksums of key ranges, each computed by the database that holds the rows.

A range's summary is its row count and the sum of its rows' digests. A row's digest is
the first 60 bits of the md5 of its canonical text: every column's
:func:`syncbeat.connectors.canonical.text_of`, joined by commas; a text that may hold
a comma is written ``<length>:<text>``, a plain one (a number, a date: no comma, no
backslash) as it is, and NULL as ``\N``, so that no two rows run together and a costly
text (a MariaDB decimal's trimmed zeros) is computed once per row. PostgreSQL
and MariaDB sum the digests exactly (numeric, DECIMAL); SQLite, whose integers stop at
2^63, through a registered aggregate. A sum does not depend on row order, so each
database scans a range the cheapest way; two ranges with the same count and sum hold
the same rows but with a chance of 2^-60.

A range is ``(lo, hi]`` in key order, either end open: the ends are keys read from one
side and bound on both (:class:`Bound`), each side comparing them the way it compares
its own keys (:mod:`syncbeat.connectors.keys`). That is only sound where both databases
order the key alike, which the caller checks before it compares anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from syncbeat.connectors import paging
from syncbeat.connectors.keys import FLOAT4, MYSQL, KeyColumn
from syncbeat.vocabulary.checkpoint import Key

SOURCE, DESTINATION = "source", "destination"
BACKSLASH = "\\"


@dataclass(frozen=True)
class Summary:
    """A range's row count and the sum of its rows' digests."""

    rows: int
    digests: int


@dataclass(frozen=True)
class Bound:
    """One key as each side binds it: read on side ``by``, converted for the other the
    way a sync converts the key on its way (so a uuid is the text a MariaDB CHAR(36)
    holds, a timestamptz the UTC time a DATETIME holds). Between two databases of one
    engine both are the boundary as read: a MariaDB ENUM's number means the same there,
    where its label would compare as text."""

    source: Key
    destination: Key
    by: str = SOURCE

    def on(self, role: str) -> Key:
        return self.source if role == SOURCE else self.destination


@dataclass(frozen=True)
class RowTexts:
    """One row of a range, fetched to be compared: its key as read (to be shown), the
    key's canonical texts (to match it with the other side's row) and every compared
    column's canonical text."""

    key: Key
    key_texts: tuple[str, ...]
    texts: tuple[str | None, ...]


Convert = Callable[[Any], Any] | None


class Side:
    """One end of a comparison: a table or query of one database, its key as that
    database compares it, and the canonical texts of the compared columns."""

    def __init__(
        self,
        role: str,
        engine: sa.Engine,
        selectable: sa.FromClause,
        key_plan: Sequence[KeyColumn],
        key_reads: Sequence[sa.ColumnElement[Any]],
        to_other: Sequence[Convert],
        texts: Sequence[sa.ColumnElement[str]],
        key_texts: Sequence[sa.ColumnElement[str]],
        *,
        plain: Sequence[bool],
        same_engine: bool,
    ) -> None:
        self.role, self.engine, self.selectable = role, engine, selectable
        self.dialect = engine.dialect.name
        self.key_plan = list(key_plan)
        self.key_cols = [selectable.c[k.name] for k in key_plan]
        self.key_reads, self.to_other = list(key_reads), list(to_other)
        self.texts, self.key_texts = list(texts), list(key_texts)
        self.same_engine = same_engine
        # A key read on the other side arrives as a value of this side's column (converted
        # as a sync converts it), so it is bound as one: by the column's type, not as a
        # boundary read here would be (SQLite's stored form, an ENUM's number). A 4-byte
        # float is still compared as one.
        self._foreign = [
            k if same_engine or k.carry == FLOAT4 else KeyColumn(k.name) for k in self.key_plan
        ]
        row_text = _row_text(self.texts, plain, self.dialect)
        self._sums = [sa.func.count(), _digest_sum(row_text, self.dialect)]
        # Boundaries not the row's own value (a MariaDB ENUM's number...), read beside it.
        self._hidden = [k.boundary(c) for k, c in zip(self.key_plan, self.key_cols, strict=True)]

    def within(self, lo: Bound | None, hi: Bound | None) -> sa.ColumnElement[bool]:
        """The rows of ``(lo, hi]``."""
        parts: list[sa.ColumnElement[bool]] = []
        if lo is not None:
            parts.append(
                paging.after(self.key_cols, lo.on(self.role), self.dialect, self._plan(lo))
            )
        if hi is not None:
            parts.append(
                paging.at_most(self.key_cols, hi.on(self.role), self.dialect, self._plan(hi))
            )
        return sa.and_(sa.true(), *parts)

    def _plan(self, bound: Bound) -> list[KeyColumn]:
        return self.key_plan if bound.by == self.role else self._foreign

    def summary(self, conn: sa.Connection, lo: Bound | None, hi: Bound | None) -> Summary:
        query = sa.select(*self._sums).select_from(self.selectable).where(self.within(lo, hi))
        rows, digests = conn.execute(query).one()
        return Summary(int(rows), int(digests or 0))

    def summaries(
        self, conn: sa.Connection, lo: Bound | None, cuts: Sequence[Bound], hi: Bound | None
    ) -> list[Summary]:
        """The summaries of ``(lo, cuts[0]], (cuts[0], cuts[1]], ..., (cuts[-1], hi]`` in one
        scan of ``(lo, hi]``: each row is counted in the part its key falls in."""
        part = sa.case(
            *(
                (paging.at_most(self.key_cols, c.on(self.role), self.dialect, self._plan(c)), i)
                for i, c in enumerate(cuts)
            ),
            else_=len(cuts),
        ).label("_syncbeat_part")
        query = (
            sa.select(part, *self._sums)
            .select_from(self.selectable)
            .where(self.within(lo, hi))
            .group_by(part)
        )
        found = {int(p): Summary(int(n), int(d or 0)) for p, n, d in conn.execute(query)}
        return [found.get(i, Summary(0, 0)) for i in range(len(cuts) + 1)]

    def cuts(
        self, conn: sa.Connection, lo: Bound | None, hi: Bound | None, step: int, most: int
    ) -> list[Bound]:
        """Every ``step``-th key of ``(lo, hi]``, at most ``most`` of them, in one query
        (row_number over the key, which the key's index serves)."""
        hidden = [h.label(f"_syncbeat_key{i}") for i, h in enumerate(self._hidden) if h is not None]
        reads = [r.label(f"_syncbeat_read{i}") for i, r in enumerate(self.key_reads)]
        number = sa.func.row_number().over(order_by=self.key_cols).label("_syncbeat_n")
        ranked = (
            sa.select(*reads, *hidden, number)
            .select_from(self.selectable)
            .where(self.within(lo, hi))
            .subquery("ranked")
        )
        n = ranked.c._syncbeat_n
        query = (
            sa.select(*(c for c in ranked.c if c.name != "_syncbeat_n"))
            .where(n % step == 0, n <= step * most)
            .order_by(n)
        )
        return [self._bound_of_row(tuple(row)) for row in conn.execute(query)]

    def _bound_of_row(self, row: tuple[Any, ...]) -> Bound:
        read = tuple(row[: len(self.key_reads)])
        extra = iter(row[len(self.key_reads) :])
        own = tuple(
            v if h is None else next(extra) for v, h in zip(read, self._hidden, strict=True)
        )
        return self._both(own, read)

    def probe(
        self, conn: sa.Connection, lo: Bound | None, hi: Bound | None, offset: int
    ) -> Bound | None:
        """The key ``offset`` rows into ``(lo, hi]`` (0: its first), or None past its end:
        an index-only scan of the key where the database has one."""
        hidden = [h for h in self._hidden if h is not None]
        query = (
            sa.select(*self.key_reads, *hidden)
            .select_from(self.selectable)
            .where(self.within(lo, hi))
            .order_by(*self.key_cols)
            .offset(offset)
            .limit(1)
        )
        row = conn.execute(query).first()
        return None if row is None else self._bound_of_row(tuple(row))

    def bound_of(self, key: Key) -> Bound:
        """A boundary of this side's (a checkpoint's) as both sides bind it. Where it is
        not the key's value (a MariaDB ENUM's number, SQLite's stored text), the two
        sides are one engine (sides.py refuses such keys across engines)."""
        return self._both(key, key)

    def _both(self, own: Key, read: Key) -> Bound:
        other = own if self.same_engine else self._converted(read)
        if self.role == SOURCE:
            return Bound(own, other, SOURCE)
        return Bound(other, own, DESTINATION)

    def _converted(self, read: Key) -> Key:
        return tuple(v if c is None else c(v) for v, c in zip(read, self.to_other, strict=True))

    def rows(self, conn: sa.Connection, lo: Bound | None, hi: Bound | None) -> list[RowTexts]:
        """Every row of the range, as texts, in key order."""
        width = len(self.key_reads)
        query = (
            sa.select(*self.key_reads, *self.key_texts, *self.texts)
            .select_from(self.selectable)
            .where(self.within(lo, hi))
            .order_by(*self.key_cols)
        )
        return [
            RowTexts(
                tuple(r[:width]),
                tuple(str(t) for t in r[width : 2 * width]),
                tuple(r[2 * width :]),
            )
            for r in conn.execute(query)
        ]


def _row_text(
    texts: Sequence[sa.ColumnElement[str]], plain: Sequence[bool], dialect: str
) -> sa.ColumnElement[str]:
    """The row's columns as one text (see the module)."""
    parts: list[sa.ColumnElement[str]] = []
    for text, simple in zip(texts, plain, strict=True):
        if not simple:
            # Characters, on each engine (MariaDB's LENGTH counts bytes, SQLite has no
            # CHAR_LENGTH); the text is then mentioned twice, which costs little: it is
            # the column itself, or nearly.
            length = sa.func.length(text) if dialect == "sqlite" else sa.func.char_length(text)
            text = (
                sa.cast(length, sa.Text() if dialect not in MYSQL else sa.CHAR()) + _lit(":") + text
            )
        parts.append(sa.func.coalesce(text, _lit(BACKSLASH + "N")))
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + _lit(",") + part
    return joined


def _lit(text: str) -> sa.ColumnElement[str]:
    """A constant as a bound parameter: the driver quotes it, so a backslash means the
    same under MariaDB's default mode, NO_BACKSLASH_ESCAPES and PostgreSQL's standard
    strings."""
    return sa.literal(text, sa.Text())


def _digest_sum(text: sa.ColumnElement[str], dialect: str) -> sa.ColumnElement[Any]:
    """The sum of the rows' digests: the first 60 bits of each row text's md5."""
    if dialect == "sqlite":
        return sa.func.syncbeat_digest_sum(text)
    first = sa.func.substring(sa.func.md5(text), 1, 15)
    if dialect in MYSQL:
        return sa.func.sum(sa.cast(sa.func.conv(first, 16, 10), mysql.INTEGER(unsigned=True)))
    hexed = sa.cast(sa.literal("x") + first, postgresql.BIT(60))
    return sa.func.sum(sa.cast(hexed, sa.BigInteger()))


def digest(text: str) -> int:
    """A row text's digest, as PostgreSQL and MariaDB compute it in SQL."""
    return int(hashlib.md5(text.encode()).hexdigest()[:15], 16)  # noqa: S324 (a checksum, not a secret)


class _DigestSum:
    """SQLite's ``syncbeat_digest_sum``: the exact sum, as text (it passes 2^63)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, text: str | None) -> None:
        if text is not None:
            self.total += digest(text)

    def finalize(self) -> str:
        return str(self.total)


def install(engine: sa.Engine) -> None:
    """Register the digest functions on a SQLite engine's connections."""
    if engine.dialect.name != "sqlite":
        return

    def register(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_aggregate("syncbeat_digest_sum", 1, _DigestSum)

    sa.event.listen(engine, "connect", register)
