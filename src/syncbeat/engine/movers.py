"""Moving one batch from the source to the destination, two ways.

:class:`RowMover` works between any two databases: it reads a keyset page into Python
and writes it with one executemany. :class:`PgCopyMover` is the PostgreSQL-to-PostgreSQL
fast path: values are never decoded; the batch streams from ``COPY (SELECT …) TO STDOUT``
straight into ``COPY … FROM STDIN``, in binary. Both commit the batch's rows and the
destination state row in ONE transaction, compare-and-set on the lease epoch and the
previous batch index, so either is exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from psycopg import Error as _PsycopgError
from psycopg import sql
from psycopg.errors import UniqueViolation

from syncbeat.connectors import faults
from syncbeat.connectors.destinations import SqlDestination, collisions
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.connectors.destinations.bulk import pg_stage, pg_upsert_from
from syncbeat.connectors.failures import as_driver_error, classify
from syncbeat.connectors.faults import Point
from syncbeat.connectors.keys import FLOAT4
from syncbeat.connectors.paging import Page
from syncbeat.connectors.sources import SqlSource, ranges
from syncbeat.connectors.sources.sql import pg_regclass
from syncbeat.connectors.statements import Statements
from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.checkpoint import Checkpoint, Key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Moved:
    """What one batch did: rows written, the checkpoint after it, and whether the
    source may hold more rows."""

    rows: int
    after: Checkpoint
    more: bool


class Mover:
    """What both ways share: the two ends, the lease that writes, and the bounds of an
    adaptive batch (``first_batch`` rows, at most ``max_batch``)."""

    name = ""
    """The mover's name in the `plan` event (its ``path``)."""
    describe = ""
    """What it does, in the `plan` event's message."""
    first_batch = defaults.ROW_BATCH_FIRST
    max_batch = defaults.ROW_BATCH_MAX

    def __init__(
        self,
        source: SqlSource,
        dest: SqlDestination,
        statements: Statements,
        uid: str,
        epoch: int,
        *,
        fenced: bool = True,
        before_write: Callable[[], None] = lambda: None,
    ) -> None:
        self.source, self.dest, self.statements = source, dest, statements
        self.uid, self.epoch, self.fenced = uid, epoch, fenced
        self.before_write = before_write  # the runner's "is the lease still ours?"
        self.prepare()

    def prepare(self) -> None:
        """What a mover derives from its two ends once, as it is made."""

    @staticmethod
    def unfit(source: SqlSource, dest: SqlDestination) -> str | None:
        """Why this mover cannot serve these two ends, or None when it can; "" when
        they are not the engines it is for (nothing worth saying in the `plan` event)."""
        return None

    def start(self, after: Key | None) -> None:
        """Called once per run, before the first batch (after the checkpoint ``after``)."""

    def move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        """Move the batch after ``before``: its rows and the destination state row commit
        in one transaction, after :attr:`before_write` confirmed the lease."""
        raise NotImplementedError

    def summary(self) -> str:
        """What the run did, for the job's last message, where rows done do not say it."""
        return ""

    def close(self) -> None:
        """Release what the mover opened for itself (the runner disposes the two ends)."""


class RowMover(Mover):
    """Any database to any database, through Python values."""

    name = "rows"
    describe = "generic path"

    def move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        page = self.read(before.last_key, batch_size)
        if not page.rows:
            return Moved(0, before, False)
        self.before_write()
        return self.write(page, before, retries)

    def read(self, last: Key | None, batch_size: int) -> Page:
        """The keyset page after ``last`` (its own connection: any thread may read)."""
        engine = self.source.engine
        try:
            with engine.connect() as conn, self.statements.track(engine, conn):
                return self.source.read(conn, last, batch_size)
        except sa.exc.DBAPIError as exc:
            raise classify(exc, f"reading the source {urls.mask(self.source.url)}") from None

    def write(self, page: Page, before: Checkpoint, retries: int) -> Moved:
        """Write ``page`` (not empty) and advance the state row from ``before``."""
        after = before.advance(page.last_key or (), len(page.rows), retries)
        try:
            self.dest.write(
                page.rows,
                self.uid,
                self.epoch,
                before,
                after,
                statements=self.statements,
                fenced=self.fenced,
            )
        except sa.exc.DBAPIError as exc:
            raise classify(
                exc, f"writing the destination {urls.mask(self.dest.url)}", destination=True
            ) from None
        return Moved(len(page.rows), after, page.more)


class AlreadyWritten(Exception):
    """An earlier try of this batch committed (its answer was lost): roll back."""


