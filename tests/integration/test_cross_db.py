"""Full syncs between databases of the same and of different kinds, through the library.

The source tables hold the column types real tables have (big integers, unicode text with
4-byte characters, decimals, doubles, booleans, dates, naive and aware timestamps, JSON)
and a NULL in every nullable column (typed_table.py); the destination must hold the
same data, row by row and column by column, after many batches. Then the three modes, a
composite key and a SELECT as the source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, RunHooks, Snapshot, Syncbeat
from syncbeat.engine.compare import normalise
from tests.integration.typed_table import ROWS, dialect_of, make_source, null_counts, value_row
from tests.support.specs import query_copy, table_copy
from tests.support.sql import column_types, execute, primary_key, table_names, table_rows

BATCH = 200

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


def run_sync(
    store_url: str, spec: PipelineSpec, on_progress: Callable[[Snapshot], None] | None = None
) -> tuple[Any, list[Any]]:
    sb = Syncbeat(store_url)
    try:
        hooks = RunHooks(on_progress=on_progress) if on_progress else RunHooks()
        job, outcome = sb.sync(spec, hooks)
        assert outcome.status == "completed", outcome.message
        assert job.status == "completed"
        return job, sb.events(job.id, limit=10_000)
    finally:
        sb.close()


PAIRS = [
    pytest.param(("sqlite_url", "sqlite_url2"), id="sqlite-to-sqlite"),
    pytest.param(("pg_url", "pg_url2"), id="pg-to-pg", marks=PG),
    pytest.param(("mariadb_url", "pg_url"), id="mariadb-to-pg", marks=[PG, MARIADB]),
    pytest.param(("pg_url", "mariadb_url"), id="pg-to-mariadb", marks=[PG, MARIADB]),
    pytest.param(("sqlite_url", "pg_url"), id="sqlite-to-pg", marks=PG),
]
SAME_KIND = [
    pytest.param(("sqlite_url", "sqlite_url2"), id="sqlite-to-sqlite"),
    pytest.param(("pg_url", "pg_url2"), id="pg-to-pg", marks=PG),
]


@pytest.fixture
def urls(request: pytest.FixtureRequest) -> tuple[str, str]:
    source, dest = request.param
    return request.getfixturevalue(source), request.getfixturevalue(dest)


@pytest.mark.parametrize("urls", PAIRS, indirect=True)
def test_full_sync_copies_every_column_of_every_row(store_url: str, urls: tuple[str, str]) -> None:
    src, dst = urls
    make_source(src)
    spec = table_copy("typed", src, dst, batch_size=BATCH)
    job, events = run_sync(store_url, spec)

    assert job.rows_done == job.rows_total == ROWS
    assert [e.kind for e in events].count("batch") == ROWS // BATCH
    source_rows = table_rows(src, "src", ["id"])
    assert len(source_rows) == ROWS
    assert source_rows[0][2] == value_row(1, with_tz=False)["name"]  # emoji and all
    dest_rows = table_rows(dst, "dst", ["id"])
    assert len(dest_rows) == ROWS
    for expected, got in zip(source_rows, dest_rows, strict=True):
        assert got == expected
    # NULL stays SQL NULL in every column (not the JSON 'null', not an empty string).
    source_nulls = null_counts(src, "src")
    assert all(n > 0 for name, n in source_nulls.items() if name != "id"), source_nulls
    assert null_counts(dst, "dst") == source_nulls
    assert primary_key(dst, "dst") == ["id"]
    assert table_names(dst) == {"dst", "_syncbeat_state"}


@pytest.mark.postgres
@pytest.mark.mariadb
def test_pg_to_mariadb_stores_aware_timestamps_as_utc_and_keeps_4_byte_text(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    make_source(pg_url, ids=range(1, 301))
    # An old database whose default character set cannot hold emoji.
    database = sa.engine.make_url(mariadb_url).database
    execute(mariadb_url, f"ALTER DATABASE {database} CHARACTER SET latin1", as_text=True)
    spec = table_copy("tz", pg_url, mariadb_url, batch_size=64)
    run_sync(store_url, spec)
    # Again, into the table that now exists (its JSON column read back from MariaDB).
    execute(pg_url, 'UPDATE src SET doc = \'{"again": "✓"}\' WHERE id <= 10', as_text=True)
    run_sync(store_url, spec)
    assert table_rows(mariadb_url, "dst", ["id"]) == table_rows(pg_url, "src", ["id"])
    assert null_counts(mariadb_url, "dst") == null_counts(pg_url, "src")

    engine = sa.create_engine(mariadb_url)
    try:
        with engine.connect() as conn:
            charset, collation = conn.execute(
                sa.text(
                    "SELECT c.CHARACTER_SET_NAME, t.TABLE_COLLATION"
                    " FROM information_schema.COLUMNS c"
                    " JOIN information_schema.TABLES t USING (TABLE_SCHEMA, TABLE_NAME)"
                    " WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = 'dst'"
                    " AND c.COLUMN_NAME = 'name'"
                )
            ).one()
            stored: dict[int, Any] = dict(conn.execute(sa.text("SELECT id, at_tz FROM dst")).all())
            emoji = conn.execute(sa.text("SELECT name FROM dst WHERE id = 1")).scalar_one()
    finally:
        engine.dispose()
    assert charset == "utf8mb4" and collation.startswith("utf8mb4"), (charset, collation)
    assert emoji == value_row(1, with_tz=True)["name"]
    assert "😀" in emoji

    types = column_types(mariadb_url, "dst")
    at_tz = types["at_tz"]
    assert isinstance(at_tz, sa.DateTime) and not at_tz.timezone
    assert at_tz.fsp == 6  # type: ignore[attr-defined]  # microseconds kept
    for i in range(1, 301):
        aware = value_row(i, with_tz=True)["at_tz"]
        expected = None if aware is None else aware.astimezone(dt.UTC).replace(tzinfo=None)
        assert stored[i] == expected, i


@pytest.mark.postgres
@pytest.mark.mariadb
def test_mariadb_to_pg_keeps_booleans_and_json_as_such(
    store_url: str, mariadb_url: str, pg_url: str
) -> None:
    make_source(mariadb_url, ids=range(1, 201))
    spec = table_copy("types", mariadb_url, pg_url, batch_size=64)
    run_sync(store_url, spec)

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            pg_types: dict[str, str] = dict(
                conn.execute(
                    sa.text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = 'dst'"
                    )
                ).all()
            )
            flags: dict[int, Any] = dict(conn.execute(sa.text("SELECT id, flag FROM dst")).all())
    finally:
        engine.dispose()
    assert pg_types["flag"] == "boolean"
    assert pg_types["amount"] == "numeric"
    assert pg_types["ratio"] == "double precision"
    assert pg_types["at"] == "timestamp without time zone"
    assert pg_types["doc"] in ("json", "jsonb")
    for i, flag in flags.items():
        assert flag is value_row(i, with_tz=False)["flag"], i


# -- modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("urls", SAME_KIND, indirect=True)
def test_upsert_twice_is_idempotent_and_picks_up_changed_rows(
    store_url: str, urls: tuple[str, str]
) -> None:
    src, dst = urls
    make_source(src)
    spec = table_copy("up", src, dst, mode="upsert", batch_size=BATCH)
    first, _ = run_sync(store_url, spec)
    after_first = table_rows(dst, "dst", ["id"])
    assert after_first == table_rows(src, "src", ["id"])

    second, _ = run_sync(store_url, spec)
    assert second.id != first.id and second.rows_done == ROWS
    assert table_rows(dst, "dst", ["id"]) == after_first

    execute(
        src,
        "UPDATE src SET name = 'changed ✓', amount = 0.01, flag = NULL WHERE id % 100 = 1",
        "UPDATE src SET label = NULL, ratio = -0.5 WHERE id BETWEEN 1000 AND 1010",
        as_text=True,
    )
    make_source(src, ids=range(ROWS + 1, ROWS + 151), create=False)
    third, _ = run_sync(store_url, spec)
    assert third.rows_done == ROWS + 150
    now = table_rows(dst, "dst", ["id"])
    assert now == table_rows(src, "src", ["id"])
    changed = [r for r in now if r[2] == "changed ✓"]
    assert len(changed) == ROWS // 100
    assert all(r[4] == "0.01" and r[6] is None for r in changed)
    assert null_counts(dst, "dst") == null_counts(src, "src")


@pytest.mark.parametrize("urls", SAME_KIND, indirect=True)
def test_append_adds_to_the_rows_already_there(store_url: str, urls: tuple[str, str]) -> None:
    src, dst = urls
    make_source(src)
    make_source(src, "more", ids=range(ROWS + 1, ROWS + 301))
    run_sync(
        store_url,
        table_copy("ap1", src, dst, mode="append", batch_size=BATCH),
    )
    assert table_rows(dst, "dst", ["id"]) == table_rows(src, "src", ["id"])

    job, events = run_sync(
        store_url,
        table_copy("ap2", src, dst, table="more", mode="append", batch_size=BATCH),
    )
    assert job.rows_done == 300
    assert [e.kind for e in events].count("batch") == 2
    assert table_rows(dst, "dst", ["id"]) == (
        table_rows(src, "src", ["id"]) + table_rows(src, "more", ["id"])
    )


@pytest.mark.parametrize("urls", SAME_KIND, indirect=True)
def test_replace_swaps_in_a_fresh_copy_and_leaves_no_staging_table(
    store_url: str, urls: tuple[str, str]
) -> None:
    src, dst = urls
    make_source(src)
    spec = table_copy("rep", src, dst, mode="replace", batch_size=BATCH)
    run_sync(store_url, spec)
    assert table_rows(dst, "dst", ["id"]) == table_rows(src, "src", ["id"])

    # The old copy has rows the source no longer has, and stale values.
    execute(
        src,
        "DELETE FROM src WHERE id % 10 = 0",
        "UPDATE src SET name = 'new' WHERE id < 50",
        as_text=True,
    )
    make_source(dst, "dst", ids=range(ROWS + 1, ROWS + 101), create=False)
    old = table_rows(dst, "dst", ["id"])
    assert len(old) == ROWS + 100

    seen: list[tuple[list[tuple[Any, ...]], set[str]]] = []

    def during(snapshot: Snapshot) -> None:
        if snapshot.rows_done in (BATCH, 5 * BATCH):
            # Readers see the old table, whole, until the swap; rows load aside.
            seen.append((table_rows(dst, "dst", ["id"]), table_names(dst)))

    job, _ = run_sync(store_url, spec.model_copy(update={"name": "rep2"}), during)
    assert len(seen) == 2, "the sync never reported progress mid-way"
    for rows, names in seen:
        assert rows == old
        assert len([n for n in names if "__syncbeat_" in n]) == 1, names

    new = table_rows(dst, "dst", ["id"])
    assert new == table_rows(src, "src", ["id"])
    assert len(new) == ROWS * 9 // 10 == job.rows_done
    assert not {r[0] for r in new} & {ROWS + 1, 10, 20}
    assert table_names(dst) == {"dst", "_syncbeat_state"}
    assert primary_key(dst, "dst") == ["id"]


# -- composite keys and queries ------------------------------------------------------------

_ORDERS = """
    CREATE TABLE orders (
        region VARCHAR(20) NOT NULL,
        order_no INTEGER NOT NULL,
        qty INTEGER NOT NULL,
        unit_price NUMERIC(10, 2) NOT NULL,
        note VARCHAR(100)
    )"""
# Keys that differ only in case or in a trailing space are different rows.
REGIONS = ["north", "North", "south", "east", "east ", "west-1"]


def _orders() -> list[dict[str, Any]]:
    return [
        {
            "region": region,
            "order_no": n,
            "qty": (n * 7 + r) % 9 - 2,
            "unit_price": Decimal(f"{(n * 13 + r) % 500}.{n % 100:02d}"),
            "note": None if n % 11 == 0 else f"order {n} ref-{r}",
        }
        for r, region in enumerate(REGIONS)
        for n in range(1, 161)
    ]


QUERY = (
    "SELECT region, order_no, qty, qty * unit_price AS total, UPPER(note) AS note_upper "
    "FROM orders WHERE qty > 0"
)


@pytest.mark.parametrize(
    "urls",
    [
        pytest.param(("pg_url", "mariadb_url"), id="pg-to-mariadb", marks=[PG, MARIADB]),
        pytest.param(("sqlite_url", "pg_url"), id="sqlite-to-pg", marks=PG),
        pytest.param(("sqlite_url", "sqlite_url2"), id="sqlite-to-sqlite"),
    ],
    indirect=True,
)
def test_query_source_with_composite_key(store_url: str, urls: tuple[str, str]) -> None:
    src, dst = urls
    orders = _orders()
    execute(src, _ORDERS, as_text=True)
    engine = sa.create_engine(src)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO orders VALUES (:region, :order_no, :qty, :unit_price, :note)"),
            [{**o, "unit_price": str(o["unit_price"])} for o in orders],
        )
    engine.dispose()

    spec = query_copy(
        "totals", src, QUERY, dst, key=["region", "order_no"], dest_table="order_totals",
        batch_size=37,
    )  # fmt: skip
    job, events = run_sync(store_url, spec)

    # SQLite computes in floating point (its NUMERIC values are REAL), the others exactly.
    number = float if dialect_of(src) == "sqlite" else Decimal
    expected = sorted(
        (
            o["region"],
            o["order_no"],
            o["qty"],
            o["qty"] * number(o["unit_price"]),
            None if o["note"] is None else o["note"].upper(),
        )
        for o in orders
        if o["qty"] > 0
    )
    assert 300 < len(expected) < len(orders)
    assert job.rows_done == len(expected)
    assert [e.kind for e in events].count("batch") == -(-len(expected) // 37)
    assert primary_key(dst, "order_totals") == ["region", "order_no"]
    types = column_types(dst, "order_totals")
    assert isinstance(types["qty"], sa.Integer)
    assert isinstance(types["total"], sa.Numeric | sa.Float), types["total"]  # not text
    got = table_rows(dst, "order_totals", ["region", "order_no"])
    # Key order differs between databases' collations; compare as sets of rows, whole.
    assert sorted(got, key=repr) == sorted(
        (tuple(normalise(v) for v in row) for row in expected), key=repr
    )

    # Upsert on the composite key: a second run changes nothing, a changed row is updated.
    execute(
        src,
        "UPDATE orders SET qty = 1, note = 'again' WHERE region = 'North' AND order_no = 2",
        as_text=True,
    )
    run_sync(store_url, spec)
    rows = {(r[0], r[1]): r for r in table_rows(dst, "order_totals", ["region", "order_no"])}
    assert len(rows) == len(expected) + (0 if ("North", 2) in {e[:2] for e in expected} else 1)
    north2 = next(o for o in orders if o["region"] == "North" and o["order_no"] == 2)
    assert rows[("North", 2)][2:] == (1, normalise(number(north2["unit_price"])), "AGAIN")
    lower = next(o for o in orders if o["region"] == "north" and o["order_no"] == 2)
    if lower["qty"] > 0:
        assert rows[("north", 2)][4] == normalise(lower["note"].upper())
