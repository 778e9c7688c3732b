"""Column types across databases, and the values that cross with them.

Between two databases of the same kind a column keeps its exact type. Across kinds it
goes through SQLAlchemy's generic type, then through the fixes each destination needs
so that no value is cut short by accident (MySQL's DECIMAL defaults to no decimals and
its DATETIME to whole seconds; a MySQL key cannot be TEXT; SQLite's integers are 64-bit
whatever their declared name).

Values are read exactly (:func:`read_expression`: JSON as its text, MariaDB's TIME as
the duration it is, in UTC sessions); ``conversions`` turns them into what another kind
of database takes. docs/types.md lists every rule.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import NullType, TypeEngine

MYSQL = ("mysql", "mariadb")

BINARY = (
    sa.LargeBinary,
    sa.BINARY,
    sa.VARBINARY,
    mysql.TINYBLOB,
    mysql.MEDIUMBLOB,
    mysql.LONGBLOB,
)
"""MySQL's binary column types. (Its TINYBLOB, MEDIUMBLOB and LONGBLOB are no LargeBinary.)"""

SQLITE_EXACT_DIGITS = 15
"""Significant digits SQLite's NUMERIC holds exactly: it stores a double (DBL_DIG). A
wider decimal goes into a TEXT column, as its exact digits."""