class PgCopyMover(Mover):
    """PostgreSQL to PostgreSQL with binary COPY, when both sides have the same types.

    Each batch: the upper key bound from the index (``OFFSET n-1 LIMIT 1`` on the key
    alone: an index-only scan), then ``COPY (SELECT … WHERE key > :last AND key <=
    :upper) TO STDOUT (FORMAT BINARY)`` streamed into ``COPY … FROM STDIN`` (no ORDER BY:
    the range is the batch, so the planner may scan it the cheapest way):
    into the table in append and replace mode, into a temporary staging table followed
    by one ``INSERT … ON CONFLICT`` in upsert mode. Memory is one COPY block.

    Upsert into a table that holds no row past the checkpoint (a first sync into a new
    or emptied table, or its resumption) cannot conflict with our own rows, so batches
    COPY straight in; should another writer add a conflicting row meanwhile, the unique
    violation rolls that batch back and the staging path takes over.
    """

    name = "pg-copy"
    describe = "PostgreSQL binary COPY pass-through"
    first_batch = defaults.COPY_BATCH_FIRST
    max_batch = defaults.COPY_BATCH_MAX

    def prepare(self) -> None:
        source, dest, uid = self.source, self.dest, self.uid
        self.columns = [c.name for c in source.columns]
        self.key = list(source.key)
        self.src_table = _identifier(source.table_name or "")
        self.target = sql.Identifier(*(([dest.schema] if dest.schema else []) + [dest.table.name]))
        self.stage = sql.Identifier(f"_syncbeat_stage_{uid[:12]}")
        self.staged = dest.mode == "upsert"

    def start(self, after: Key | None) -> None:
        """Called once per run, before the first batch: can upserts skip staging?"""
        if not self.staged:
            return
        where, params = self._after(after)
        with self.dest.engine.connect() as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(
                    sql.SQL("SELECT 1 FROM {t} WHERE {w} LIMIT 1").format(t=self.target, w=where),
                    params,
                )
            except _PsycopgError as exc:  # a raw cursor: classified like every batch error
                raise as_driver_error(exc, "SELECT") from None
            self.staged = cur.fetchone() is not None

    @staticmethod
    def unfit(source: SqlSource, dest: SqlDestination) -> str | None:
        """Why the fast path cannot serve this pair, or None when it can."""
        if source.engine.dialect.driver != "psycopg" or dest.engine.dialect.driver != "psycopg":
            return ""  # not PostgreSQL on both sides
        if why := ranges.unranged(source):
            return why
        assert source.table_name is not None  # a ranged source is a table
        wanted = _column_types(source.engine, source.table_name, source.columns)
        got = _column_types(dest.engine, _qualified(dest.schema, dest.table.name), source.columns)
        for name, (typ, builtin) in wanted.items():
            if not builtin:
                return f"column {name} has a user-defined type ({typ})"
            if got.get(name, ("", False))[0] != typ:
                return (
                    f"column {name} is {typ} in the source, {got.get(name, ('missing',))[0]} here"
                )
        return None

    def _key_list(self) -> sql.Composable:
        return sql.SQL(", ").join(sql.Identifier(k) for k in self.key)

    def _marks(self) -> sql.Composable:
        """The key's placeholders; a real's as a real (see keys.py): the boundary 0.1
        bound as a double would be above the stored 0.1 and read it again."""
        real = {k.name for k in self.source.key_plan if k.carry == FLOAT4}
        return sql.SQL(", ").join(
            sql.SQL("CAST(%s AS real)") if k in real else sql.Placeholder() for k in self.key
        )

    def _after(self, last: Key | None) -> tuple[sql.Composable, list[Any]]:
        if last is None:
            return sql.SQL("TRUE"), []
        return sql.SQL("({}) > ({})").format(self._key_list(), self._marks()), list(last)

    def _bound(self, cur: Any, last: Key | None, batch_size: int) -> tuple[Key, bool] | None:
        """The batch's last key, and whether rows follow it. Reading one key past the
        batch (as the generic path's peek row does) tells a full last batch from one
        with more to come."""
        where, params = self._after(last)
        cur.execute(
            sql.SQL("SELECT {k} FROM {t} WHERE {w} ORDER BY {k} OFFSET %s LIMIT 2").format(
                k=self._key_list(), t=self.src_table, w=where
            ),
            [*params, batch_size - 1],
        )
        rows = cur.fetchall()
        if rows:
            return tuple(rows[0]), len(rows) == 2
        order = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(k)) for k in self.key)
        cur.execute(
            sql.SQL("SELECT {k} FROM {t} WHERE {w} ORDER BY {o} LIMIT 1").format(
                k=self._key_list(), t=self.src_table, w=where, o=order
            ),
            params,
        )
        row = cur.fetchone()
        return None if row is None else (tuple(row), False)

    def move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        try:
            return staged_on_conflict(self, lambda: self._move(before, batch_size, retries))
        except sa.exc.DBAPIError as exc:
            raise classify(
                exc, "copying a batch between PostgreSQL databases", destination=True
            ) from None
        except _PsycopgError as exc:
            raise copy_failure(
                self.dest, exc, "copying a batch between PostgreSQL databases"
            ) from None

    def _move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        src_engine, dst_engine = self.source.engine, self.dest.engine
        with src_engine.connect() as sconn, self.statements.track(src_engine, sconn):
            scur = sconn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            faults.strike(Point.SOURCE_READ)  # tests only: a no-op unless SYNCBEAT_FAULTS is set
            bound = self._bound(scur, before.last_key, batch_size)
            if bound is None:
                return Moved(0, before, False)
            upper, more = bound
            where, params = self._after(before.last_key)
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)
            marks = self._marks()
            copy_out = sql.SQL(
                "COPY (SELECT {c} FROM {t} WHERE {w} AND ({k}) <= ({m})) TO STDOUT (FORMAT BINARY)"
            ).format(c=cols, t=self.src_table, w=where, k=self._key_list(), m=marks)
            self.before_write()
            try:
                with dst_engine.begin() as dconn, self.statements.track(dst_engine, dconn):
                    dcur = dconn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                    into = self.target
                    if self.staged:
                        into = self.stage
                        dcur.execute(pg_stage(self.stage, self.target))
                    copy_in = sql.SQL("COPY {t} ({c}) FROM STDIN (FORMAT BINARY)").format(
                        t=into, c=cols
                    )
                    with scur.copy(copy_out, [*params, *upper]) as out, dcur.copy(copy_in) as inp:
                        _relay(out, inp)
                    rows = dcur.rowcount
                    if self.staged:
                        dcur.execute(
                            pg_upsert_from(self.stage, self.target, self.columns, self.key)
                        )
                    after = before.advance(upper, rows, retries)
                    if self.fenced and not dest_state.advance(
                        dconn, self.uid, self.epoch, before, after
                    ):
                        raise AlreadyWritten
                    faults.strike(Point.DEST_WRITE)  # tests only: fails before the commit
                faults.strike(Point.DEST_ACK)  # tests only: fails after it (its answer lost)
            except AlreadyWritten:
                pass
        return Moved(after.rows_done - before.rows_done, after, more)


