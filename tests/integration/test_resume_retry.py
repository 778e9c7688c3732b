"""Stopping and starting a sync without losing or repeating a row: interrupt and resume,
a transient error retried, retries exhausted then resumed, pause and cancel.

The destination tables here have no primary key and the mode is append, so a batch
written twice would show up as duplicate rows: "every row exactly once" is checked, not
hidden by a key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import InvalidTransition, PipelineSpec, RunHooks, Snapshot, Syncbeat
from tests.support import sql
from tests.support.jobs import batch_events, events, kinds
from tests.support.locks import Terminator
from tests.support.specs import table_copy
from tests.support.sql import count_rows, execute, table_rows

ROWS = 2_000
BATCH = 100
BATCHES = ROWS // BATCH


def make_tables(src: str, dst: str) -> None:
    """A source with a primary key, and a destination table without one."""
    columns = "payload VARCHAR(200), amount NUMERIC(12, 2), at TIMESTAMP"
    execute(src, f"CREATE TABLE src (id BIGINT PRIMARY KEY, {columns})")
    execute(dst, f"CREATE TABLE dst (id BIGINT, {columns})")
    rows = [
        {
            "id": i,
            "payload": f"row {i} ✓ 😀" if i % 9 else None,
            "amount": str(Decimal(i * 37 % 100_000) / 100),
            "at": f"2024-05-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{i * 7 % 60:02d}",
        }
        for i in range(1, ROWS + 1)
    ]
    with sql.engine(src) as engine, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO src VALUES (:id, :payload, :amount, :at)"), rows)


def dest_count(url: str) -> int:
    return count_rows(url, "dst")


def assert_copied_exactly_once(src: str, dst: str) -> None:
    twice = sql.query(
        dst, "SELECT id, count(*) FROM dst GROUP BY id HAVING count(*) > 1 ORDER BY id"
    )
    assert twice == [], f"rows written more than once: {twice[:10]}"
    assert dest_count(dst) == ROWS
    assert table_rows(dst, "dst", ["id"]) == table_rows(src, "src", ["id"])


def spec_for(src: str, dst: str, **changes: Any) -> PipelineSpec:
    return table_copy("resumable", src, dst, mode="append", batch_size=BATCH, **changes)


@pytest.fixture
def sb(store_url: str) -> Iterator[Syncbeat]:
    handle = Syncbeat(store_url)
    yield handle
    handle.close()


def on_rows(rows_done: int, action: Callable[[], None]) -> Callable[[Snapshot], None]:
    """An on_progress hook that runs ``action`` once, when ``rows_done`` rows are in."""
    done = False

    def hook(snapshot: Snapshot) -> None:
        nonlocal done
        if not done and snapshot.rows_done >= rows_done:
            done = True
            action()

    return hook


PAIRS = [
    pytest.param(("sqlite_url", "sqlite_url2"), id="sqlite-to-sqlite"),
    pytest.param(("pg_url", "pg_url2"), id="pg-to-pg", marks=pytest.mark.postgres),
]


@pytest.fixture
def urls(request: pytest.FixtureRequest) -> tuple[str, str]:
    source, dest = request.param
    src, dst = request.getfixturevalue(source), request.getfixturevalue(dest)
    make_tables(src, dst)
    return src, dst


@pytest.fixture
def pg_urls(pg_url: str, pg_url2: str) -> tuple[str, str]:
    make_tables(pg_url, pg_url2)
    return pg_url, pg_url2


# -- a: interrupted, then resumed -----------------------------------------------------------


@pytest.mark.parametrize("urls", PAIRS, indirect=True)
def test_interrupted_sync_resumes_at_its_checkpoint(sb: Syncbeat, urls: tuple[str, str]) -> None:
    src, dst = urls
    spec = spec_for(src, dst)
    seen: list[int] = []
    hooks = RunHooks(
        should_stop=lambda: bool(seen) and seen[-1] >= 7 * BATCH,
        on_progress=lambda s: seen.append(s.rows_done),
    )
    job, outcome = sb.sync(spec, hooks)

    assert outcome.status == "released", outcome.message
    assert job.status == "queued"
    assert job.rows_done == 7 * BATCH and job.attempt == 0  # stopping costs no attempt
    assert job.checkpoint is not None
    assert job.checkpoint["batch_index"] == 7 and job.checkpoint["last_key"] == [7 * BATCH]
    assert dest_count(dst) == 7 * BATCH  # exactly the committed batches
    assert kinds(sb, job.id)[-1] == "released"

    again, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    assert again.id == job.id and again.rows_done == ROWS
    resumed = events(sb, job.id, "resumed")
    assert len(resumed) == 1
    assert resumed[0].data is not None
    assert resumed[0].data["batch_index"] == 7 and resumed[0].data["rows_done"] == 7 * BATCH
    assert resumed[0].data["last_key"] == [7 * BATCH]
    assert "batch 7" in resumed[0].message and "row 700" in resumed[0].message
    # No batch was done twice: 7 before the stop, the other 13 after.
    assert [e.data["rows_done"] for e in batch_events(sb, job.id) if e.data] == [
        BATCH * n for n in range(1, BATCHES + 1)
    ]
    assert_copied_exactly_once(src, dst)


# -- b: a transient error is retried ---------------------------------------------------------


@pytest.mark.postgres
def test_connection_killed_mid_batch_is_retried_and_recorded(
    sb: Syncbeat, pg_urls: tuple[str, str]
) -> None:
    src, dst = pg_urls
    terminator = Terminator(dst)
    try:
        job, outcome = sb.sync(
            spec_for(src, dst), RunHooks(on_progress=on_rows(5 * BATCH, terminator.hold_lock))
        )
    finally:
        terminator.close()
    assert terminator.error is None, terminator.error
    assert terminator.terminated is not None

    assert outcome.status == "completed", outcome.message
    assert job.rows_done == ROWS and job.last_error is None
    retries = events(sb, job.id, "retry")
    assert len(retries) == 1
    assert retries[0].data is not None
    assert retries[0].data["batch"] == 6 and retries[0].data["attempt"] == 1
    assert "connection" in retries[0].message.lower()
    batches = batch_events(sb, job.id)
    assert len(batches) == BATCHES  # the failed try committed nothing, nothing redone
    assert [e.data["retries"] for e in batches if e.data] == [
        1 if n == 6 else 0 for n in range(1, BATCHES + 1)
    ]
    assert_copied_exactly_once(src, dst)


# -- c: retries exhausted: failed on that batch, and run again from it ------------------------


@pytest.mark.postgres
def test_retries_exhausted_fail_the_job_and_a_rerun_continues(
    sb: Syncbeat, pg_urls: tuple[str, str]
) -> None:
    src, dst = pg_urls
    # Writers of the destination give up waiting for a lock after 200 ms (SQLSTATE
    # 55P03, transient); a lock held by another session makes every try time out.
    database = make_url(dst).database
    execute(dst, f"ALTER DATABASE {database} SET lock_timeout = '200ms'", autocommit=True)
    locker = sa.create_engine(dst)
    lock = locker.connect()

    def hold_lock() -> None:
        lock.begin()
        lock.exec_driver_sql("LOCK TABLE dst IN ACCESS EXCLUSIVE MODE")

    spec = spec_for(src, dst, batch_max_retries=1)
    try:
        job, outcome = sb.sync(spec, RunHooks(on_progress=on_rows(4 * BATCH, hold_lock)))
    finally:
        lock.rollback()
        lock.close()
        locker.dispose()

    assert outcome.status == "failed"
    assert job.status == "failed"
    assert job.last_error is not None
    assert "Batch 5 failed after 1 retries" in job.last_error
    assert "lock" in job.last_error.lower()
    assert job.checkpoint is not None
    assert job.checkpoint["batch_index"] == 4 and job.rows_done == 4 * BATCH
    assert dest_count(dst) == 4 * BATCH
    history = events(sb, job.id)
    retries = [e for e in history if e.kind == "retry"]
    assert len(retries) == 1 and (retries[0].data or {}).get("batch") == 5
    assert history[-1].kind == "failed"

    again, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    assert again.id == job.id and again.rows_done == ROWS and again.last_error is None
    resumed = events(sb, job.id, "resumed")
    assert [(e.data or {}).get("batch_index") for e in resumed] == [4]
    assert len(batch_events(sb, job.id)) == BATCHES
    assert_copied_exactly_once(src, dst)


# -- d: pause and cancel -----------------------------------------------------------------


@pytest.mark.parametrize("urls", PAIRS[:1], indirect=True)
def test_pause_keeps_the_checkpoint_and_sync_resumes(sb: Syncbeat, urls: tuple[str, str]) -> None:
    src, dst = urls
    spec = spec_for(src, dst)

    def pause() -> None:
        job_id = sb.open_job(spec.name)
        assert job_id is not None
        assert sb.pause(job_id).requested == "pause"

    job, outcome = sb.sync(spec, RunHooks(on_progress=on_rows(3 * BATCH, pause)))
    assert outcome.status == "paused", outcome.message
    assert job.status == "paused" and job.requested is None
    # Honoured at the next batch boundary: at most the batch in flight is finished.
    assert 3 * BATCH <= job.rows_done <= 4 * BATCH
    assert job.checkpoint is not None
    assert job.checkpoint["rows_done"] == job.rows_done == dest_count(dst)
    assert job.checkpoint["batch_index"] == job.rows_done // BATCH
    assert kinds(sb, job.id)[-1] == "paused"
    assert sb.job(job.id).status == "paused"

    again, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    assert again.id == job.id and again.rows_done == ROWS
    resumed = events(sb, job.id, "resumed")
    assert [(e.data or {}).get("rows_done") for e in resumed] == [job.rows_done]
    assert len(batch_events(sb, job.id)) == BATCHES
    assert_copied_exactly_once(src, dst)


@pytest.mark.parametrize("urls", PAIRS[:1], indirect=True)
def test_cancel_is_final(sb: Syncbeat, urls: tuple[str, str]) -> None:
    src, dst = urls
    spec = spec_for(src, dst)

    def cancel() -> None:
        job_id = sb.open_job(spec.name)
        assert job_id is not None
        sb.cancel(job_id)

    job, outcome = sb.sync(spec, RunHooks(on_progress=on_rows(3 * BATCH, cancel)))
    assert outcome.status == "cancelled", outcome.message
    assert job.status == "cancelled" and job.requested is None
    assert 3 * BATCH <= job.rows_done <= 4 * BATCH
    assert dest_count(dst) == job.rows_done  # whole batches only
    assert kinds(sb, job.id)[-1] == "cancelled"
    with pytest.raises(InvalidTransition):
        sb.resume(job.id)
    with pytest.raises(InvalidTransition):
        sb.run_job(job.id)
    assert sb.job(job.id).status == "cancelled"
    assert sb.open_job(spec.name) is None

    # A new sync is a new job from the start, not a resumption of the cancelled one.
    execute(dst, "DELETE FROM dst")
    fresh, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    assert fresh.id != job.id
    assert "resumed" not in kinds(sb, fresh.id)
    assert_copied_exactly_once(src, dst)


def test_simultaneous_enqueues_share_one_job(
    pg_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    """Eight callers queue one pipeline at the same instant on a PostgreSQL store: the
    one-open-job index refuses all inserts but one, and every caller gets that job back
    instead of an error."""
    store = Syncbeat(pg_url)
    make_tables(sqlite_url, sqlite_url2)
    store.save_pipeline(spec_for(sqlite_url, sqlite_url2))
    barrier = threading.Barrier(8)
    answers: list[int] = []
    failures: list[BaseException] = []

    def enqueue() -> None:
        caller = Syncbeat(pg_url)
        try:
            barrier.wait()
            answers.append(caller.enqueue("resumable").id)
        except BaseException as exc:
            failures.append(exc)
        finally:
            caller.close()

    threads = [threading.Thread(target=enqueue) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    store.close()
    assert failures == []
    assert len(answers) == 8 and len(set(answers)) == 1


def test_simultaneous_creates_of_one_pipeline_give_one_pipeline_and_clear_refusals(
    pg_url: str, sqlite_url: str, sqlite_url2: str
) -> None:
    """What two `POST /pipelines` of one name at once do: one creates it, the others are
    told the name is taken (the API's 409), none fails on the store's unique key."""
    from syncbeat import PipelineExists

    barrier = threading.Barrier(6)
    created: list[str] = []
    failures: list[BaseException] = []

    def create() -> None:
        caller = Syncbeat(pg_url)
        try:
            barrier.wait()
            created.append(
                caller.save_pipeline(spec_for(sqlite_url, sqlite_url2), exists=False).name
            )
        except PipelineExists:
            pass
        except BaseException as exc:
            failures.append(exc)
        finally:
            caller.close()

    Syncbeat(pg_url).close()  # the store's schema first, so the callers race on the insert
    threads = [threading.Thread(target=create) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert created == ["resumable"]
