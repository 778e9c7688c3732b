"""PostgreSQL to MariaDB/MySQL as a byte relay: CSV from ``COPY … TO STDOUT`` loaded
as it is with ``LOAD DATA LOCAL``.

PostgreSQL prints each column in the form the row path would write it
(connectors/sources/mysql_csv.py); the bytes are never decoded. Each batch is a key
range (relay.RelayMover): its rows and the state row commit in one destination
transaction, the state row compare-and-set on the lease epoch and the batch before, as
every mover does.

Where the relay cannot say what the row path would, the row path does it:

- a table with a column that has no SQL form here is :meth:`unfit` (the `plan` event
  says which column), and a --query or a key not unique in the source too;
- a batch in which MariaDB found a value it would cut or could not read (LOAD DATA
  turns those errors into warnings; the SQL forms print NaN, 'infinity' or a key its
  DECIMAL would round as such a value) is written again by the row path, which
  refuses the value with the column and the row named, as it always did;
- a server that refuses LOAD DATA LOCAL leaves every later batch to the row path,
  which writes with INSERT.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from psycopg import Error as _PsycopgError
from psycopg import sql as psycopg_sql

from syncbeat.connectors import faults
from syncbeat.connectors.destinations import SqlDestination
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.connectors.failures import as_driver_error, classify, is_driver_error
from syncbeat.connectors.faults import Point
from syncbeat.connectors.sources import SqlSource, mysql_csv, ranges
from syncbeat.connectors.sources.mysql_csv import MysqlCsv
from syncbeat.connectors.sources.ranges import KeyRanges
from syncbeat.connectors.typemap import MYSQL
from syncbeat.engine.movers import AlreadyWritten, Moved
from syncbeat.engine.relay import Fetched, RelayMover
from syncbeat.vocabulary import urls
from syncbeat.vocabulary.checkpoint import Checkpoint, Key

log = logging.getLogger(__name__)


class PgToMysqlRelay(RelayMover):
    """PostgreSQL to MariaDB/MySQL: CSV printed by the source, loaded by the destination."""

    name = "pg-to-mysql"
    describe = "PostgreSQL CSV COPY relayed into MariaDB/MySQL LOAD DATA"

    @staticmethod
    def unfit(source: SqlSource, dest: SqlDestination) -> str | None:
        if source.engine.dialect.driver != "psycopg":
            return ""  # not PostgreSQL into MariaDB/MySQL
        if dest.dialect not in MYSQL or dest.engine.dialect.driver != "pymysql":
            return ""
        if why := ranges.unranged(source):
            return why
        return MysqlCsv(list(source.selectable.c), dest.table, source.key).unfit

    def prepare(self) -> None:
        super().prepare()
        self.ranges = KeyRanges(self.source)
        self.csv = MysqlCsv(list(self.source.selectable.c), self.dest.table, self.source.key)
        self.loader = self.dest.load_writer(mysql_csv.FIELDS, self.csv.hexed)
        self.by_rows = False  # the server refused LOAD DATA LOCAL: the row path from now on

    def move(self, before: Checkpoint, batch_size: int, retries: int) -> Moved:
        if self.by_rows:
            return self.rows.move(before, batch_size, retries)
        return super().move(before, batch_size, retries)

    def fetch(self, after: Key | None, batch_size: int) -> Fetched | None:
        engine = self.source.engine
        doing = f"reading the source {urls.mask(self.source.url)}"
        faults.strike(Point.SOURCE_READ)  # tests only: a no-op unless SYNCBEAT_FAULTS is set
        try:
            with engine.connect() as conn, self.statements.track(engine, conn):
                bound = self.ranges.upper(conn, after, batch_size)
                if bound is None:
                    return None
                upper, more = bound
                query = self.csv.select(self.source.selectable, self.ranges.within(after, upper))
                dbapi = conn.connection.dbapi_connection
                with dbapi.cursor() as cur:  # type: ignore[union-attr]
                    for setting in mysql_csv.SESSION:  # SET LOCAL: undone as the read ends
                        cur.execute(setting)
                    select = _rendered(query, engine.dialect, cur)
                    data = bytearray()  # grown in place: a list of the rows' blocks
                    with cur.copy(f"COPY ({select}) TO STDOUT {mysql_csv.COPY_OPTIONS}") as out:
                        for block in out:  # would hold an object per row beside the bytes
                            data += block
                    rows = cur.rowcount
        except sa.exc.DBAPIError as exc:
            raise classify(exc, doing) from None
        except _PsycopgError as exc:  # a raw cursor: classified like every read error
            raise classify(as_driver_error(exc, "COPY"), doing) from None
        return Fetched(upper, more, data, rows, len(data))

    def store(self, fetched: Fetched, before: Checkpoint, retries: int) -> Moved:
        after = before.advance(fetched.upper, fetched.rows, retries)
        engine = self.dest.engine
        doing = f"writing the destination {urls.mask(self.dest.url)}"
        try:
            with engine.begin() as conn, self.statements.track(engine, conn):
                if self.fenced and not dest_state.advance(
                    conn, self.uid, self.epoch, before, after
                ):
                    raise AlreadyWritten
                try:
                    self.loader.load(conn, fetched.data, fetched.rows)
                except sa.exc.DBAPIError:
                    raise
                except Exception as exc:
                    if is_driver_error(exc):  # PyMySQL's own, on the raw cursor
                        raise as_driver_error(exc, "LOAD DATA") from exc
                    raise
                faults.strike(Point.DEST_WRITE)  # tests only: fails before the commit
            faults.strike(Point.DEST_ACK)  # tests only: fails after it (its answer lost)
        except AlreadyWritten:
            pass
        except sa.exc.DataError:
            # MariaDB would cut or could not read a value (a warning, see bulk.py): the
            # row path writes the batch again, or refuses the value by column and row.
            log.info(
                "a value does not fit: the batch goes through the row path",
                extra={"action": "relay_fallback"},
            )
            return self.rows.move(before, max(fetched.rows, 1), retries)
        except sa.exc.DBAPIError as exc:
            refused = self.dest.load_refused(exc.orig if exc.orig is not None else exc)
            if refused is None:
                raise classify(exc, doing, destination=True) from None
            self.by_rows = True  # the retry, and every batch after it, INSERTs
            raise refused from None
        return Moved(fetched.rows, after, fetched.more)


def _rendered(query: sa.Select[Any], dialect: sa.Dialect, cur: Any) -> str:
    """The SELECT as text for COPY, which takes no server-side parameters: each value
    (through its column type's bind processor) quoted by psycopg itself, as its
    client-side binding would, but in parentheses: psycopg writes -32768 bare, and
    SQLAlchemy's ``-32768::SMALLINT`` would be -(32768::smallint), out of range."""
    compiled = query.compile(dialect=dialect)
    values = {}
    for name, value in compiled.params.items():
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        bound = value if processor is None or value is None else processor(value)
        values[name] = "(" + psycopg_sql.Literal(bound).as_string(cur) + ")"
    return str(compiled) % values  # pyformat, as psycopg reads it: %% is a literal %
