"""Column types across databases.

Between two databases of the same kind a column keeps its exact type. Across kinds it
goes through SQLAlchemy's generic type, then through the fixes each destination needs
so that no value is cut short by accident (MySQL's DECIMAL defaults to no decimals and
its DATETIME to whole seconds; a MySQL key cannot be TEXT).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import NullType, TypeEngine

Convert = Callable[[Any], Any] | None


def _generic(col_type: TypeEngine[Any], src: str) -> TypeEngine[Any]:
    if isinstance(col_type, NullType):
        return sa.Text()
    if src in ("mysql", "mariadb") and isinstance(col_type, mysql.TINYINT):
        # MySQL spells BOOLEAN as TINYINT(1).
        return sa.Boolean() if col_type.display_width == 1 else sa.SmallInteger()
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
    if isinstance(generic, sa.Numeric) and not isinstance(generic, sa.Float):
        if generic.precision is None:
            return mysql.DECIMAL(65, 30)
        return generic
    if isinstance(generic, sa.Float):
        return mysql.DOUBLE()
    if isinstance(generic, sa.LargeBinary):
        return mysql.LONGBLOB()
    return generic


def destination_type(
    col_type: TypeEngine[Any], src: str, dst: str, *, is_key: bool
) -> TypeEngine[Any]:
    """The type a destination column gets for a source column. ``dst`` is "mariadb"
    for a MariaDB server (SQLAlchemy names it "mysql" when the URL does)."""
    same = src == dst or {src, dst} <= {"mysql", "mariadb"}
    if same and not isinstance(col_type, NullType):
        return col_type
    generic = _generic(col_type, src)
    if dst in ("mysql", "mariadb"):
        return _for_mysql(generic, is_key, mariadb=dst == "mariadb")
    if dst == "postgresql" and isinstance(generic, sa.Float):
        return postgresql.DOUBLE_PRECISION()
    return generic


def _utc_naive(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _sql_null(value: Any) -> Any:
    return sa.null() if value is None else value


def value_converter(col_type: TypeEngine[Any], dst: str) -> Convert:
    """A per-value conversion a destination needs, or None. MySQL's DATETIME has no time
    zone: aware timestamps are stored as UTC, deliberately (see docs/types.md). A JSON
    column would store Python's None as the JSON text 'null': a NULL stays SQL NULL."""
    if dst in ("mysql", "mariadb") and isinstance(col_type, sa.DateTime):
        return _utc_naive
    if isinstance(col_type, sa.JSON) and not col_type.none_as_null:
        return _sql_null
    return None


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


def reflect(conn: sa.Connection, name: str, schema: str | None = None) -> sa.Table:
    """A table as the database describes it, typed so that its values read exactly:
    MariaDB's JSON columns as JSON (not text), and floating point as the float the
    driver returns (MySQL's DOUBLE reflects with ``asdecimal=True``, whose Decimal is
    cut to 10 decimal places). Raises NoSuchTableError."""
    json_columns = _mariadb_json_columns(conn, name, schema)

    def exact(inspector: Any, table: sa.Table, info: dict[str, Any]) -> None:
        if info["name"] in json_columns:
            info["type"] = sa.JSON()
        elif isinstance(info["type"], sa.Float) and info["type"].asdecimal:
            info["type"].asdecimal = False

    return sa.Table(
        name,
        sa.MetaData(),
        autoload_with=conn,
        schema=schema,
        listeners=[("column_reflect", exact)],
    )
