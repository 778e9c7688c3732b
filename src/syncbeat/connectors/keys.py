"""Key columns as the database compares them.

Paging asks the database for the rows after a boundary (``WHERE k > :last``), so the
boundary must mean to the database what it meant when it was read: not the Python value
that happens to print the same. How each key column is bound and read back is chosen
once, when the source opens, from the column's declared type and collation:

* a 4-byte float (PostgreSQL ``real``, MariaDB ``FLOAT``) is compared as the 4-byte
  float it is: a boundary of ``0.1`` as a double is above the stored ``0.1f``, so
  ``k > 0.1`` would read the boundary row again;
* a MariaDB ``ENUM`` or ``SET`` sorts by its number, but compares with a label as text:
  its boundary is that number, read beside the row;
* a PostgreSQL enum is compared as the enum type (its declared order);
* a SQLite key is bound as it is stored (SQLAlchemy would turn a stored
  '2024-01-02T03:04' into another text, and a large NUMERIC into a double);
* a text key whose collation makes distinct strings equal (MariaDB's ``_ci`` and PAD
  SPACE collations, PostgreSQL's nondeterministic ones) has its boundary checked for
  duplicates by the database, unless a unique index already guarantees there are none.
"""

from __future__ import annotations

import itertools
import math
import re
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import NullType

MYSQL = ("mysql", "mariadb")

VALUE, FLOAT4, NUMBERED, STORED = "value", "float4", "numbered", "stored"
"""How a key column's boundary is carried: as the value read; as a 4-byte float; as
the enum's or set's number; as SQLite stores it."""


class _AsStored(sa.types.TypeDecorator[Any]):
    """A value bound as it is, whatever the column it is compared with (a bare NullType
    bind would take on the column's type, and its conversions)."""

    impl = NullType
    cache_ok = True


@dataclass(frozen=True)
class Collation:
    """A text column's collation, and whether it tells every distinct string apart."""

    name: str
    exact: bool
    charset: str | None = None  # MariaDB/MySQL: the character set it belongs to
    declared: str = ""  # the column's type (MariaDB: as ALTER TABLE takes it)
    pads: bool = False  # the type itself ignores trailing spaces, whatever the collation

    def shown(self, column: str) -> str:
        """What makes distinct strings of ``column`` equal, for a message."""
        if self.pads:
            declared = "char(n)" if self.declared == "bpchar" else self.declared
            return f"the type {declared} of {column}, which ignores trailing spaces"
        return f"the collation {self.name} of {column}"


def mysql_collation_exact(name: str) -> bool:
    """Only NO PAD binary collations tell 'a', 'A' and 'a ' apart: a PAD SPACE ``_bin``
    collation (utf8mb4_bin) still takes 'a' and 'a ' for one value."""
    return name == "binary" or name.endswith("_nopad_bin") or name.endswith("_0900_bin")


def collations(conn: sa.Connection, dialect: str, table: str) -> dict[str, Collation]:
    """Each text column's collation, for a table (or temporary table) as its SQL name."""
    if dialect in MYSQL:
        rows = conn.exec_driver_sql(f"SHOW FULL COLUMNS FROM {table}").all()
        found = {}
        for name, declared, collation, *_ in rows:
            if collation:
                # CHAR strips trailing spaces when it stores a value: 'a ' becomes 'a',
                # which matters under a NO PAD collation (a PAD SPACE one ignores them).
                no_pad = "nopad" in collation or "_0900_" in collation or collation == "binary"
                pads = no_pad and declared.lower().startswith("char(")
                exact = mysql_collation_exact(collation) and not pads
                charset = collation.split("_")[0]
                found[name] = Collation(collation, exact, charset, declared, pads)
        return found
    if dialect == "postgresql":
        # citext ignores case whatever its collation: it counts as one that does. And
        # bpchar (char(n)) ignores trailing spaces: 'a' = 'a ' under any collation.
        rows = conn.execute(
            sa.text(
                "SELECT a.attname, CASE WHEN t.typname = 'citext'"
                "  THEN quote_ident(tn.nspname) || '.citext'"
                "  ELSE quote_ident(n.nspname) || '.' || quote_ident(c.collname) END,"
                " c.collisdeterministic AND t.typname NOT IN ('citext', 'bpchar'), t.typname"
                " FROM pg_attribute a"
                " JOIN pg_type t ON t.oid = a.atttypid"
                " JOIN pg_namespace tn ON tn.oid = t.typnamespace"
                " JOIN pg_collation c ON c.oid = a.attcollation"
                " JOIN pg_namespace n ON n.oid = c.collnamespace"
                " WHERE a.attrelid = to_regclass(:t) AND a.attnum > 0 AND NOT a.attisdropped"
            ),
            {"t": table},
        ).all()
        return {
            name: Collation(coll, bool(exact), declared=typname, pads=typname == "bpchar")
            for name, coll, exact, typname in rows
        }
    if dialect == "sqlite":
        return _sqlite_collations(conn, table)
    return {}


