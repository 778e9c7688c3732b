"""A SQL table or SELECT as a source, read in keyset pages."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import NullType, TypeEngine

from syncbeat.connectors import engines, faults, keys, paging, typemap
from syncbeat.connectors.failures import classify
from syncbeat.connectors.faults import Point
from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.checkpoint import Key
from syncbeat.vocabulary.errors import ConfigError, KeyColumnError, SourceError

log = logging.getLogger(__name__)

_PROBE = "_syncbeat_probe"


class SqlSource:
    """Reads one table or query of any SQLAlchemy database.

    ``key`` names the paging key; without it, the table's primary key. A source with no
    key at all is read with OFFSET paging (``self.key == []``), with a warning.
    """

    def __init__(
        self,
        url: str,
        *,
        table: str | None = None,
        query: str | None = None,
        key: Sequence[str] = (),
    ) -> None:
        if (table is None) == (query is None):
            raise ConfigError("Give the source as either a table or a query, not both.")
        self.url, self.table_name, self.query = url, table, query
        self.engine = engines.create_engine(url, reader=True, pool_pre_ping=True)
        typemap.exact_sessions(self.engine, writes=False)
        self.dialect = self.engine.dialect.name
        self.selectable: sa.FromClause
        self.columns: list[sa.Column[Any]] = []
        self.key: list[str] = list(key)
        self.key_not_null = False
        self.key_unique = False
        self.key_plan: list[keys.KeyColumn] = []
        self.collations: dict[str, keys.Collation] = {}  # text columns' collations
        self.warnings: list[str] = []

    @property
    def label(self) -> str:
        return self.table_name or "query"

    def open(self) -> None:
        """Learn the columns and the key; fails with an actionable error."""
        database = self.engine.url.database
        if (
            self.dialect == "sqlite"
            and database
            and database != ":memory:"
            and not database.startswith("file:")
            and not os.path.exists(database)
        ):
            # Connecting would create an empty file at the mistyped path.
            raise SourceError(
                f"The source SQLite file {database!r} does not exist.",
                hint="Check the path: sqlite:///relative/path.db or "
                "sqlite:////absolute/path.db (four slashes).",
            )
        try:
            with self.engine.connect() as conn:
                if self.table_name is not None:
                    self._reflect_table(conn)
                else:
                    self._probe_query(conn)
                self._check_key(conn)
        except sa.exc.DBAPIError as exc:
            raise classify(
                exc, f"reading the source {urls.mask(self.url)}", at_start=True
            ) from None

    def _reflect_table(self, conn: sa.Connection) -> None:
        assert self.table_name is not None
        schema, _, name = self.table_name.rpartition(".")
        try:
            table = typemap.reflect_columns(conn, name, schema or None)
        except sa.exc.NoSuchTableError:
            raise SourceError(
                f"The source table {self.table_name!r} does not exist in {urls.mask(self.url)}.",
                hint="Check the table name (and schema, as schema.table) or pass --query.",
            ) from None
        self.selectable = table
        self.columns = list(table.columns)
        self.collations = self._read_collations(conn, schema or None, name)
        primary = [c.name for c in table.primary_key.columns]
        if not self.key:
            self.key = primary
            self.key_not_null = bool(self.key)
        # The database guarantees the key is unique (fast paths rely on it; elsewhere the
        # peek row checks it batch by batch). The primary key is by definition, so the
        # indexes (four catalogue queries before the first batch) are read for another key.
        unique: list[set[str | None]] = [set(primary)]
        if self.key and set(self.key) not in unique:
            indexes = sa.inspect(conn).get_indexes(name, schema=schema or None)
            unique += [set(ix["column_names"]) for ix in indexes if ix["unique"]]
        self.key_unique = bool(self.key) and set(self.key) in unique

    def _probe_query(self, conn: sa.Connection) -> None:
        """A query's column types, from an empty temporary table made from it: one way
        that works the same on PostgreSQL, MySQL and SQLite, and leaves nothing behind."""
        assert self.query is not None
        query = self.query.strip().rstrip(";")
        probe_name, schema = {
            "postgresql": (f"pg_temp.{_PROBE}", None),
            "sqlite": (f"temp.{_PROBE}", "temp"),
        }.get(self.dialect, (_PROBE, None))
        drop = "DROP TEMPORARY TABLE" if self.dialect in ("mysql", "mariadb") else "DROP TABLE"
        self._check_names(conn, query)
        conn.exec_driver_sql(f"{drop} IF EXISTS {probe_name}")
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {_PROBE} AS SELECT * FROM ({query}) AS q WHERE 1 = 0"  # noqa: S608 (a pipeline's --query runs as written, by design)
        )
        if self.dialect == "postgresql":
            schema = conn.exec_driver_sql(
                "SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema()"
            ).scalar_one()
        probe = typemap.reflect_columns(conn, _PROBE, schema)
        self.collations = self._read_collations(conn, None, _PROBE, temporary=True)
        conn.exec_driver_sql(f"{drop} {probe_name}")
        types = {c.name: c.type for c in probe.columns}
        if self.dialect == "sqlite":
            types.update(
                self._sqlite_value_types(
                    conn, query, [n for n, t in types.items() if isinstance(t, NullType)]
                )
            )
        self.columns = [sa.Column(name, col_type) for name, col_type in types.items()]
        self.selectable = (
            sa.text(query).columns(*(sa.column(c.name, c.type) for c in self.columns)).subquery("q")
        )

    def _check_names(self, conn: sa.Connection, query: str) -> None:
        """Two columns of one name cannot both reach the destination. The probe table
        cannot tell: PostgreSQL and MySQL refuse to create it (MySQL refuses this
        subquery too, with its own message), and SQLite renames the second column
        ("name:1") in a subquery. So the query's own names are read: SQLite runs the
        query to its first row; the others plan the subquery and return nothing."""
        sql = query if self.dialect == "sqlite" else f"SELECT * FROM ({query}) AS q WHERE 1 = 0"  # noqa: S608 (a pipeline's --query runs as written, by design)
        result = conn.exec_driver_sql(sql)
        names = list(result.keys())
        result.close()
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SourceError(
                f"The query returns the column name(s) {', '.join(duplicates)} more than once.",
                hint="Give each column its own name with AS.",
            )

    def _read_collations(
        self, conn: sa.Connection, schema: str | None, name: str, *, temporary: bool = False
    ) -> dict[str, keys.Collation]:
        if self.dialect == "postgresql":
            where = f"pg_temp.{name}" if temporary else pg_regclass(self.table_name or name)
            return keys.collations(conn, self.dialect, where)
        if self.dialect == "sqlite":  # read from sqlite_master, by its name as stored
            return keys.collations(conn, self.dialect, f"{schema}.{name}" if schema else name)
        quote = conn.dialect.identifier_preparer.quote
        table = ".".join(quote(part) for part in (schema, name) if part)
        return keys.collations(conn, self.dialect, table)

    @staticmethod
    def _sqlite_value_types(
        conn: sa.Connection, query: str, names: Sequence[str]
    ) -> dict[str, TypeEngine[Any]]:
        """SQLite gives a computed column no type (each value carries its own): type it
        from its values, so that a computed number stays a number in the destination."""
        if not names:
            return {}
        q = conn.dialect.identifier_preparer.quote
        seen = [
            f"max(typeof(q.{q(n)}) = '{kind}')"
            for n in names
            for kind in ("integer", "real", "text", "blob")
        ]
        row = conn.exec_driver_sql(f"SELECT {', '.join(seen)} FROM ({query}) AS q").one()  # noqa: S608 (a pipeline's --query runs as written, by design)
        types: dict[str, TypeEngine[Any]] = {}
        for i, name in enumerate(names):
            integer, real, text, blob = (bool(v) for v in row[4 * i : 4 * i + 4])
            if text or (blob and (integer or real)):
                types[name] = sa.Text()
            elif blob:
                types[name] = sa.LargeBinary()
            elif real:
                types[name] = sa.Double()
            elif integer:
                types[name] = sa.BigInteger()
        return types

    def _check_key(self, conn: sa.Connection) -> None:
        names = {c.name for c in self.columns}
        missing = [k for k in self.key if k not in names]
        if missing:
            raise KeyColumnError(
                f"The key column(s) {', '.join(missing)} are not in the source "
                f"{self.label} (columns: {', '.join(sorted(names))}).",
                hint="Name existing columns with --key a,b.",
            )
        self.key_plan = keys.plan(self.columns, self.key, self.dialect, self.collations)
        for name in self.key if self.dialect == "sqlite" else ():
            kinds = keys.sqlite_kinds(conn, self.selectable, name)
            if kinds:
                raise KeyColumnError(
                    f"The key column {name} of the source {self.label} holds values of "
                    f"more than one kind ({' and '.join(kinds)}): SQLite keeps 1 and '1' "
                    "apart, but a destination column has one type, so two such keys "
                    "would become one row there.",
                    hint="Store the column's values as one type, or select the key as "
                    f"one type in a --query (CAST({name} AS TEXT) AS {name}).",
                )
        if not self.key:
            message = (
                f"The source {self.label} has no primary key and no --key was given: it "
                "will be read with OFFSET paging, which gets slower as it goes and skips "
                "or repeats rows if the source changes during the sync."
            )
            # Shown by whoever runs the job (runner.RunHooks.on_message), once.
            self.warnings.append(message + " Give --key to page safely.")
            return
        if not self.key_not_null:
            # A NULL key would never satisfy "key > last": find one now, not rows later.
            cols = [self.selectable.c[k] for k in self.key]
            hit = conn.execute(
                sa.select(sa.literal(1))
                .select_from(self.selectable)
                .where(sa.or_(*(c.is_(None) for c in cols)))
                .limit(1)
            ).first()
            if hit is not None:
                raise KeyColumnError(
                    f"The key ({', '.join(self.key)}) is NULL in some source rows, and "
                    "keyset paging cannot reach them.",
                    hint="Choose key columns that are never NULL, or filter those rows "
                    "out with --query.",
                )

    @property
    def key_index(self) -> list[int]:
        names = [c.name for c in self.columns]
        return [names.index(k) for k in self.key]

    def count(self) -> int | None:
        """rows_total for progress; an estimate is enough, so failures only log.

        A large PostgreSQL table is not counted (a full scan before the first batch):
        its planner estimate, kept fresh by autovacuum, is close enough for an ETA."""
        try:
            with self.engine.connect() as conn:
                if self.dialect == "postgresql" and self.table_name is not None:
                    estimate = conn.execute(
                        sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"),
                        {"t": pg_regclass(self.table_name)},
                    ).scalar()
                    if estimate is not None and estimate >= defaults.ESTIMATE_ABOVE:
                        return int(estimate)
                return int(
                    conn.execute(
                        sa.select(sa.func.count()).select_from(self.selectable)
                    ).scalar_one()
                )
        except sa.exc.DBAPIError as exc:
            # The driver's message may repeat a value the URL's ${VAR} stood for.
            said = urls.redact((self.url,), str(exc.orig))
            log.warning("cannot count source rows: %s", said, extra={"action": "count"})
            return None

    @functools.cached_property
    def exact_columns(self) -> list[sa.ColumnElement[Any]]:
        """Each column as selected so that its value arrives exactly (JSON as its
        text...): fixed once the source is open, so built once, not per batch."""
        return [typemap.read_expression(c, self.dialect) for c in self.selectable.c]

    def read(self, conn: sa.Connection, last: Key | None, batch_size: int) -> paging.Page:
        """The next batch after ``last`` (or after ``last[0]`` rows without a key)."""
        faults.strike(Point.SOURCE_READ)  # tests only: a no-op unless SYNCBEAT_FAULTS is set
        exact = self.exact_columns
        if not self.key:
            offset = int(last[0]) if last else 0
            page = paging.offset_query(self.selectable, offset, batch_size)
            rows = conn.execute(page.with_only_columns(*exact)).all()
            return paging.Page(list(rows), (offset + len(rows),), len(rows) == batch_size)
        query = paging.page_query(
            self.selectable, self.key, last, batch_size, self.dialect, self.key_plan
        )
        rows = conn.execute(query.with_only_columns(*exact, *self._boundaries)).all()
        width = len(exact) if self._boundaries else None
        cut = paging.split(rows, self._boundary_index, batch_size, self.key, width)
        if self._judged_by_database:
            self._check_equal_keys(conn, rows, batch_size)
        return cut

    @functools.cached_property
    def _boundaries(self) -> list[sa.ColumnElement[Any]]:
        """The boundary values read beside the row (keys.KeyColumn.boundary)."""
        found = (k.boundary(self.selectable.c[k.name]) for k in self.key_plan)
        return [b.label(f"_syncbeat_key{i}") for i, b in enumerate(found) if b is not None]

    @functools.cached_property
    def _boundary_index(self) -> list[int]:
        at, extra = [], len(self.selectable.c)
        for k, index in zip(self.key_plan, self.key_index, strict=True):
            if k.boundary(self.selectable.c[k.name]) is None:
                at.append(index)
            else:
                at.append(extra)
                extra += 1
        return at

    @property
    def _judged_by_database(self) -> bool:
        """Whether distinct keys may be one key to the database (a collation that
        ignores case, accents or trailing spaces) with no unique index to prevent it."""
        return not self.key_unique and any(k.collation for k in self.key_plan)

    def _check_equal_keys(
        self, conn: sa.Connection, rows: Sequence[Sequence[Any]], batch_size: int
    ) -> None:
        """Keys that differ in Python but are one key to the database: at the batch
        boundary, ``k > :last`` would skip the rows equal to the last one."""
        found = [tuple(row[i] for i in self._boundary_index) for row in rows]
        pairs = keys.candidates(found, batch_size)
        for (left, right), equal in zip(
            pairs, keys.equal_pairs(conn, self.dialect, self.key_plan, pairs), strict=True
        ):
            if equal:
                collations = ", ".join(
                    k.collation.shown(k.name) for k in self.key_plan if k.collation
                )
                raise KeyColumnError(
                    f"The key ({', '.join(self.key)}) is not unique for the database: "
                    f"{_shown(left)} and {_shown(right)} are one value under "
                    f"{collations}, so paging on it would skip rows.",
                    hint="Give --key columns that identify one row each, or select the "
                    "key with an exact collation in a --query (MariaDB: k COLLATE "
                    'utf8mb4_nopad_bin AS k; PostgreSQL: k::text COLLATE "C" AS k; '
                    "SQLite: k COLLATE BINARY AS k).",
                )

    def dispose(self) -> None:
        self.engine.dispose()


def _shown(key: Sequence[Any]) -> str:
    return repr(key[0]) if len(key) == 1 else repr(tuple(key))


def pg_regclass(name: str) -> str:
    """A table name (``schema.table`` or ``table``) as PostgreSQL's to_regclass() reads
    it: each part quoted, so that a name with capitals, dots or quotes means this table
    (to_regclass parses its text) and nothing else."""
    schema, _, table = name.rpartition(".")
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table) if part)