def _mysql_integer(col_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """An integer type wide enough for the MySQL type, unsigned range included."""
    unsigned = bool(getattr(col_type, "unsigned", False))
    if isinstance(col_type, mysql.TINYINT):
        return sa.SmallInteger()
    if isinstance(col_type, mysql.SMALLINT):
        return sa.Integer() if unsigned else sa.SmallInteger()
    if isinstance(col_type, mysql.MEDIUMINT):
        return sa.Integer()
    if isinstance(col_type, mysql.BIGINT):
        return sa.BigInteger()  # unsigned: NUMERIC(20) on PostgreSQL (destination_type)
    return sa.BigInteger() if unsigned else sa.Integer()


def _generic(col_type: TypeEngine[Any], src: str) -> TypeEngine[Any]:
    if isinstance(col_type, NullType):
        return sa.Text()
    if src in MYSQL:
        if isinstance(col_type, mysql.TINYINT) and col_type.display_width == 1:
            return sa.Boolean()  # MySQL spells BOOLEAN as TINYINT(1).
        if isinstance(col_type, sa.Integer):
            return _mysql_integer(col_type)
        if isinstance(col_type, mysql.SET):
            return sa.String(len(",".join(col_type.values)) or 1)
        if isinstance(col_type, mysql.TIMESTAMP):
            return sa.DateTime(timezone=True)  # an instant, read in UTC
    if src == "sqlite" and isinstance(col_type, sa.Integer):
        return sa.BigInteger()  # every SQLite integer is 64-bit, whatever its declared name
    if isinstance(col_type, sa.JSON):
        return sa.JSON()
    if isinstance(col_type, postgresql.ARRAY):
        return sa.JSON()
    if isinstance(col_type, sa.Enum):
        return sa.String(max((len(e) for e in col_type.enums), default=1))
    try:
        generic = col_type.as_generic()
    except NotImplementedError:
        return sa.Text()
    if isinstance(generic, sa.String) and generic.collation:
        # Collation names are the source database's (utf8mb4_bin on MariaDB's JSON
        # columns): another kind of database does not know them.
        generic = generic.copy()
        generic.collation = None
    return generic


def _for_mysql(generic: TypeEngine[Any], is_key: bool, mariadb: bool) -> TypeEngine[Any]:
    if isinstance(generic, sa.Uuid):
        return mysql.CHAR(36)  # the canonical text; MySQL has no UUID type
    if isinstance(generic, sa.String) and not isinstance(generic, sa.Enum):
        if is_key:
            # A key compares like it did in the source: 'a', 'A' and 'a ' are three
            # rows, not one (the default collations ignore case and trailing spaces).
            length = generic.length if generic.length and generic.length <= 255 else 255
            collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_bin"
            return mysql.VARCHAR(length, charset="utf8mb4", collation=collation)
        if generic.length is None or isinstance(generic, sa.Text):
            return mysql.LONGTEXT()
        return generic
    if isinstance(generic, sa.DateTime):
        return mysql.DATETIME(fsp=6)
    if isinstance(generic, sa.Time):
        return mysql.TIME(fsp=6)
    if isinstance(generic, sa.Numeric):
        if generic.precision is None:
            return mysql.DECIMAL(65, 30)
        return generic
    if isinstance(generic, sa.Float):
        return mysql.DOUBLE()
    if isinstance(generic, sa.LargeBinary):
        # A key cannot be a BLOB (MySQL indexes a prefix of one only); a VARBINARY
        # compares every byte and keeps no padding.
        return mysql.VARBINARY(255) if is_key else mysql.LONGBLOB()
    return generic


def _for_sqlite(generic: TypeEngine[Any]) -> TypeEngine[Any]:
    if isinstance(generic, sa.Uuid):
        return sa.CHAR(36)  # SQLAlchemy's own form would be 32 hex digits
    if isinstance(generic, sa.Numeric) and (
        generic.precision is None or generic.precision > SQLITE_EXACT_DIGITS
    ):
        return sa.Text()
    return generic


def destination_type(
    col_type: TypeEngine[Any], src: str, dst: str, *, is_key: bool
) -> TypeEngine[Any]:
    """The type a destination column gets for a source column. ``dst`` is "mariadb"
    for a MariaDB server (SQLAlchemy names it "mysql" when the URL does)."""
    same = src == dst or {src, dst} <= set(MYSQL)
    if same and not isinstance(col_type, NullType):
        return col_type
    generic = _generic(col_type, src)
    if dst in MYSQL:
        return _for_mysql(generic, is_key, mariadb=dst == "mariadb")
    if dst == "sqlite":
        return _for_sqlite(generic)
    if dst == "postgresql" and isinstance(generic, sa.Float):
        return postgresql.DOUBLE_PRECISION()
    if dst == "postgresql" and isinstance(col_type, mysql.BIGINT) and col_type.unsigned:
        return sa.Numeric(20, 0)  # up to 18446744073709551615: wider than bigint
    return generic


# -- reading -------------------------------------------------------------------------


class _SqliteNumber(sa.types.TypeDecorator[Any]):
    """A SQLite NUMERIC value as the number it shows: an int stays an int, a double
    becomes the shortest decimal that is that double. (SQLAlchemy rounds a double to the
    column's scale, or ten places: 1e-15 would read as 0.)"""

    impl = NullType
    cache_ok = True

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        return Decimal(repr(value)) if isinstance(value, float) else value


class _Float4(sa.types.TypeDecorator[Any]):
    """MariaDB's FLOAT, read as a double (exact: its text form has six digits, 123456792
    reads as 123457000), then as the shortest decimal that is that 4-byte float, as
    PostgreSQL prints a real: 3.14, not the 3.1400001049041748 it widens to."""

    impl = NullType
    cache_ok = True

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Any:
        if not isinstance(value, float) or not math.isfinite(value):
            return value
        for digits in range(6, 10):  # 9 significant digits always identify a float
            short = float(f"{value:.{digits}g}")
            try:
                if struct.unpack("f", struct.pack("f", short))[0] == value:
                    return short
            except OverflowError:  # rounded past the largest float
                continue
        return value


def read_expression(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    """What to SELECT for a source column so that its value arrives exactly.

    JSON travels as its text: parsed, its numbers would become doubles and a JSON
    ``null`` Python's None, that is SQL NULL. MariaDB's TIME is a duration (-838:59:59 to
    838:59:59), which SQLAlchemy would wrap into a time of day; its SET stays the text
    'a,c', not a Python set; its FLOAT arrives as the number it is (see _Float4).
    SQLite's NUMERIC: see _SqliteNumber; its BOOLEAN as stored (conversions checks it).
    An enum arrives as its label, unchecked.
    """
    col_type = column.type
    expression: sa.ColumnElement[Any]
    if isinstance(col_type, sa.Enum):
        # As text: SQLAlchemy checks a value against the labels it reflected, and
        # MariaDB's catalogue shows a 4-byte character in a label as "?".
        expression = sa.type_coerce(column, NullType())
    elif isinstance(col_type, sa.JSON):
        if dialect == "postgresql":
            expression = sa.cast(column, sa.Text)
        else:
            expression = sa.type_coerce(column, NullType())
    elif dialect in MYSQL and isinstance(col_type, mysql.SET):
        expression = sa.type_coerce(column, NullType())
    elif dialect in MYSQL and isinstance(col_type, sa.Time):
        # A key too: as a time of day, -01:00 would be 23:00, and paging would lose it.
        expression = sa.type_coerce(column, NullType())
    elif dialect in MYSQL and isinstance(col_type, mysql.FLOAT):
        expression = sa.type_coerce(column + sa.literal_column("0E0"), _Float4())
    elif dialect == "sqlite" and isinstance(col_type, sa.Numeric):
        expression = sa.type_coerce(column, _SqliteNumber())
    elif dialect == "sqlite" and isinstance(col_type, sa.Boolean):
        # As stored: SQLAlchemy reads any non-zero value as true, the text 'false' too.
        expression = sa.type_coerce(column, NullType())
    else:
        return column
    return expression.label(column.key)


def exact_sessions(engine: sa.Engine, *, writes: bool) -> None:
    """Sessions in UTC, whatever the server's or the URL's zone. MySQL/MariaDB: so that
    TIMESTAMP values read and write as the instants they are (where clocks change, two
    instants share one local time). PostgreSQL: so that every timestamptz of the years
    1 to 9999 has a Python form (9999-12-31 23:00 UTC is in the year 10000 in Asia). A
    MySQL destination's sessions are also strict, so that a value that does not fit
    fails instead of being cut short, whatever the server's default mode."""
    statements = {
        "postgresql": ["SET TIME ZONE 'UTC'"],
        "mysql": ["SET time_zone = '+00:00'"],
        "mariadb": ["SET time_zone = '+00:00'"],
    }.get(engine.dialect.name, [])
    if not statements:
        return
    if writes and engine.dialect.name in MYSQL:
        statements.append(
            "SET sql_mode = CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'STRICT_ALL_TABLES')"
        )

    def setup(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_connection.commit()  # PostgreSQL undoes a SET whose transaction rolls back

    sa.event.listen(engine, "connect", setup)


def _mariadb_json_columns(conn: sa.Connection, name: str, schema: str | None) -> set[str]:
    """MariaDB's JSON is LONGTEXT with a ``json_valid`` check: the check says it is JSON."""
    if not getattr(conn.dialect, "is_mariadb", False):
        return set()
    rows = conn.execute(
        sa.text(
            "SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS"
            " WHERE CONSTRAINT_SCHEMA = COALESCE(:schema, DATABASE())"
            " AND TABLE_NAME = :name"
        ),
        {"schema": schema, "name": name},
    ).all()
    return {column for column, check in rows if check == f"json_valid(`{column}`)"}


def _domain_modifiers(conn: sa.Connection, name: str, schema: str | None) -> dict[str, Any]:
    """The length, precision and scale of each domain column's base type (SQLAlchemy's
    reflection of a domain drops them: numeric(5,2) would come back as numeric)."""
    if conn.dialect.name != "postgresql":
        return {}
    rows = conn.execute(
        sa.text(
            "SELECT c.column_name, d.character_maximum_length AS length,"
            " d.numeric_precision AS precision, d.numeric_scale AS scale,"
            " d.numeric_precision_radix AS radix, d.datetime_precision"
            " FROM information_schema.columns c JOIN information_schema.domains d"
            " ON d.domain_schema = c.domain_schema AND d.domain_name = c.domain_name"
            " WHERE c.table_schema = COALESCE(:schema, current_schema())"
            " AND c.table_name = :name"
        ),
        {"schema": schema, "name": name},
    ).all()
    return {row.column_name: row for row in rows}


def _domain_base(domain: postgresql.DOMAIN, modifiers: Any) -> TypeEngine[Any]:
    """A PostgreSQL domain as its base type, everywhere: a destination has no such type
    (creating it would copy a schema object the user did not ask for), and the domain's
    CHECK, NOT NULL and default are not carried. Values are the base type's values."""
    base = domain.data_type.copy()
    if isinstance(base, sa.String):
        if base.collation == "default":  # the column's own default collation
            base.collation = None
        if modifiers is not None and modifiers.length is not None:
            base.length = int(modifiers.length)
    elif isinstance(base, sa.Numeric) and not isinstance(base, sa.Float):
        if modifiers is not None and modifiers.radix == 10 and modifiers.precision:
            base.precision, base.scale = int(modifiers.precision), int(modifiers.scale or 0)
    elif (
        isinstance(base, (sa.DateTime, sa.Time))
        and modifiers is not None
        and modifiers.datetime_precision is not None
        and hasattr(base, "precision")
    ):
        base.precision = int(modifiers.datetime_precision)
    return base


def _exact(conn: sa.Connection, name: str, schema: str | None) -> Any:
    """What reflecting a column does to its description, so that its values read
    exactly: PostgreSQL domains as their base type, MariaDB's JSON columns as JSON (not
    text), and floating point as the float the driver returns (MySQL's DOUBLE reflects
    with ``asdecimal=True``, whose Decimal is cut to 10 decimal places)."""
    json_columns = _mariadb_json_columns(conn, name, schema)
    domains: dict[str, Any] | None = None

    def exact(info: dict[str, Any]) -> None:
        nonlocal domains
        if isinstance(info["type"], postgresql.DOMAIN):
            if domains is None:  # asked only of a table that has a domain column
                domains = _domain_modifiers(conn, name, schema)
            info["type"] = _domain_base(info["type"], domains.get(info["name"]))
        if info["name"] in json_columns:
            info["type"] = sa.JSON()
        elif isinstance(info["type"], sa.Float) and info["type"].asdecimal:
            info["type"].asdecimal = False

    return exact


def reflect(conn: sa.Connection, name: str, schema: str | None = None) -> sa.Table:
    """A table as the database describes it (its keys, indexes and constraints too),
    with columns typed so that their values read exactly (:func:`_exact`). Raises
    NoSuchTableError."""
    exact = _exact(conn, name, schema)
    return sa.Table(
        name,
        sa.MetaData(),
        autoload_with=conn,
        schema=schema,
        listeners=[("column_reflect", lambda inspector, table, info: exact(info))],
    )


def reflect_columns(conn: sa.Connection, name: str, schema: str | None = None) -> sa.Table:
    """A table's columns, typed as :func:`reflect` types them, and its primary key, in
    the key's own order: all a source reads by. Two catalogue queries, where reflecting
    the whole table asks a dozen (foreign keys, indexes, constraints, comments, options)
    and SQLAlchemy compiles each: most of a small sync's time before its first batch.
    Raises NoSuchTableError."""
    inspector = sa.inspect(conn)
    infos: list[Any] = inspector.get_columns(name, schema=schema)
    exact = _exact(conn, name, schema)
    for info in infos:
        exact(info)
    primary = inspector.get_pk_constraint(name, schema=schema)
    return sa.Table(
        name,
        sa.MetaData(),
        *(sa.Column(c["name"], c["type"], nullable=c["nullable"]) for c in infos),
        sa.PrimaryKeyConstraint(*primary["constrained_columns"], name=primary.get("name")),
        schema=schema,
    )