def _sqlite_collations(conn: sa.Connection, table: str) -> dict[str, Collation]:
    """SQLite keeps a column's collation only in its CREATE TABLE text (a table made by
    CREATE TABLE AS has none, and its columns compare as their sources do)."""
    schema, _, name = table.rpartition(".")
    quoted = schema.replace('"', '""')
    master = f'"{quoted}".sqlite_master' if schema else "sqlite_master"
    ddl = conn.exec_driver_sql(
        f"SELECT sql FROM {master} WHERE type = 'table' AND name = ?",  # noqa: S608 (a quoted schema name; the table's name is bound)
        (name,),
    ).scalar()
    if not ddl or "(" not in ddl:
        return {}
    found: dict[str, Collation] = {}
    for definition in _top_level_parts(ddl[ddl.index("(") + 1 : ddl.rindex(")")]):
        words = definition.split(None, 1)
        collated = re.search(r"\bCOLLATE\s+[\"'`\[]?(\w+)", definition, re.IGNORECASE)
        if words and collated:
            column = words[0].strip("\"'`[]")
            found[column] = Collation(collated[1], collated[1].upper() == "BINARY")
    return found


def _top_level_parts(text: str) -> list[str]:
    """A column list split at its commas, not those inside parentheses or quotes."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'`[":
            quote = "]" if ch == "[" else ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


@dataclass(frozen=True)
class KeyColumn:
    """One key column: how its boundary is read, bound and judged equal."""

    name: str
    carry: str = VALUE
    collation: Collation | None = None  # set only when it makes distinct strings equal

    def boundary(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any] | None:
        """What to read beside the row as the boundary, or None: the row's value is."""
        if self.carry == NUMBERED:
            return sa.type_coerce(column + 0, sa.BigInteger())
        if self.carry == STORED:
            return sa.type_coerce(column, NullType())
        return None

    def bound(self, column: sa.ColumnElement[Any], value: Any) -> sa.ColumnElement[Any]:
        """``value`` as the other side of a comparison with ``column``, compared the way
        the database compares the column's own values."""
        if self.carry == FLOAT4:
            if isinstance(column.type, postgresql.REAL):
                return sa.cast(sa.bindparam(None, value, type_=sa.Double()), postgresql.REAL())
            # MariaDB compares a FLOAT with a double as the double the float widens to
            # (it has no CAST to FLOAT before 10.4.5): bind that double, exactly.
            return sa.bindparam(None, widened(value), type_=sa.Double())
        if self.carry == NUMBERED:
            return sa.bindparam(None, value, type_=sa.BigInteger())
        if self.carry == STORED:
            return sa.bindparam(None, value, type_=_AsStored())
        return sa.bindparam(None, value, type_=column.type)


def _carry(col_type: Any, dialect: str) -> str:
    if dialect == "sqlite":
        # Integers, text and blobs read as they are stored; anything else goes through a
        # conversion of SQLAlchemy's (dates, decimals, booleans) that binding undoes.
        plain = isinstance(col_type, sa.Integer | sa.String | sa.LargeBinary)
        return VALUE if plain and not isinstance(col_type, sa.Enum) else STORED
    if dialect in MYSQL:
        if isinstance(col_type, mysql.ENUM | mysql.SET):
            return NUMBERED
        if isinstance(col_type, mysql.FLOAT):
            return FLOAT4
    if dialect == "postgresql" and isinstance(col_type, postgresql.REAL):
        return FLOAT4
    return VALUE


def plan(
    columns: Sequence[sa.Column[Any]],
    key: Sequence[str],
    dialect: str,
    text_collations: dict[str, Collation],
) -> list[KeyColumn]:
    """The key columns of a source, each compared as its declared type says."""
    types = {c.name: c.type for c in columns}
    planned = []
    for name in key:
        carry = _carry(types[name], dialect)
        collation = text_collations.get(name)
        # An enum's boundary is its number: equal labels are equal numbers.
        inexact = collation if carry == VALUE and collation and not collation.exact else None
        planned.append(KeyColumn(name, carry, inexact))
    return planned


