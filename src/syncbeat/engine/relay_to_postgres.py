"""MariaDB/MySQL to PostgreSQL as bytes: MariaDB writes COPY text, PostgreSQL reads it.

The row path decodes every value with PyMySQL (pure Python) and encodes it again for
COPY; here MariaDB formats each row as the COPY text line the row path would have sent
(connectors.formats.copy_text) and the batch's lines arrive as one value, which goes
into ``COPY … FROM STDIN`` undecoded. A batch is a key range (connectors.sources.ranges):
one statement gives its row count, how many of its rows hold a value the row path
refuses, and the lines, ``GROUP_CONCAT``-ed. That value is capped by
``@@max_allowed_packet`` (and ``group_concat_max_len``, raised to it), and a value cut
short is only a warning: so each line ends in a newline (text has them escaped) and a
batch counts as read only when its newlines are its rows. A cut batch is read again a
line a row; a row too wide for one value (MariaDB gives NULL), a value the row path
refuses, or one PostgreSQL does not take (its DataError) sends the batch through the row
path, which writes it or names the value, the column and the row as it always did.
Batches are kept under half the packet, so that one value holds them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from psycopg import Error as _PsycopgError
from psycopg import sql
from psycopg.errors import BadCopyFileFormat, DataError

from syncbeat.connectors import faults
from syncbeat.connectors.destinations import SqlDestination
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.connectors.destinations.bulk import pg_stage, pg_upsert_from
from syncbeat.connectors.failures import classify
from syncbeat.connectors.faults import Point
from syncbeat.connectors.formats import copy_text
from syncbeat.connectors.sources import SqlSource, ranges
from syncbeat.connectors.sources.ranges import KeyRanges
from syncbeat.connectors.typemap import MYSQL
from syncbeat.engine.movers import AlreadyWritten, Moved, copy_failure, staged_on_conflict
from syncbeat.engine.relay import Fetched, RelayMover
from syncbeat.vocabulary import urls
from syncbeat.vocabulary.checkpoint import Checkpoint, Key
from syncbeat.vocabulary.errors import DestinationError

log = logging.getLogger(__name__)

_READERS = ("pymysql", "mysqldb")  # PyMySQL, or mysqlclient (connectors.engines)


@dataclass(frozen=True)
class _Lines:
    """A batch as COPY text, or None: the row path must move it (why, for the log)."""

    data: bytes | None
    why: str = ""


class MysqlToPgRelay(RelayMover):
    name = "mysql-to-pg"
    describe = "MariaDB/MySQL to PostgreSQL COPY text relay"

    @staticmethod
    def unfit(source: SqlSource, dest: SqlDestination) -> str | None:
        # Either MySQL driver reads: the relay's statements go through SQLAlchemy, and
        # their one value is bytes on both.
        if source.dialect not in MYSQL or source.engine.dialect.driver not in _READERS:
            return ""  # not MariaDB/MySQL to PostgreSQL
        if dest.dialect != "postgresql" or dest.engine.dialect.driver != "psycopg":
            return ""
        if why := ranges.unranged(source):
            return why
        return copy_text.unfit(source.columns, dest.table, source.key)

    def prepare(self) -> None:
        super().prepare()
        source, dest = self.source, self.dest
        self.ranges = KeyRanges(source)
        assert source.table_name is not None
        with source.engine.connect() as conn:
            charsets = copy_text.charsets(conn, source.table_name)
        quote = source.engine.dialect.identifier_preparer.quote
        text = copy_text.CopyText.build(source.columns, dest.table, source.key, quote, charsets)
        self.line, self.refused = text.line, text.refused
        self._packet = 16 * 1024 * 1024  # MariaDB's default, until the first batch says
        self.columns = [c.name for c in source.columns]
        self.key = list(source.key)
        self.target = sql.Identifier(*(([dest.schema] if dest.schema else []) + [dest.table.name]))
        self.stage = sql.Identifier(f"_syncbeat_stage_{self.uid[:12]}")
        # Upserts COPY straight in until a row is already there (a first sync into an
        # empty table never meets one); the unique violation rolls that batch back and
        # staging takes over, as in PgCopyMover.
        self.staged = False

    def move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        if self._row_bytes:  # within half the packet (RelayMover's cap is one packet)
            batch_size = max(1, min(batch_size, self._packet // 2 // self._row_bytes))
        return super().move(before, batch_size, retries)

    # -- the source ------------------------------------------------------------------

    def fetch(self, after: Key | None, batch_size: int) -> Fetched | None:
        engine = self.source.engine
        try:
            with engine.connect() as conn, self.statements.track(engine, conn):
                faults.strike(Point.SOURCE_READ)  # tests only: a no-op unless SYNCBEAT_FAULTS set
                bound = self.ranges.upper(conn, after, batch_size)
                if bound is None:
                    return None
                upper, more = bound
                rows, lines = self._lines(conn, self.ranges.within(after, upper))
        except sa.exc.DBAPIError as exc:
            raise classify(exc, f"reading the source {urls.mask(self.source.url)}") from None
        size = len(lines.data) if lines.data is not None else 0
        return Fetched(upper, more, lines, rows, size)

    def _lines(self, conn: sa.Connection, where: sa.ColumnElement[bool]) -> tuple[int, _Lines]:
        """The range's row count and its lines: one value, or a line a row if cut."""
        # The value is capped by the packet whatever group_concat_max_len says; raised
        # to it, the packet is the one limit.
        conn.exec_driver_sql("SET SESSION group_concat_max_len = @@max_allowed_packet")
        row: Any = conn.execute(
            sa.select(
                sa.func.count(),
                sa.literal_column(f"COALESCE(SUM({self.refused}), 0)"),
                sa.literal_column("@@max_allowed_packet"),
                sa.literal_column(f"CAST(GROUP_CONCAT({self.line} SEPARATOR '') AS BINARY)"),
            )
            .select_from(self.source.selectable)
            .where(where)
        ).one()
        count, refused, packet, data = row
        self._packet = int(packet)
        if refused:
            return count, _Lines(None, f"{refused} row(s) hold a value for the row path")
        if data is not None and data.count(b"\n") == count:
            return count, _Lines(bytes(data))
        # Cut at the packet: the batch once more, a line a row.
        log.info(
            "a batch is wider than one MariaDB value: read a line a row",
            extra={"action": "relay_lines"},
        )
        query: Any = sa.select(sa.literal_column(self.line)).select_from(self.source.selectable)
        lines: list[bytes | None] = list(conn.execute(query.where(where)).scalars())
        if any(line is None for line in lines):  # a row wider than the packet
            return len(lines), _Lines(None, "a row is wider than max_allowed_packet")
        return len(lines), _Lines(b"".join(line for line in lines if line is not None))

    # -- the destination -------------------------------------------------------------

    def store(self, fetched: Fetched, before: Checkpoint, retries: int) -> Moved:
        lines: _Lines = fetched.data
        if lines.data is None:
            return self._by_rows(before, fetched, retries, lines.why)
        data = lines.data
        try:
            return staged_on_conflict(self, lambda: self._store(fetched, data, before, retries))
        except sa.exc.DBAPIError as exc:
            raise classify(
                exc, f"writing the destination {urls.mask(self.dest.url)}", destination=True
            ) from None
        except _PsycopgError as exc:
            if isinstance(exc, DataError) and not isinstance(exc, BadCopyFileFormat):
                # A value PostgreSQL does not take: the row path names it, as it always
                # did. (A line of the wrong shape is ours, never hidden that way.)
                return self._by_rows(before, fetched, retries, type(exc).__name__)
            raise copy_failure(
                self.dest, exc, f"writing the destination {urls.mask(self.dest.url)}"
            ) from None

    def _by_rows(self, before: Checkpoint, fetched: Fetched, retries: int, why: str) -> Moved:
        log.info("a batch goes through the row path: %s", why, extra={"action": "relay_rows"})
        return self.rows.move(before, max(1, fetched.rows), retries)

    def _store(self, fetched: Fetched, data: bytes, before: Checkpoint, retries: int) -> Moved:
        engine = self.dest.engine
        after = before.advance(fetched.upper, fetched.rows, retries)
        try:
            with engine.begin() as conn, self.statements.track(engine, conn):
                if self.fenced and not dest_state.advance(
                    conn, self.uid, self.epoch, before, after
                ):
                    raise AlreadyWritten
                cur: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                into = self.target
                if self.staged:
                    into = self.stage
                    cur.execute(pg_stage(self.stage, self.target))
                cols = sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)
                with cur.copy(sql.SQL("COPY {t} ({c}) FROM STDIN").format(t=into, c=cols)) as copy:
                    copy.write(data)
                if cur.rowcount != fetched.rows:  # a line lost or split: never commit that
                    raise DestinationError(
                        f"COPY read {cur.rowcount} rows of a batch of {fetched.rows} that "
                        "MariaDB formatted: nothing of it was written.",
                        hint="Report this: a column's COPY text is wrong. Meanwhile, "
                        "--query with the table's SELECT takes the generic path.",
                    )
                if self.staged:
                    cur.execute(pg_upsert_from(self.stage, self.target, self.columns, self.key))
                faults.strike(Point.DEST_WRITE)  # tests only: fails before the commit
            faults.strike(Point.DEST_ACK)  # tests only: fails after it (its answer lost)
        except AlreadyWritten:
            pass
        return Moved(fetched.rows, after, fetched.more)