def copy_failure(dest: SqlDestination, exc: _PsycopgError, doing: str) -> Exception:
    """What a psycopg error of a COPY into ``dest`` means: an upsert's collision on
    another unique index, named; else the error, classified like any."""
    if isinstance(exc, UniqueViolation) and dest.mode == "upsert":
        collision = collisions.from_violation(exc, dest.table_name)
        if collision is not None:
            return collision
    return classify(as_driver_error(exc, "COPY"), doing, destination=True)


class Staging(Protocol):
    """A mover whose upserts COPY straight in until they meet a row already there."""

    dest: SqlDestination
    staged: bool


def staged_on_conflict(mover: Staging, attempt: Callable[[], Moved]) -> Moved:
    """Try a batch; if an upsert that skipped staging met a row already there (its
    unique violation rolled the batch back), try it again through staging, as every
    later batch will go."""
    try:
        return attempt()
    except UniqueViolation:
        if mover.staged or mover.dest.mode != "upsert":
            raise
        log.info(
            "a conflicting row appeared: upserts go through staging now",
            extra={"action": "upsert_staged"},
        )
        mover.staged = True
        return attempt()


def _relay(out: Any, inp: Any) -> None:
    pending: list[Any] = []
    size = 0
    for block in out:
        pending.append(block)
        size += len(block)
        if size >= defaults.RELAY_CHUNK:
            inp.write(b"".join(pending))
            pending.clear()
            size = 0
    if pending:
        inp.write(b"".join(pending))


def _identifier(name: str) -> sql.Identifier:
    schema, _, table = name.rpartition(".")
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


def _qualified(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def _column_types(
    engine: sa.Engine, table: str, columns: Sequence[sa.Column[Any]]
) -> dict[str, tuple[str, bool]]:
    """Each column's exact PostgreSQL type, and whether it (or its array element) is a
    built-in type, whose binary form is the same in every database."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                "  (SELECT n.nspname = 'pg_catalog' FROM pg_type t "
                "   JOIN pg_namespace n ON n.oid = t.typnamespace "
                "   WHERE t.oid = CASE WHEN et.oid IS NOT NULL THEN et.oid ELSE a.atttypid END) "
                "FROM pg_attribute a "
                "JOIN pg_type at ON at.oid = a.atttypid "
                "LEFT JOIN pg_type et ON et.oid = at.typelem AND at.typcategory = 'A' "
                "WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 AND NOT a.attisdropped"
            ),
            {"t": pg_regclass(table)},
        ).all()
    wanted = {c.name for c in columns}
    return {name: (typ, bool(builtin)) for name, typ, builtin in rows if name in wanted}
