"""Each database's bulk-load path, for rows that come from a different database.

PostgreSQL: ``COPY … FROM STDIN`` with psycopg's C dumpers instead of INSERT statements.
MySQL/MariaDB: ``LOAD DATA LOCAL INFILE`` of a batch held in memory instead of escaping every
value into an INSERT in Python (PyMySQL's escaping is pure Python and dominates a sync).
Both run inside the caller's transaction, so the batch still commits with its state row.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from psycopg import sql

from syncbeat.connectors import local_infile
from syncbeat.connectors.conversions import duration_text
from syncbeat.connectors.destinations.collisions import UniqueIndex, mysql_check
from syncbeat.connectors.failures import as_driver_error
from syncbeat.connectors.typemap import BINARY
from syncbeat.vocabulary.errors import DestinationError

log = logging.getLogger(__name__)


def pg_upsert_from(
    stage: sql.Identifier, target: sql.Identifier, columns: Sequence[str], key: Sequence[str]
) -> sql.Composable:
    """``INSERT INTO target SELECT … FROM stage ON CONFLICT (key) DO UPDATE …``."""
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    others = [c for c in columns if c not in key]
    action = (
        sql.SQL("DO UPDATE SET ")
        + sql.SQL(", ").join(
            sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in others
        )
        if others
        else sql.SQL("DO NOTHING")
    )
    return sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ON CONFLICT ({k}) {a}").format(
        t=target, c=cols, s=stage, k=sql.SQL(", ").join(sql.Identifier(k) for k in key), a=action
    )


def pg_stage(stage: sql.Identifier, target: sql.Identifier) -> sql.Composable:
    """A session's staging table for upserts, emptied by every commit."""
    return sql.SQL(
        "CREATE TEMP TABLE IF NOT EXISTS {s} (LIKE {t} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    ).format(s=stage, t=target)


class PgCopyWriter:
    """Rows from any source into PostgreSQL with COPY (text format)."""

    def __init__(
        self, table: sa.Table, columns: Sequence[str], key: Sequence[str], mode: str, uid: str
    ) -> None:
        parts = ([table.schema] if table.schema else []) + [table.name]
        self.target = sql.Identifier(*parts)
        self.stage = sql.Identifier(f"_syncbeat_stage_{uid[:12]}")
        # JSON values arrive as their text (conversions.value_converter), as COPY takes them.
        self.columns, self.key, self.upsert = list(columns), list(key), mode == "upsert"

    def write(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        into = self.stage if self.upsert else self.target
        if self.upsert:
            cur.execute(pg_stage(self.stage, self.target))
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)
        with cur.copy(sql.SQL("COPY {t} ({c}) FROM STDIN").format(t=into, c=cols)) as copy:
            for row in rows:
                copy.write_row(row)
        if self.upsert:
            cur.execute(pg_upsert_from(self.stage, self.target, self.columns, self.key))


TSV_FIELDS = "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"
"""LOAD DATA's default text format, which :func:`_field` writes."""

_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def _field(value: Any) -> str:
    """One value in LOAD DATA's default text format (tab-separated, backslash escapes)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPE)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        moment: dt.datetime = value
        if moment.tzinfo is not None:  # DATETIME has no zone: stored as UTC (docs/types.md)
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment.isoformat(" ")
    if isinstance(value, dict | list):
        text: str = json.dumps(value, ensure_ascii=False)
        return text.translate(_ESCAPE)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")  # every digit: str() may give 1E-10, read as a double
    if isinstance(value, dt.timedelta):  # MySQL's TIME: str() would give "-1 day, 23:59:59"
        return duration_text(value)
    return str(value).translate(_ESCAPE)


class MysqlLoadWriter:
    """Rows from any source into MySQL/MariaDB with LOAD DATA LOCAL INFILE.

    Append loads straight into the table. Upsert loads into a temporary staging table
    and merges it with one ``INSERT … SELECT … ON DUPLICATE KEY UPDATE`` of the source's
    columns: an update in place. (``LOAD DATA … REPLACE`` would delete each old row and
    insert a new one: destination-only columns reset to their defaults, ``ON DELETE
    CASCADE`` children deleted, a row holding the value in another unique index gone.)
    """

    def __init__(
        self,
        table: sa.Table,
        columns: Sequence[str],
        key: Sequence[str],
        mode: str,
        quote: Any,
        uid: str,
        unique_checks: Sequence[UniqueIndex] = (),
        *,
        fields: str = TSV_FIELDS,
        hexed: Collection[str] = (),
    ) -> None:
        self.columns, self.key, self.upsert = list(columns), list(key), mode == "upsert"
        self.quote, self.table_name, self.unique_checks = quote, table.name, list(unique_checks)
        self.target = (
            quote(table.name)
            if not table.schema
            else (f"{quote(table.schema)}.{quote(table.name)}")
        )
        # A temporary table lives in one connection and takes no schema: each batch
        # drops and re-creates it on the connection it runs on, so a retry on a new
        # connection, or after a try that failed half-way, starts from an empty one.
        self.stage = quote(f"_syncbeat_stage_{uid[:12]}")
        cols = ", ".join(quote(c) for c in columns)
        self.create_stage = (
            f"CREATE TEMPORARY TABLE {self.stage} SELECT {cols} FROM {self.target} LIMIT 0"  # noqa: S608 (quoted identifiers from the reflected tables, values bound)
        )
        # LOCAL skips rows with a duplicate key silently: the row count is checked.
        # A hexed column is read into a variable and unhexed: bytes have no safe text.
        into = [f"@v{i}" if c in hexed else quote(c) for i, c in enumerate(columns)]
        unhex = [f"{quote(c)} = UNHEX(@v{i})" for i, c in enumerate(columns) if c in hexed]
        self.statement = (
            f"LOAD DATA LOCAL INFILE %s INTO TABLE {self.stage if self.upsert else self.target} "
            f"CHARACTER SET utf8mb4 {fields} ({', '.join(into)})"
            + (f" SET {', '.join(unhex)}" if unhex else "")
        )
        others = [c for c in columns if c not in key] or list(key)[:1]
        updates = ", ".join(f"{quote(c)} = VALUES({quote(c)})" for c in others)
        self.merge = (
            f"INSERT INTO {self.target} ({cols}) SELECT {cols} FROM {self.stage} "  # noqa: S608 (quoted identifiers from the reflected tables, values bound)
            f"ON DUPLICATE KEY UPDATE {updates}"
        )

    @staticmethod
    def fits(table: sa.Table, columns: Sequence[str]) -> bool:
        # Binary values have no safe text form in LOAD DATA's format. (MySQL's TINYBLOB,
        # MEDIUMBLOB and LONGBLOB are no LargeBinary: missed, bytes went in as "b'...'".)
        return not any(isinstance(table.c[c].type, BINARY) for c in columns)

    def write(self, conn: sa.Connection, rows: Sequence[Sequence[Any]]) -> None:
        data = "".join("\t".join([_field(v) for v in row]) + "\n" for row in rows)
        self.load(conn, data.encode("utf-8"), len(rows))

    def load(self, conn: sa.Connection, data: bytes, rows: int) -> None:
        """Load ``rows`` rows already in this writer's format (``fields``)."""
        dbapi = conn.connection.dbapi_connection
        cur = dbapi.cursor()  # type: ignore[union-attr]
        if self.upsert:
            # Temporary tables' DDL commits nothing: the batch's transaction goes on.
            cur.execute(f"DROP TEMPORARY TABLE IF EXISTS {self.stage}")
            cur.execute(self.create_stage)
        # From memory, under a name no file has: the server can ask for no other data
        # (syncbeat.connectors.local_infile), and nothing of the batch is left on disk.
        name = local_infile.batch_name()
        with dbapi.offering(name, data):  # type: ignore[union-attr]
            loaded = cur.execute(self.statement, (name,))
        if loaded != rows:
            raise DestinationError(
                f"The destination kept {loaded} of {rows} rows of a batch: some keys "
                "are already in the table.",
                hint="Use --mode upsert to update existing rows, or empty the table first.",
            )
        if cur.warning_count:
            _fail_on_warnings(cur)
        if self.upsert:
            quote = self.quote
            mysql_check(
                cur, self.stage, self.target, self.table_name, self.key, self.unique_checks, quote
            )
            cur.execute(self.merge)


def _fail_on_warnings(cur: Any) -> None:
    """LOAD DATA LOCAL turns a value that does not fit (too long, out of range, a
    character the column's charset lacks) into a warning and stores it cut short. A
    cut value is a lost value: the first such warning fails the batch, as the same
    value fails an INSERT in strict mode, and the transaction rolls back."""
    for level, code, message in cur.connection.show_warnings():
        if level != "Note":
            # PEP 249's connection-level exception classes: pymysql's own DataError.
            error = cur.connection.DataError(code, message)
            raise as_driver_error(error, "LOAD DATA")
