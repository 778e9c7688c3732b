"""Full syncs on the embedded default, through the library."""

from __future__ import annotations

import sqlalchemy as sa

from syncbeat import PipelineSpec, Syncbeat
from tests.conftest import table_rows


def _source(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(10,2))"
        )
        conn.execute(
            sa.text("INSERT INTO items VALUES (:id, :name, :price)"),
            [{"id": i, "name": f"item {i} é", "price": i / 4} for i in range(1, rows + 1)],
        )
    engine.dispose()


def test_sqlite_to_sqlite_copies_every_row(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    _source(sqlite_url, 1234)
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="items",
        source_url=sqlite_url,
        source_table="items",
        dest_url=sqlite_url2,
        dest_table="items",
        batch_size=100,
    )
    job, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    assert job.rows_done == 1234
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(sqlite_url, "items", ["id"])
    kinds = [e.kind for e in sb.events(job.id, limit=1000)]
    assert kinds.count("batch") == 13
    assert kinds[-1] == "completed"
