"""Type fidelity: every type family, synced between every directed pair of PostgreSQL,
MariaDB and SQLite, compared value by value with the raw drivers.

The tables, their values and the documented rules are in ``type_matrix`` (and, in prose,
docs/types.md). Each pair is one test: syncbeat creates the destination table, whose
column types must be the documented ones; each value must arrive by its rule; a value
the destination cannot hold must fail its batch with an error naming the column and the
row, and nothing of the batch may be written. Values are read back with the drivers,
not through syncbeat, so that a conversion cannot hide behind the same conversion on
the way back; syncbeat's own sessions start in a time zone far from UTC.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.connectors import conversions
from tests.integration.type_matrix import COLUMNS, ENGINES, ROWS, JsonValue, Refused, json_value

# -- creating and reading tables with the drivers ---------------------------------------


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _kind(url: str) -> str:
    backend = sa.engine.make_url(url).get_backend_name()
    return {"postgresql": "pg", "mysql": "mariadb"}.get(backend, backend)


PG_CASTS = {
    "js": "::json",
    "jsb": "::jsonb",
    "mood": "::mood",
    "ints": "::int[]",
    "texts": "::text[]",
}


def make_source(
    url: str,
    table: str,
    *,
    drop_columns: frozenset[str] = frozenset(),
    drop_rows: frozenset[int] = frozenset(),
) -> None:
    """The engine's fixture table, created and filled with its own driver."""
    kind = _kind(url)
    columns = [c for c in COLUMNS[kind] if c.name not in drop_columns]
    names = ["id", *(c.name for c in columns)]
    if kind == "sqlite":
        marks = ", ".join(f":{n}" for n in names)
    else:
        casts = PG_CASTS if kind == "pg" else {}
        marks = ", ".join(f"%({n})s{casts.get(n, '')}" for n in names)
    rows = [
        {"id": i, **{c.name: values.get(c.name) for c in columns}}
        for i, values in ROWS[kind].items()
        if i not in drop_rows
    ]
    ddl = ", ".join(f"{c.name} {c.ddl}" for c in columns)
    engine = _engine(url)
    with engine.begin() as conn:
        if kind == "pg":
            conn.exec_driver_sql(
                "DO $$ BEGIN CREATE TYPE mood AS ENUM ('happy', 'sad', 'ünïcödé 😀');"
                " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
        options = " DEFAULT CHARSET = utf8mb4" if kind == "mariadb" else ""
        conn.exec_driver_sql(f"CREATE TABLE {table} (id integer PRIMARY KEY, {ddl}){options}")
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)
    engine.dispose()


def column_types(url: str, table: str) -> dict[str, str]:
    """Each column's type as the database itself describes it (MariaDB's JSON: "json")."""
    kind = _kind(url)
    engine = _engine(url)
    rows: Sequence[tuple[Any, ...]]  # (name, type) pairs
    with engine.connect() as conn:
        if kind == "pg":
            rows = conn.exec_driver_sql(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
                f" WHERE attrelid = '{table}'::regclass AND attnum > 0 AND NOT attisdropped"
            ).all()
        elif kind == "mariadb":
            rows = conn.exec_driver_sql(
                "SELECT c.COLUMN_NAME, CASE WHEN k.CHECK_CLAUSE = CONCAT('json_valid(`',"
                " c.COLUMN_NAME, '`)') THEN 'json' ELSE c.COLUMN_TYPE END"
                " FROM information_schema.COLUMNS c"
                " LEFT JOIN information_schema.CHECK_CONSTRAINTS k"
                " ON k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME"
                " AND k.CONSTRAINT_NAME = c.COLUMN_NAME"
                f" WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = '{table}'"
            ).all()
            charsets = (
                conn.exec_driver_sql(
                    "SELECT DISTINCT CHARACTER_SET_NAME FROM information_schema.COLUMNS"
                    f" WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
                    " AND CHARACTER_SET_NAME IS NOT NULL"
                )
                .scalars()
                .all()
            )
            assert set(charsets) <= {"utf8mb4"}, charsets  # 4-byte characters fit
        else:
            rows = [(r[1], r[2]) for r in conn.exec_driver_sql(f"PRAGMA table_info({table})")]
    engine.dispose()
    return dict(rows)


