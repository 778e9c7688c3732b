"""The two sides of a comparison: a pipeline's source and its destination table, opened
for verify and repair.

Both are compared over the same key ranges, so both databases must order the key alike:
integers, decimals, floats, dates and times, booleans, bytes and uuids do everywhere;
text does where both sides compare it by code point (PostgreSQL's C collations,
MariaDB's ``_bin`` ones, SQLite's BINARY: the tables syncbeat creates in MariaDB give
text keys ``utf8mb4_nopad_bin``), or where both are one engine with one collation.
Anything else is refused before a row is read: ranges cut in one order would hold
different rows on the other side, and every row would look moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncbeat.connectors import canonical, checksums, conversions, engines, keys, typemap
from syncbeat.connectors.checksums import DESTINATION, SOURCE, Side
from syncbeat.connectors.destinations.collations import sql_name
from syncbeat.connectors.failures import classify
from syncbeat.connectors.keys import MYSQL, Collation
from syncbeat.connectors.sources import SqlSource
from syncbeat.vocabulary import urls
from syncbeat.vocabulary.errors import ConfigError, DestinationError
from syncbeat.vocabulary.pipeline import PipelineSpec

_CODE_POINT_PG = {"C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"}
_ORDERED_ALIKE = (
    sa.Integer,
    sa.Numeric,
    sa.Float,
    sa.Date,
    sa.DateTime,
    sa.Time,
    sa.Boolean,
    sa.LargeBinary,
    sa.Uuid,
)


@dataclass
class Sides:
    """Both sides, the compared columns (every column the source has), and the key."""

    source: Side
    destination: Side
    columns: list[str]
    key: list[str]
    reader: SqlSource  # the source as a sync reads it (repair reads rows through it)
    dest_engine: sa.Engine

    def dispose(self) -> None:
        self.reader.dispose()
        self.dest_engine.dispose()


def open_sides(spec: PipelineSpec) -> Sides:
    """Open both ends of ``spec`` for comparing; refuses what cannot be compared."""
    reader = SqlSource(
        spec.source_url, table=spec.source_table, query=spec.source_query, key=spec.key
    )
    dest_engine = engines.create_engine(spec.dest_url, pool_pre_ping=True)
    typemap.exact_sessions(dest_engine, writes=False)
    try:
        for engine in (reader.engine, dest_engine):
            canonical.install(engine)
            checksums.install(engine)
        reader.open()
        if not reader.key:
            raise ConfigError(
                f"Pipeline {spec.name} has no key: verify compares key ranges.",
                hint="Give the pipeline --key columns that identify a row "
                "(syncbeat pipeline add NAME ... --key id).",
            )
        table, dest_collations = _reflect_destination(dest_engine, spec.dest_table)
        return _pair(spec, reader, dest_engine, table, dest_collations)
    except BaseException:
        reader.dispose()
        dest_engine.dispose()
        raise


def _reflect_destination(engine: sa.Engine, name: str) -> tuple[sa.Table, dict[str, Collation]]:
    schema, _, table = name.rpartition(".")
    dialect = engine.dialect.name
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table, schema=schema or None):
                raise DestinationError(
                    f"The destination table {name!r} does not exist in "
                    f"{urls.mask(str(engine.url))}.",
                    hint="Sync the pipeline first (syncbeat sync NAME), then verify it.",
                )
            reflected = typemap.reflect(conn, table, schema or None)
            found = keys.collations(conn, dialect, sql_name(conn, dialect, name))
            if dialect == "postgresql":
                found = _pg_default_named(conn, found)
    except sa.exc.DBAPIError as exc:
        raise classify(exc, "reading the destination", at_start=True, destination=True) from None
    return reflected, found


def _pg_default_named(conn: sa.Connection, found: dict[str, Collation]) -> dict[str, Collation]:
    """A column of the database's default collation, under that collation's name."""
    default = conn.exec_driver_sql(
        "SELECT datcollate FROM pg_database WHERE datname = current_database()"
    ).scalar_one()
    return {
        name: Collation(str(default), c.exact, c.charset, c.declared, c.pads)
        if c.name.endswith('."default"')
        else c
        for name, c in found.items()
    }


def _pair(
    spec: PipelineSpec,
    reader: SqlSource,
    dest_engine: sa.Engine,
    table: sa.Table,
    dest_collations: dict[str, Collation],
) -> Sides:
    src_dialect, dst_dialect = reader.dialect, dest_engine.dialect.name
    columns = [c.name for c in reader.columns]
    missing = [c for c in columns if c not in table.c]
    if missing:
        raise DestinationError(
            f"The destination table {spec.dest_table!r} has no column "
            f"{', '.join(missing)}, which the source has.",
            hint="Sync the pipeline again after a schema change, then verify.",
        )
    src_collations = reader.collations
    if src_dialect == "postgresql":
        with reader.engine.connect() as conn:
            src_collations = _pg_default_named(conn, src_collations)
    src_types = {c.name: c.type for c in reader.columns}
    for name in reader.key:
        _refuse_unlike_order(
            name,
            (src_types[name], src_dialect, src_collations.get(name)),
            (table.c[name].type, dst_dialect, dest_collations.get(name)),
        )
    dest_plan = keys.plan(list(table.columns), reader.key, dst_dialect, dest_collations)
    source_side = _side(
        SOURCE, reader.engine, reader.selectable, reader.key_plan, columns, src_types,
        {n: table.c[n].type for n in columns}, dst_dialect,
    )  # fmt: skip
    dest_side = _side(
        DESTINATION, dest_engine, table, dest_plan, columns,
        {n: table.c[n].type for n in columns}, src_types, src_dialect,
    )  # fmt: skip
    return Sides(source_side, dest_side, columns, list(reader.key), reader, dest_engine)


def _side(
    role: str,
    engine: sa.Engine,
    selectable: sa.FromClause,
    plan: Sequence[keys.KeyColumn],
    columns: Sequence[str],
    own: dict[str, Any],
    other: dict[str, Any],
    other_dialect: str,
) -> Side:
    dialect = engine.dialect.name
    texts = {
        n: canonical.text_of(
            selectable.c[n], own[n], dialect, other=other[n], other_dialect=other_dialect
        )
        for n in columns
    }
    key = [k.name for k in plan]
    reads = [typemap.read_expression(selectable.c[k], dialect) for k in key]
    # A key read here is bound there as a sync would have written it there.
    to_other = [conversions.key_converter(own[k], other[k], dialect, other_dialect) for k in key]
    return Side(
        role,
        engine,
        selectable,
        plan,
        reads,
        to_other,
        [texts[n] for n in columns],
        [texts[k] for k in key],
        plain=[
            canonical.plain(own[n], dialect, other=other[n], other_dialect=other_dialect)
            for n in columns
        ],
        same_engine=_same_engine(dialect, other_dialect),
    )


def _refuse_unlike_order(
    name: str,
    source: tuple[Any, str, Collation | None],
    destination: tuple[Any, str, Collation | None],
) -> None:
    """Refuse a key column the two databases may order differently (see the module)."""
    unlike = _why_unlike(source, destination)
    if unlike is not None:
        why, hint = unlike
        raise ConfigError(
            f"Verify cannot compare on the key column {name}: {why}. It compares ranges of "
            "keys, so both databases must order the key the same way.",
            hint=hint,
        )


_OTHER_KEY = "or key the pipeline on a column both order alike (a number, a date)"


def _why_unlike(
    source: tuple[Any, str, Collation | None], destination: tuple[Any, str, Collation | None]
) -> tuple[str, str] | None:
    """Why the two sides may order this key column differently, and what to do; None
    when they order it alike."""
    (src_type, src, src_coll), (dst_type, dst, dst_coll) = source, destination
    if src == "sqlite" and isinstance(src_type, sa.Date | sa.DateTime | sa.Time):
        # A destination's are written by syncbeat in one fixed form, which does sort;
        # a SQLite source's are the user's texts (a SQLite destination rewrites them).
        return (
            "SQLite holds dates and times as text, which need not sort as the times do "
            "('2024-1-2', '2024-01-02T00:00', offsets)",
            _OTHER_KEY[3:].capitalize() + ".",
        )
    if _same_engine(src, dst):
        if _collation_name(src_coll) == _collation_name(dst_coll):
            return None
        return (
            f"it is under the collation {_collation_name(src_coll)} in the source and "
            f"{_collation_name(dst_coll)} in the destination",
            "Give the destination column the source's collation, " + _OTHER_KEY + ".",
        )
    if isinstance(src_type, sa.Enum | mysql.SET) or isinstance(dst_type, sa.Enum | mysql.SET):
        return (
            "an enum sorts by its declared order in one database and as text in the other",
            "Select the key as text in a --query (k::text AS k; CAST(k AS CHAR) AS k), "
            + _OTHER_KEY
            + ".",
        )
    if src in MYSQL and isinstance(src_type, sa.Uuid):
        return (
            "MariaDB sorts a UUID by its swapped time fields, not as its text",
            "Select the key as text in a --query (CAST(k AS CHAR) AS k), " + _OTHER_KEY + ".",
        )
    if _ordered_alike(src_type) and _ordered_alike(dst_type):
        return None
    if _ordered_alike(src_type) or _ordered_alike(dst_type):
        if isinstance(src_type, sa.Uuid) and _code_point(src, src_coll):
            return None  # its canonical text sorts as the UUID does, under any collation
        return (
            "it is a number or a time in one database and text in the other (SQLite holds "
            "a NUMERIC of more than 15 digits as text), and the two sort differently",
            "Verify into a destination column of the source's kind, " + _OTHER_KEY + ".",
        )
    if _code_point(src, src_coll) and _code_point(dst, dst_coll):
        return None
    return (
        f"it is text under {_collation_name(src_coll)} in the source and "
        f"{_collation_name(dst_coll)} in the destination, which may sort it differently",
        'Give the source\'s key an order by code point (PostgreSQL: COLLATE "C"; '
        "MariaDB: a _nopad_bin collation), " + _OTHER_KEY + ".",
    )


def _same_engine(one: str, other: str) -> bool:
    return one == other or {one, other} <= set(MYSQL)


def _ordered_alike(col_type: Any) -> bool:
    return isinstance(col_type, _ORDERED_ALIKE) and not isinstance(col_type, sa.String)


def _collation_name(collation: Collation | None) -> str:
    return collation.name if collation else "no collation"


def _code_point(dialect: str, collation: Collation | None) -> bool:
    """Whether a text column of this collation sorts by code point (UTF-8 byte order)."""
    if collation is None:
        return dialect == "sqlite" or dialect in MYSQL  # SQLite: BINARY; MariaDB: a binary type
    # PostgreSQL's come as schema."name" (keys.collations), the default one as its name.
    name = collation.name.split('"')[-2] if '"' in collation.name else collation.name
    name = name.removeprefix("pg_catalog.")
    if dialect == "postgresql":
        return name in _CODE_POINT_PG
    if dialect in MYSQL:
        return name == "binary" or name.endswith("_nopad_bin")
    return name.upper() == "BINARY"
