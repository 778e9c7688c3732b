"""Comparing a source and a destination: row counts and an order-independent checksum.

Values are normalised before hashing so that the same data held by two different
databases (a Decimal vs a float-free NUMERIC string, a JSON document re-serialised, an
aware timestamp vs its UTC form) hashes the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from syncbeat.connectors import engines, keys, paging, typemap


def normalise(value: Any) -> Any:
    """One canonical, JSON-safe form per value, the same whichever database held it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f") if value == value else "NaN"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, bytes | memoryview | bytearray):
        return bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.dumps(json.loads(value), sort_keys=True, ensure_ascii=False)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class TableSummary:
    rows: int
    checksum: str


def rows_in_key_order(
    engine: sa.Engine,
    table: str,
    key: Sequence[str],
    columns: Sequence[str] | None = None,
    batch_size: int = 10_000,
) -> Iterator[tuple[Any, ...]]:
    """Stream a table's rows (optionally some columns) in key order, O(batch) memory."""
    schema, _, name = table.rpartition(".")
    with engine.connect() as conn:
        tab = typemap.reflect(conn, name, schema or None)
    selected = [tab.c[c] for c in (columns or [c.name for c in tab.columns])]
    source = sa.select(*selected).subquery()
    dialect = engine.dialect.name
    plan = keys.plan(list(tab.columns), key, dialect, {})
    names = list(source.c.keys())
    # Boundaries that are not the row's own value (a MariaDB ENUM's number...) are read
    # after the row's columns, as SqlSource reads them.
    at: list[int] = []
    hidden: list[sa.ColumnElement[Any]] = []
    width = len(names)
    for k in plan:
        boundary = k.boundary(source.c[k.name])
        if boundary is None:
            at.append(names.index(k.name))
        else:
            at.append(width + len(hidden))
            hidden.append(boundary.label(f"_syncbeat_key{len(hidden)}"))
    last = None
    while True:
        with engine.connect() as conn:
            page_query = paging.page_query(source, list(key), last, batch_size, dialect, plan)
            rows = conn.execute(page_query.add_columns(*hidden)).all()
        page = paging.split(rows, at, batch_size, list(key), width if hidden else None)
        yield from (tuple(r) for r in page.rows)
        if not page.more:
            return
        last = page.last_key


def summarise(url: str, table: str, key: Sequence[str], columns: Sequence[str]) -> TableSummary:
    engine = engines.create_engine(url)
    try:
        digest = hashlib.sha256()
        count = 0
        for row in rows_in_key_order(engine, table, key, columns):
            digest.update(json.dumps([normalise(v) for v in row], default=str).encode())
            count += 1
        return TableSummary(count, digest.hexdigest()[:16])
    finally:
        engine.dispose()