def read_raw(url: str, table: str) -> dict[int, dict[str, Any]]:
    """Every row as the driver returns it, by id. JSON is read as its text (the driver
    would parse its numbers into doubles); MariaDB's FLOAT widened to a double (its text
    form has six digits)."""
    kind = _kind(url)
    exprs = []
    for name, typ in column_types(url, table).items():
        if kind == "pg" and typ in ("json", "jsonb"):
            exprs.append(f"{name}::text AS {name}")
        elif kind == "mariadb" and typ.startswith("float"):
            exprs.append(f"CAST({name} AS DOUBLE) AS {name}")
        else:
            exprs.append(name)
    engine = _engine(url)
    with engine.connect() as conn:
        result = conn.exec_driver_sql(f"SELECT {', '.join(exprs)} FROM {table} ORDER BY id")
        rows = {row.id: dict(row._mapping) for row in result}
    engine.dispose()
    return rows


def same_value(expected: Any, got: Any) -> bool:
    """Equal, strictly: same type, NaN equals NaN, -0.0 differs from 0.0, JSON by value
    with exact numbers."""
    if isinstance(expected, JsonValue):
        return isinstance(got, str) and json_value(got) == expected.doc
    if type(expected) is not type(got):
        return False
    if isinstance(expected, float):
        if math.isnan(expected):
            return math.isnan(got)
        return expected == got and math.copysign(1, expected) == math.copysign(1, got)
    if isinstance(expected, Decimal):
        return expected == got or (expected.is_nan() and got.is_nan())
    return bool(expected == got)


# -- the matrix -------------------------------------------------------------------------

URL_FIXTURES = {
    "pg": ("pg_url", "pg_url2"),
    "mariadb": ("mariadb_url", "mariadb_url"),  # one database: tables apart
    "sqlite": ("sqlite_url", "sqlite_url2"),
}
MARKS = {"pg": [pytest.mark.postgres], "mariadb": [pytest.mark.mariadb], "sqlite": []}
PAIRS = [
    pytest.param((src, dst), id=f"{src}-to-{dst}", marks=MARKS[src] + MARKS[dst])
    for src in ENGINES
    for dst in ENGINES
]
# syncbeat's own sessions start in a zone far from UTC (the servers run in UTC), so a
# timestamp read or written in the session's zone instead of UTC would show.
SESSION_ZONE = {
    "pg": "?options=-c%20timezone%3DAsia/Kathmandu",
    "mariadb": "?init_command=SET%20time_zone%3D%27%2B05%3A45%27",
    "sqlite": "",
}


def expected_refusals(
    src: str, dst: str, source: dict[int, dict[str, Any]]
) -> list[tuple[int, str, Any]]:
    """(row id, column, value) that the destination cannot hold, in the order a batch
    meets them."""
    refused = []
    for row_id, values in source.items():
        for column in COLUMNS[src]:
            if column.name not in values:
                continue  # a column this table was made without
            try:
                column.rule(dst)(values[column.name])
            except Refused:
                refused.append((row_id, column.name, values[column.name]))
    return refused


@dataclass(frozen=True)
class Synced:
    status: str
    message: str
    paths: set[str]


def sync(store: str, src_url: str, dst_url: str, table: str, mode: str = "upsert") -> Synced:
    """Sync ``table`` into ``copy_<table>`` with the library; syncbeat's connections
    start in SESSION_ZONE's zones."""
    src_zone, dst_zone = SESSION_ZONE[_kind(src_url)], SESSION_ZONE[_kind(dst_url)]
    spec = PipelineSpec(
        name=f"types-{table}",
        source_url=src_url + src_zone,
        source_table=table,
        dest_url=dst_url + dst_zone,
        dest_table=f"copy_{table}",
        mode=mode,
    )
    sb = Syncbeat(store)
    try:
        job, outcome = sb.sync(spec)
        events = sb.events(job.id, limit=1000)
    finally:
        sb.close()
    paths = {e.data["path"] for e in events if e.kind == "plan" and e.data and "path" in e.data}
    return Synced(outcome.status, outcome.message, paths)


