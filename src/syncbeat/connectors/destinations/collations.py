"""An existing destination's key columns must tell apart every key the source does.

A MariaDB column with a ``_ci`` or PAD SPACE collation (the defaults) holds 'a', 'A'
and 'a ' for one value, as does a PostgreSQL column with a nondeterministic collation
(or of type citext), and a SQLite one with COLLATE NOCASE or RTRIM; a MariaDB CHAR and
a PostgreSQL char(n) hold 'a' and 'a ' for one value under any collation:
fed three distinct keys from a case-sensitive source, upsert would overwrite two rows
with the third and count all three as copied. So a job refuses such a table before its
first batch, naming the column and what to change. A table syncbeat creates gets an
exact collation for its text keys (typemap)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from syncbeat.connectors.keys import MYSQL, Collation, collations
from syncbeat.connectors.sources.sql import pg_regclass
from syncbeat.vocabulary.errors import DestinationError


def check_key_columns(
    conn: sa.Connection,
    dialect: str,
    table: str,
    key_columns: Sequence[sa.Column[Any]],
    src_dialect: str,
    src_collations: Mapping[str, Collation],
) -> None:
    """Refuse a destination whose key columns hold distinct source keys equal.

    ``table`` is the destination's name as written (``schema.table`` or ``table``)."""
    if dialect in MYSQL:
        _refuse_fixed_binary(conn, table, sql_name(conn, dialect, table), key_columns)
    texts = [c.name for c in key_columns if isinstance(c.type, sa.String | sa.Enum)]
    if not texts:
        return
    held = collations(conn, dialect, sql_name(conn, dialect, table))
    same_kind = src_dialect == dialect or {src_dialect, dialect} <= set(MYSQL)
    for name in texts:
        here, there = held.get(name), src_collations.get(name)
        if here is None or here.exact:
            continue
        same = same_kind and there is not None and there.name == here.name
        if same and there is not None and (there.pads or not here.pads):
            continue  # the source holds its keys distinct under this very equality
        if here.pads:
            merged = "'a' and 'a ' are one value there"
        else:
            merged = "distinct source keys (such as 'a', 'A' and 'a ') are one value there"
        raise DestinationError(
            f"The destination table {table!r} compares its key column {name!r} under "
            f"{here.shown(name)}: {merged}, so upsert would overwrite one row with "
            "another, and append would stop at the first such key.",
            hint=_hint(dialect, table, name, here),
        )


def _refuse_fixed_binary(
    conn: sa.Connection, table: str, sql_name: str, key_columns: Sequence[sa.Column[Any]]
) -> None:
    """A MariaDB BINARY(n) pads a shorter value with zero bytes: b'a' and b'a\\0' are one
    key there, unless the source's key is that very type (its keys are padded alike)."""
    declared = {
        row[0]: str(row[1]) for row in conn.exec_driver_sql(f"SHOW COLUMNS FROM {sql_name}")
    }
    for column in key_columns:
        here = declared.get(column.name, "")
        if not here.lower().startswith("binary("):
            continue
        length = getattr(column.type, "length", None)
        if isinstance(column.type, mysql.BINARY) and f"binary({length})" == here.lower():
            continue
        raise DestinationError(
            f"The destination table {table!r} stores its key column {column.name!r} as "
            f"{here}, which pads shorter values with zero bytes: b'a' and b'a\\x00' are "
            "one value there, so upsert would overwrite one row with another, and append "
            "would stop at the first such key.",
            hint=f"Make the column VARBINARY (ALTER TABLE {table} MODIFY {column.name} "
            f"var{here} NOT NULL), or sync into a new --to-table, which syncbeat creates "
            "with VARBINARY keys.",
        )


def _hint(dialect: str, table: str, column: str, here: Collation) -> str:
    if dialect in MYSQL:
        charset = "utf8mb4" if here.charset in ("utf8mb3", "utf8") else here.charset
        declared = f"var{here.declared}" if here.pads else here.declared  # CHAR strips spaces
        change = (
            f"ALTER TABLE {table} MODIFY {column} {declared} CHARACTER SET {charset} "
            f"COLLATE {charset}_nopad_bin NOT NULL"
        )
    elif dialect == "sqlite":
        change = f"a new table whose column {column} has no COLLATE {here.name}"
    else:
        change = f'ALTER TABLE {table} ALTER COLUMN {column} TYPE text COLLATE "C"'
    return (
        f"Make the column compare exactly ({change}), or sync into a new --to-table, "
        "which syncbeat creates with an exact collation."
    )


def sql_name(conn: sa.Connection, dialect: str, table: str) -> str:
    """A table's name (``schema.table`` or ``table``) as keys.collations reads it here."""
    if dialect == "postgresql":
        return pg_regclass(table)
    if dialect == "sqlite":
        return table
    quote = conn.dialect.identifier_preparer.quote
    return ".".join(quote(part) for part in table.split(".") if part)
