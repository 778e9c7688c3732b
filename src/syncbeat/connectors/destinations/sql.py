"""A SQL table as a destination: creates it, and writes each batch with its state row
in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from syncbeat.connectors import conversions, engines, faults, typemap
from syncbeat.connectors.destinations import collisions, state
from syncbeat.connectors.destinations.bulk import TSV_FIELDS, MysqlLoadWriter, PgCopyWriter
from syncbeat.connectors.destinations.collations import check_key_columns
from syncbeat.connectors.destinations.swap import Swap, staging_name
from syncbeat.connectors.failures import as_driver_error, classify, errno_of, is_driver_error
from syncbeat.connectors.faults import Point
from syncbeat.connectors.keys import Collation
from syncbeat.connectors.statements import Statements
from syncbeat.vocabulary import urls
from syncbeat.vocabulary.checkpoint import Checkpoint, Key
from syncbeat.vocabulary.errors import ConfigError, DestinationError, TransientError
from syncbeat.vocabulary.pipeline import Mode

# MySQL/MariaDB errors meaning "LOAD DATA LOCAL is not allowed here".
_LOCAL_INFILE_REFUSED = {1148, 2068, 3948, 4166}

log = logging.getLogger(__name__)


def _split_name(name: str) -> tuple[str | None, str]:
    schema, _, table = name.rpartition(".")
    return schema or None, table


class SqlDestination:
    """Writes into one table of any SQLAlchemy database.

    ``upsert`` inserts or updates on the key; ``append`` inserts; ``replace`` loads a
    staging table and swaps it in at the end, so readers never see a half-loaded table.
    """

    def __init__(self, url: str, table: str, mode: str) -> None:
        if mode not in tuple(Mode):
            raise ConfigError(f"Unknown mode {mode!r}.", hint=f"Use one of: {', '.join(Mode)}.")
        self.url, self.table_name, self.mode = url, table, mode
        # LOAD DATA LOCAL must be allowed by the client before the server can accept it.
        self.engine = engines.create_engine(url, load_data=True, pool_pre_ping=True)
        typemap.exact_sessions(self.engine, writes=True)
        self.dialect = self.engine.dialect.name
        self.schema, self.name = _split_name(table)
        self.table: sa.Table
        self._names: list[str] = []
        self._converters: list[tuple[int, Callable[[Any], Any]]] = []
        self._key_at: list[int] = []
        self._insert: Any = None
        self._bulk: PgCopyWriter | MysqlLoadWriter | None = None
        self._unique_checks: list[collisions.UniqueIndex] = []
        self._key: list[str] = []
        self._uid = ""
        self._source_collations: dict[str, Collation] = {}

    def prepare(
        self,
        columns: Sequence[sa.Column[Any]],
        key: Sequence[str],
        src_dialect: str,
        uid: str,
        epoch: int,
        key_collations: Mapping[str, Collation] | None = None,
    ) -> state.DestState:
        """Create what is missing, check what exists, and fence the destination for
        this lease. Returns the authoritative checkpoint. ``key_collations``: the
        source's text collations, to check an existing table's keys against."""
        self._source_collations = dict(key_collations or {})
        if self.mode == "upsert" and not key:
            raise ConfigError(
                "Upsert mode needs key columns, and the source has none.",
                hint="Give --key, or use --mode append or --mode replace.",
            )
        try:
            try:
                with self.engine.begin() as conn:
                    state.ensure_table(conn)
            except sa.exc.DBAPIError:
                # Two jobs starting at once into one database both create the state
                # table; the loser's CREATE fails. Fine if the table is there now.
                with self.engine.connect() as conn:
                    if not sa.inspect(conn).has_table(state.state_table.name):
                        raise
            with self.engine.begin() as conn:
                target = self.name if self.mode != "replace" else staging_name(self.name, uid)
                current = state.fence(conn, uid, epoch, target)
                if current.status in (state.DONE, state.SWAPPING):
                    self.table = sa.Table(self.name, sa.MetaData(), schema=self.schema)
                    return current
                self._check_still_there(conn, current)
                self.table = self._ensure_target(conn, current.target, columns, key, src_dialect)
            self._compile(columns, key, src_dialect)
            self._key, self._uid = list(key), uid
            self._bulk = self._bulk_writer(columns, key, uid)
            if self._unique_checks and not isinstance(self._bulk, MysqlLoadWriter):
                self._refuse_unchecked_upsert()
            return current
        except sa.exc.DBAPIError as exc:
            raise classify(
                exc,
                f"preparing the destination {urls.mask(self.url)}",
                at_start=True,
                destination=True,
            ) from None

    def _check_still_there(self, conn: sa.Connection, current: state.DestState) -> None:
        """A job that wrote batches finds its table gone (dropped or renamed while it
        ran): creating an empty one and going on from the checkpoint would lose every
        row written before, so say so instead."""
        if current.checkpoint.started and not sa.inspect(conn).has_table(
            current.target, schema=self.schema
        ):
            raise DestinationError(
                f"The destination table {current.target!r} is gone, but this job had "
                f"written {current.checkpoint.rows_done:,} rows into it: it was dropped or "
                "renamed after the job started.",
                hint="Restore the table and run the job again, or cancel the job "
                "(syncbeat job cancel ID) and sync again to copy every row.",
            )

    def _ensure_target(
        self,
        conn: sa.Connection,
        target: str,
        columns: Sequence[sa.Column[Any]],
        key: Sequence[str],
        src_dialect: str,
    ) -> sa.Table:
        inspector = sa.inspect(conn)
        if inspector.has_table(target, schema=self.schema):
            table = typemap.reflect(conn, target, self.schema)
            self._check_compatible(table, columns, key, inspector)
            keyed = [c for c in columns if c.name in key]
            name = f"{self.schema}.{target}" if self.schema else target
            check_key_columns(conn, self.dialect, name, keyed, src_dialect, self._source_collations)
            return table
        mariadb = getattr(conn.dialect, "is_mariadb", False)
        # Text in any language, emoji included, whatever the database's default.
        options: dict[str, Any] = (
            {"mysql_charset": "utf8mb4"} if self.dialect in ("mysql", "mariadb") else {}
        )
        table = sa.Table(
            target,
            sa.MetaData(),
            *(
                sa.Column(
                    c.name,
                    typemap.destination_type(
                        c.type,
                        src_dialect,
                        "mariadb" if mariadb else self.dialect,
                        is_key=c.name in key,
                    ),
                    primary_key=c.name in key,
                    autoincrement=False,
                    nullable=c.name not in key,
                )
                for c in columns
            ),
            schema=self.schema,
            **options,
        )
        table.create(conn)
        log.info("created destination table", extra={"action": "create_table", "table": target})
        return table

    def _check_compatible(
        self,
        table: sa.Table,
        columns: Sequence[sa.Column[Any]],
        key: Sequence[str],
        inspector: Any,
    ) -> None:
        missing = [c.name for c in columns if c.name not in table.c]
        if missing:
            raise DestinationError(
                f"The destination table {self.table_name!r} lacks the source column(s) "
                f"{', '.join(missing)}.",
                hint="Add the columns to the destination table, choose another --to-table, "
                "or --mode replace to rebuild it.",
            )
        if self.mode == "upsert":
            unique_sets = [set(table.primary_key.columns.keys())]
            unique_sets += [
                set(u["column_names"])
                for u in inspector.get_unique_constraints(table.name, schema=self.schema)
            ]
            unique_sets += [
                set(i["column_names"])
                for i in inspector.get_indexes(table.name, schema=self.schema)
                if i["unique"]
            ]
            if set(key) not in unique_sets:
                raise DestinationError(
                    f"Upsert needs a primary key or unique index on ({', '.join(key)}) in "
                    f"the destination table {self.table_name!r}, and it has none.",
                    hint="Create that unique index, or use --mode append or replace.",
                )
            if self.dialect in ("mysql", "mariadb"):
                self._unique_checks = collisions.secondary_unique_indexes(
                    inspector, table, self.schema, key, [c.name for c in columns]
                )

    def _refuse_unchecked_upsert(self) -> None:
        """Without LOAD DATA there is no staging table to check a batch in, and
        ON DUPLICATE KEY UPDATE would update whichever row holds a colliding value."""
        names = ", ".join(repr(u.name) for u in self._unique_checks)
        raise DestinationError(
            f"Upsert into {self.table_name!r} cannot be checked for rows colliding on its "
            f"other unique index(es) {names}: that check needs LOAD DATA LOCAL INFILE, "
            "which this table's column types (binary) or the server do not allow.",
            hint="Allow local_infile on the server, drop those unique indexes, or use "
            "--mode append or --mode replace.",
        )

    def _compile(
        self, columns: Sequence[sa.Column[Any]], key: Sequence[str], src_dialect: str
    ) -> None:
        """Build the batch's INSERT and value conversions once, not per batch."""
        self._names = [c.name for c in columns]
        self._key_at = [self._names.index(k) for k in key]
        dest_types = [self.table.c[c.name].type for c in columns]
        converters = (
            (conversions.key_converter if c.name in key else conversions.value_converter)(
                c.type, t, src_dialect, self.dialect
            )
            for c, t in zip(columns, dest_types, strict=True)
        )
        self._converters = [(i, conv) for i, conv in enumerate(converters) if conv]
        table = conversions.insert_table(self.table, self.dialect)
        if self.mode != "upsert":
            self._insert = self._aborting(table.insert())
            return
        others = [c.name for c in columns if c.name not in key]
        if self.dialect in ("postgresql", "sqlite"):
            ins: Any = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
            self._insert = self._aborting(
                ins.on_conflict_do_update(
                    index_elements=list(key), set_={n: ins.excluded[n] for n in others}
                )
                if others
                else ins.on_conflict_do_nothing(index_elements=list(key))
            )
        elif self.dialect in ("mysql", "mariadb"):
            ins = mysql.insert(table)
            assignments = {n: ins.inserted[n] for n in (others or list(key)[:1])}
            self._insert = ins.on_duplicate_key_update(assignments)
        else:
            raise ConfigError(
                f"Upsert is not supported on {self.dialect}.", hint="Use --mode append or replace."
            )

    def _aborting(self, insert: Any) -> Any:
        """On SQLite, INSERT OR ABORT: a table's own ``UNIQUE ON CONFLICT REPLACE`` would
        delete the other row, and ``ON CONFLICT IGNORE`` drop this one, in silence; an
        upsert's ON CONFLICT on the key still updates in place."""
        return insert.prefix_with("OR ABORT") if self.dialect == "sqlite" else insert

    def _convert(self, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
        """The values as the destination takes them (docs/types.md). A value it cannot
        hold fails the batch, naming the column and the row, before anything is written."""
        if not self._converters:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for i, convert in self._converters:
                if values[i] is not None:
                    try:
                        values[i] = convert(values[i])
                    except conversions.Unstorable as exc:
                        key = ", ".join(f"{self._names[k]}={row[k]!r}" for k in self._key_at)
                        raise exc.error(self._names[i], key or "(no key)") from None
            converted.append(values)
        return converted

    def write(
        self,
        rows: Sequence[Sequence[Any]],
        uid: str,
        epoch: int,
        before: Checkpoint,
        after: Checkpoint,
        *,
        statements: Statements | None = None,
        fenced: bool = True,
        delete: Sequence[Key] = (),
    ) -> bool:
        """Write one batch and its state in ONE transaction. False: already written.
        ``delete``: keys (as this table's rows hold them) to delete in it (a repair's).

        ``fenced=False`` skips the state row: a benchmark-only switch that shows what the
        exactly-once bookkeeping costs. Nothing else may use it."""
        rows = self._convert(rows)
        try:
            with (
                self.engine.begin() as conn,
                (statements or Statements()).track(self.engine, conn),
            ):
                if fenced and not state.advance(conn, uid, epoch, before, after):
                    return False
                if delete:
                    self._delete(conn, delete)
                if rows and self._bulk is not None:
                    self._bulk_write(conn, rows)
                elif rows:
                    named = [dict(zip(self._names, r, strict=True)) for r in rows]
                    conn.execute(self._insert, named)
                faults.strike(Point.DEST_WRITE)  # tests only: fails before the commit
        except sa.exc.IntegrityError as exc:
            collision = collisions.from_violation(exc, self.table_name)
            if self.mode == "upsert" and collision is not None:
                raise collision from None
            raise
        faults.strike(Point.DEST_ACK)  # tests only: fails after it, as if its answer was lost
        return True

    def _delete(self, conn: sa.Connection, keys: Sequence[Key]) -> None:
        """``DELETE … WHERE (key) IN (…)``, a thousand keys a statement: one statement per
        key would cost a round trip (and any statement trigger) per row."""
        columns = [self.table.c[self._names[i]] for i in self._key_at]
        target = columns[0] if len(columns) == 1 else sa.tuple_(*columns)
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            values = [k[0] for k in chunk] if len(columns) == 1 else [tuple(k) for k in chunk]
            conn.execute(self.table.delete().where(target.in_(values)))

    def _bulk_writer(
        self, columns: Sequence[sa.Column[Any]], key: Sequence[str], uid: str
    ) -> PgCopyWriter | MysqlLoadWriter | None:
        """The database's bulk-load path, where there is one."""
        names = [c.name for c in columns]
        driver = self.engine.dialect.driver
        if self.dialect == "postgresql" and driver == "psycopg":
            return PgCopyWriter(self.table, names, key, self.mode, uid)
        if driver == "pymysql" and MysqlLoadWriter.fits(self.table, names):
            return self.load_writer()
        return None

    def load_writer(self, fields: str = TSV_FIELDS, hexed: Sequence[str] = ()) -> MysqlLoadWriter:
        """A LOAD DATA writer into this prepared MySQL/MariaDB table (in replace mode,
        its staging table) of batches formatted as ``fields`` say (a relay's, or
        bulk._field's by default)."""
        quote = self.engine.dialect.identifier_preparer.quote
        args = (self.table, self._names, self._key, self.mode, quote, self._uid)
        return MysqlLoadWriter(*args, self._unique_checks, fields=fields, hexed=hexed)

    def load_refused(self, exc: BaseException) -> TransientError | None:
        """If ``exc`` is the server refusing LOAD DATA LOCAL: from now on this
        destination writes with INSERT, and the error to retry the batch with (an
        upsert that needs the staging table's collision check fails instead)."""
        if errno_of(exc) not in _LOCAL_INFILE_REFUSED:
            return None
        if self._unique_checks:
            self._refuse_unchecked_upsert()
        log.warning(
            "LOAD DATA LOCAL refused by the server; using INSERT",
            extra={"action": "bulk_fallback"},
        )
        self._bulk = None
        return TransientError(
            "LOAD DATA LOCAL INFILE is disabled on the server; "
            "writing this batch again with INSERT."
        )

    def _bulk_write(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        assert self._bulk is not None
        try:
            self._bulk.write(conn, rows)
        except sa.exc.DBAPIError:
            raise
        except Exception as exc:
            refused = self.load_refused(exc) if isinstance(self._bulk, MysqlLoadWriter) else None
            if refused is not None:
                raise refused from None
            if is_driver_error(exc):
                raise as_driver_error(exc, "bulk load") from None
            raise

    def finish(self, uid: str, epoch: int) -> None:
        """Mark the job done here; in replace mode, swap the staging table in."""
        if self.mode != "replace":
            with self.engine.begin() as conn:
                state.set_status(conn, uid, epoch, state.DONE)
            return
        Swap(self.engine, self.schema, self.name, uid).run(epoch)

    def dispose(self) -> None:
        self.engine.dispose()