def check_copy(src: str, dst: str, src_url: str, dst_url: str, table: str) -> None:
    """The destination's column types and every value, against the documented rules."""
    source = read_raw(src_url, table)
    created = column_types(dst_url, f"copy_{table}")
    columns = [c for c in COLUMNS[src] if c.name in created]
    assert {c.name: created[c.name] for c in columns} == {c.name: c.type_on(dst) for c in columns}
    dest = read_raw(dst_url, f"copy_{table}")
    assert sorted(dest) == sorted(source)
    wrong = []
    for row_id, row in dest.items():
        for column in columns:
            value = source[row_id][column.name]
            expected = column.rule(dst)(value)
            if not same_value(expected, row[column.name]):
                wrong.append((row_id, column.name, value, expected, row[column.name]))
    assert not wrong, "(id, column, source, expected, got):\n" + "\n".join(map(repr, wrong))


def load_data_statements(url: str) -> int:
    """LOAD DATA statements the server has run, all sessions together (it only grows)."""
    engine = _engine(url)
    with engine.connect() as conn:
        count = conn.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'Com_load'").one()[1]
    engine.dispose()
    return int(count)


def refused_then_synced(
    store_url: str,
    src: str,
    dst: str,
    src_url: str,
    dst_url: str,
    table: str,
    caplog: pytest.LogCaptureFixture | None = None,
) -> tuple[frozenset[int], Synced]:
    """Sync ``table``: first refused by name if it holds a value the destination cannot
    hold (nothing of the batch written), then, without those rows, completed and checked.
    ``caplog``: the completed sync must move no batch through the row path (a relay
    hands it a batch that it cannot write, which would hide the relay's mistakes)."""
    refused = expected_refusals(src, dst, read_raw(src_url, table))
    refused_rows = frozenset(r[0] for r in refused)
    if refused:
        # A value the destination cannot hold fails its batch with an error naming the
        # column and the row, and nothing of the batch is written.
        failed = sync(store_url, src_url, dst_url, table)
        row_id, column, _ = refused[0]
        assert failed.status == "failed", refused
        assert f"column {column!r} of the row id={row_id}" in failed.message, failed.message
        assert "hint:" in failed.message
        assert read_raw(dst_url, f"copy_{table}") == {}
        delete = f"DELETE FROM {table} WHERE id IN ({', '.join(map(str, sorted(refused_rows)))})"
        engine = _engine(src_url)
        with engine.begin() as conn:
            conn.exec_driver_sql(delete)
        engine.dispose()
    if caplog is not None:
        caplog.clear()
    done = sync(store_url, src_url, dst_url, table)
    assert done.status == "completed", done.message
    if caplog is not None:
        by_rows = [
            r.getMessage() for r in caplog.records if getattr(r, "action", "") == "relay_rows"
        ]
        assert not by_rows, by_rows
    check_copy(src, dst, src_url, dst_url, table)
    return refused_rows, done