def sqlite_kinds(conn: sa.Connection, source: sa.FromClause, name: str) -> list[str]:
    """The kinds of value (number, text, blob) a SQLite key column holds, if it holds
    more than one. SQLite keeps 1 and '1' (or X'31') apart in any column whose type does
    not convert them; every other database, and a typed destination column, holds them
    as one value, so two such keys would become one destination row. Integers and
    doubles are one kind: SQLite compares them as numbers (1 = 1.0), as the others do."""
    kind = sa.func.typeof(source.c[name])
    number = sa.case((kind.in_(("integer", "real")), "number"), else_=kind)
    found = conn.execute(
        sa.select(number).where(source.c[name].is_not(None)).distinct().limit(3)
    ).scalars()
    kinds = sorted(str(k) for k in found)
    return kinds if len(kinds) > 1 else []


def widened(value: Any) -> Any:
    """The 4-byte float nearest ``value``, as the double it widens to exactly: 0.1 is
    0.10000000149011612. (The value read is the shortest decimal of that float, so the
    nearest float is the stored one.)"""
    if not isinstance(value, float) or not math.isfinite(value):
        return value
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _fold(value: Any) -> Any:
    """A loose form under which strings that some collation holds equal are equal, to
    pick the neighbours worth asking the database about (it has the last word)."""
    if not isinstance(value, str):
        return value
    decomposed = unicodedata.normalize("NFKD", value)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.casefold().rstrip(" ")


MAX_ASKED = 64
"""Neighbouring pairs of one page asked about at most (the batch boundary always is)."""


def equal_pairs(
    conn: sa.Connection,
    dialect: str,
    keys: Sequence[KeyColumn],
    pairs: Sequence[tuple[Sequence[Any], Sequence[Any]]],
) -> list[bool]:
    """Whether the database holds each pair of distinct keys for one key, under the key
    columns' collations (one statement for all pairs)."""
    if not pairs:
        return []
    params: dict[str, Any] = {}
    verdicts = []
    for p, (left, right) in enumerate(pairs):
        parts = []
        for i, (col, a, b) in enumerate(zip(keys, left, right, strict=True)):
            if col.collation is None or not isinstance(a, str) or not isinstance(b, str):
                parts.append("1 = 1" if a == b else "1 = 0")
                continue
            x, y = f"x{p}_{i}", f"y{p}_{i}"
            params[x], params[y] = a, b
            parts.append(_equal_sql(dialect, col.collation, x, y))
        verdicts.append("(" + " AND ".join(parts) + ")")
    if dialect in MYSQL:
        columns = ", ".join(f"CASE WHEN {v} THEN 1 ELSE 0 END" for v in verdicts)
    else:
        columns = ", ".join(verdicts)
    row = conn.execute(sa.text(f"SELECT {columns}"), params).one()
    return [bool(v) for v in row]


def _equal_sql(dialect: str, collation: Collation, x: str, y: str) -> str:
    if dialect in MYSQL:
        # Collation names come from the catalogue: letters, digits and underscores.
        cs, name = collation.charset, collation.name
        return f"CONVERT(:{x} USING {cs}) COLLATE {name} = CONVERT(:{y} USING {cs}) COLLATE {name}"
    if dialect == "sqlite":  # collation names: \w+ (see _sqlite_collations)
        return f"(:{x} = :{y} COLLATE {collation.name})"
    if collation.declared == "citext":
        return f"CAST(:{x} AS {collation.name}) = CAST(:{y} AS {collation.name})"
    if collation.pads:  # as text, 'a' and 'a ' would differ
        return f"(CAST(:{x} AS bpchar) COLLATE {collation.name}) = CAST(:{y} AS bpchar)"
    return f"(CAST(:{x} AS text) COLLATE {collation.name}) = CAST(:{y} AS text)"


def candidates(
    keys: Sequence[Sequence[Any]], batch_size: int
) -> list[tuple[Sequence[Any], Sequence[Any]]]:
    """Neighbouring keys that differ but may be one key to the database: the pair at the
    batch boundary always (where equal keys lose rows), others that fold alike."""
    pairs: list[tuple[Sequence[Any], Sequence[Any]]] = []
    if len(keys) > batch_size:
        pairs.append((keys[batch_size - 1], keys[batch_size]))
    for left, right in itertools.pairwise(keys):
        if len(pairs) > MAX_ASKED:
            break
        if left != right and tuple(map(_fold, left)) == tuple(map(_fold, right)):
            pairs.append((left, right))
    return pairs
