"""Full syncs on the embedded default, through the library."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncbeat import PipelineSpec, RunHooks, Syncbeat
from tests.support.cli import pipeline_add_args, run_args, run_cli, sync_args
from tests.support.sql import table_rows


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


def _keyless_source(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE log (at INTEGER, line TEXT)")
        conn.execute(
            sa.text("INSERT INTO log VALUES (:at, :line)"),
            [{"at": i // 3, "line": f"line {i}"} for i in range(rows)],
        )
    engine.dispose()


def _all_rows(url: str, table: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY at, line").all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_source_without_key_falls_back_to_offset_paging_with_a_warning(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    _keyless_source(sqlite_url, 250)
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="log",
        source_url=sqlite_url,
        source_table="log",
        dest_url=sqlite_url2,
        dest_table="log",
        mode="append",
        batch_size=40,
    )
    stops = iter([False, False, True])
    messages: list[str] = []
    hooks = RunHooks(should_stop=lambda: next(stops, False), on_message=messages.append)
    job, outcome = sb.sync(spec, hooks)
    assert outcome.status == "released"  # stopped after two batches
    job, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    assert _all_rows(sqlite_url2, "log") == _all_rows(sqlite_url, "log")
    assert any("OFFSET paging" in m and "--key" in m for m in messages)
    warnings = [e for e in sb.events(job.id, limit=1000) if e.kind == "warning"]
    assert warnings and "skips or repeats rows" in warnings[0].message
    sb.close()


def test_upsert_without_any_key_is_refused_before_writing(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    _keyless_source(sqlite_url, 10)
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="log",
        source_url=sqlite_url,
        source_table="log",
        dest_url=sqlite_url2,
        dest_table="log",
        mode="upsert",
    )
    job, outcome = sb.sync(spec)
    assert outcome.status == "failed"
    assert "Upsert mode needs key columns" in (job.last_error or "")
    engine = sa.create_engine(sqlite_url2)
    with engine.connect() as conn:
        assert not sa.inspect(conn).has_table("log")
    engine.dispose()
    sb.close()


def test_replace_finish_tried_again_after_a_lost_commit_answer_changes_nothing(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    """The swap of a replace-mode job committed, but its answer was lost: the runner
    tries the finishing step again. That try must see the work done, not fail the job
    on a staging table that is no longer there."""
    from syncbeat.connectors.destinations import SqlDestination
    from syncbeat.store.schema import jobs

    _source(sqlite_url, 300)
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="items",
        source_url=sqlite_url,
        source_table="items",
        dest_url=sqlite_url2,
        dest_table="items",
        mode="replace",
        batch_size=100,
    )
    job, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    with sb.store.begin() as conn:
        uid = conn.execute(sa.select(jobs.c.uid).where(jobs.c.id == job.id)).scalar_one()
    dest = SqlDestination(sqlite_url2, "items", "replace")
    try:
        dest.finish(uid, job.lease_epoch)  # the retry
    finally:
        dest.dispose()
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(sqlite_url, "items", ["id"])


def test_the_offset_paging_warning_is_shown_once(
    store_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    """Once in the foreground (on the progress bar, not also as a log line), and once in
    a worker's log, where nobody watches a bar."""
    _keyless_source(sqlite_url, 30)
    common: dict[str, Any] = {"table": "log", "mode": "append"}
    synced = run_cli(*sync_args(sqlite_url, sqlite_url2, **common), store=store_url)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert (synced.stdout + synced.stderr).count("OFFSET paging") == 1, synced.stderr
    added = pipeline_add_args("bg", sqlite_url, sqlite_url2, **common, to_table="log_bg")
    run_cli(*added, store=store_url, check=True)
    run_cli(*run_args("bg"), store=store_url, check=True)
    worked = run_cli("worker", "--once", "--poll-interval", "0.05", store=store_url, check=True)
    assert (worked.stdout + worked.stderr).count("OFFSET paging") == 1, worked.stderr
    assert _all_rows(sqlite_url2, "log_bg") == _all_rows(sqlite_url, "log")