@pytest.mark.parametrize("pair", PAIRS, indirect=True)
def test_every_type_family_arrives_as_documented(
    store_url: str, pair: tuple[str, str, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    src, dst, src_url, dst_url = pair
    make_source(src_url, "types")
    refused_rows, done = refused_then_synced(store_url, src, dst, src_url, dst_url, "types")
    if src == dst == "pg":
        assert done.paths == {"rows"}  # the enum (a user-defined type) keeps COPY out
    if src == "mariadb" and dst == "pg":
        # FLOAT has no exact text in MariaDB's SQL: the table takes the row path. The
        # same table without it takes the relay, refusals included.
        assert done.paths == {"rows"}
        make_source(src_url, "relay", drop_columns=frozenset({"f32"}))
        caplog.set_level(logging.INFO, logger="syncbeat.engine.relay_to_postgres")
        _, done = refused_then_synced(store_url, src, dst, src_url, dst_url, "relay", caplog)
        assert done.paths == {"mysql-to-pg"}

    # The bulk paths, where the table above cannot take them: PostgreSQL's binary COPY
    # pass-through (built-in types only) and MariaDB's LOAD DATA (no binary columns).
    if dst == "mariadb" or src == dst == "pg":
        drop = {"mood"} if dst == "pg" else {"bin", "vbin"}
        make_source(src_url, "bulk", drop_columns=frozenset(drop), drop_rows=refused_rows)
        loads = load_data_statements(dst_url) if dst == "mariadb" else 0
        done = sync(store_url, src_url, dst_url, "bulk", mode="append")
        assert done.status == "completed", done.message
        check_copy(src, dst, src_url, dst_url, "bulk")
        if dst == "pg":
            assert done.paths == {"pg-copy"}
        else:
            assert load_data_statements(dst_url) > loads


def test_sqlite_stores_nan_as_null(sqlite_url: str) -> None:
    """Why no SQLite source holds NaN (docs/types.md): SQLite turns it into NULL."""
    make_source(sqlite_url, "types")
    assert ROWS["sqlite"][9]["num"] != ROWS["sqlite"][9]["num"]  # NaN went in
    assert read_raw(sqlite_url, "types")[9]["num"] is None


ZONED = dt.timezone(dt.timedelta(hours=5))
REFUSED = [
    (postgresql.REAL(), mysql.DOUBLE(), "postgresql", "mysql", math.nan, "no NaN or infinity"),
    (sa.Double(), mysql.DOUBLE(), "postgresql", "mysql", math.inf, "no NaN or infinity"),
    (sa.Double(), mysql.DOUBLE(), "sqlite", "mysql", -math.inf, "no NaN or infinity"),
    (sa.Numeric(38, 10), mysql.DECIMAL(38, 10), "postgresql", "mysql", Decimal("NaN"), "no NaN"),
    (sa.Double(), sa.Double(), "postgresql", "sqlite", math.nan, "SQLite stores NaN as NULL"),
    (mysql.TIME(fsp=6), sa.Time(), "mysql", "postgresql", dt.timedelta(hours=-1), "time of day"),
    (mysql.TIME(fsp=6), sa.Time(), "mysql", "sqlite", dt.timedelta(hours=24), "time of day"),
    (mysql.BIGINT(unsigned=True), sa.BigInteger(), "mysql", "sqlite", 2**63, "stop at"),
    (sa.String(40), sa.String(40), "sqlite", "postgresql", "x" * 41, "41 characters"),
    (sa.Text(), mysql.VARCHAR(10), "postgresql", "mysql", "é" * 11, "holds 10"),
    (mysql.TINYINT(display_width=1), sa.Boolean(), "mysql", "postgresql", 2, "0 and 1"),
    (sa.Boolean(), sa.Boolean(), "sqlite", "postgresql", "false", "0 and 1"),
    (postgresql.ARRAY(sa.Double()), sa.JSON(), "postgresql", "mysql", [1.5, math.nan], "JSON"),
    (postgresql.TIMESTAMP(timezone=True), sa.DateTime(), "postgresql", "sqlite",
     dt.datetime(1, 1, 1, tzinfo=ZONED), "years 1 to 9999"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("src_type", "dest_type", "src", "dst", "value", "reason"),
    REFUSED,
    ids=[f"{case[2]}-to-{case[3]}-{type(case[4]).__name__}" for case in REFUSED],
)
def test_a_value_the_destination_cannot_hold_is_refused_by_name(
    src_type: Any, dest_type: Any, src: str, dst: str, value: Any, reason: str
) -> None:
    convert = conversions.value_converter(src_type, dest_type, src, dst)
    assert convert is not None
    with pytest.raises(conversions.Unstorable) as refused:
        convert(value)
    error = refused.value.error("amount", "id=7")
    assert reason in error.message
    assert "column 'amount' of the row id=7" in error.message
    assert error.hint
