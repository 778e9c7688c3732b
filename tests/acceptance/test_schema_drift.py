"""Tables that change under a running job: schema drift, and tables dropped mid-sync.

The job syncs 12 rows in batches of 4, through the library so that a hook can change
the source or the destination right after batch 1 commits (between batches), or stop
the run there and change it before the job is resumed. Then the installed CLI resumes
the job, as a user would. Whatever changed, the job must fail at a batch boundary
with a message that says what changed and what to do, print no traceback, and leave
the destination exactly as batch 1 left it: never a batch read with other columns,
never a table quietly re-created that drops the rows already copied.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from syncbeat import PipelineSpec, RunHooks, Syncbeat
from syncbeat.engine.progress import Snapshot
from tests.support.cli import fails, output, run_cli, sync_args
from tests.support.jobs import only_job
from tests.support.sql import execute, has_table, table_rows

BATCH = 4
NAME = "items"

# Each change, and how a message names it.
CHANGES = {
    "added": (["ALTER TABLE items ADD COLUMN extra TEXT"], "column extra was added"),
    "dropped": (["ALTER TABLE items DROP COLUMN note"], "column note was dropped"),
    # SQLite changes a column's type by rebuilding the table.
    "type changed": (
        [
            "CREATE TABLE items_new (id INTEGER PRIMARY KEY, note TEXT, v TEXT)",
            "INSERT INTO items_new SELECT id, note, CAST(v AS TEXT) FROM items",
            "DROP TABLE items",
            "ALTER TABLE items_new RENAME TO items",
        ],
        "column v changed from integer to text",
    ),
}


@pytest.fixture
def source(sqlite_url: str) -> str:
    execute(
        sqlite_url,
        "CREATE TABLE items (id INTEGER PRIMARY KEY, note TEXT, v INTEGER)",
        *(f"INSERT INTO items VALUES ({i}, 'note {i}', {i * 10})" for i in range(1, 13)),
    )
    return sqlite_url


FIRST_BATCH = [(i, f"note {i}", i * 10) for i in range(1, BATCH + 1)]


def _run_until_first_batch(
    store: str, src: str, dst: str, after_first: Callable[[], None], *, stop: bool = False
) -> tuple[str, str]:
    """Sync in this process; once batch 1 has committed, call ``after_first``, and with
    ``stop`` end the run there as Ctrl-C would. Returns (status, message)."""
    done: list[bool] = []

    def on_progress(snapshot: Snapshot) -> None:
        if snapshot.rows_done >= BATCH and not done:
            done.append(True)
            after_first()

    spec = PipelineSpec(
        name=NAME,
        source_url=src,
        source_table="items",
        dest_url=dst,
        dest_table="items",
        batch_size=BATCH,
    )
    sb = Syncbeat(store)
    try:
        _, outcome = sb.sync(
            spec, RunHooks(on_progress=on_progress, should_stop=lambda: stop and bool(done))
        )
    finally:
        sb.close()
    assert done, "the run never committed batch 1"
    return outcome.status, outcome.message


def _resume(store: str, src: str, dst: str) -> subprocess.CompletedProcess[str]:
    """The same command as the job's first run: it resumes the job."""
    return run_cli(*sync_args(src, dst, table="items", batch_size=BATCH, name=NAME), store=store)


def _left_as_batch_one_left_it(store: str, dst: str) -> None:
    assert table_rows(dst, "items", ["id"]) == FIRST_BATCH
    job = only_job(store)
    assert job["status"] == "failed"
    assert job["rows_done"] == BATCH
    assert job["checkpoint"]["batch_index"] == 1


# -- the source's columns change ------------------------------------------------------------


@pytest.mark.parametrize("change", list(CHANGES))
def test_source_columns_change_between_batches(
    store_url: str, source: str, sqlite_url2: str, change: str
) -> None:
    statements, said = CHANGES[change]
    status, message = _run_until_first_batch(
        store_url, source, sqlite_url2, lambda: execute(source, *statements)
    )
    assert status == "failed"
    flat = " ".join(message.lower().split())
    assert "changed during the sync" in flat and said in flat, message
    _left_as_batch_one_left_it(store_url, sqlite_url2)

    resumed = _resume(store_url, source, sqlite_url2)
    fails(
        resumed, 1, "changed since job 1 started", said, "syncbeat job cancel 1", "--mode replace"
    )
    _left_as_batch_one_left_it(store_url, sqlite_url2)


@pytest.mark.parametrize("change", list(CHANGES))
def test_source_columns_change_before_a_resume(
    store_url: str, source: str, sqlite_url2: str, change: str
) -> None:
    status, _ = _run_until_first_batch(store_url, source, sqlite_url2, lambda: None, stop=True)
    assert status == "released"  # stopped after batch 1, to be resumed
    statements, said = CHANGES[change]
    execute(source, *statements)

    resumed = _resume(store_url, source, sqlite_url2)
    fails(resumed, 1, "changed since job 1 started", said, "--mode replace")
    _left_as_batch_one_left_it(store_url, sqlite_url2)


def test_following_the_hint_copies_the_new_columns(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    statements, _ = CHANGES["added"]
    execute(source, *statements, "UPDATE items SET extra = 'x' || id")
    _run_until_first_batch(store_url, source, sqlite_url2, lambda: None, stop=True)
    # The hint: cancel the job, and sync again with --mode replace.
    run_cli("job", "cancel", "1", store=store_url, check=True)
    result = run_cli(
        *sync_args(source, sqlite_url2, table="items", mode="replace", name=NAME), store=store_url
    )
    assert result.returncode == 0, output(result)
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(source, "items", ["id"])


# -- a table is dropped while the job runs ------------------------------------------------------


def test_source_table_dropped_mid_sync(store_url: str, source: str, sqlite_url2: str) -> None:
    status, message = _run_until_first_batch(
        store_url, source, sqlite_url2, lambda: execute(source, "DROP TABLE items")
    )
    assert status == "failed"
    assert "'items' was dropped or renamed during the sync" in message
    _left_as_batch_one_left_it(store_url, sqlite_url2)

    resumed = _resume(store_url, source, sqlite_url2)
    fails(resumed, 1, "'items' does not exist", "check the table name")
    _left_as_batch_one_left_it(store_url, sqlite_url2)


def test_destination_table_dropped_mid_sync(store_url: str, source: str, sqlite_url2: str) -> None:
    status, message = _run_until_first_batch(
        store_url, source, sqlite_url2, lambda: execute(sqlite_url2, "DROP TABLE items")
    )
    assert status == "failed"
    assert "no such table: items" in message and "dropped or renamed" in message
    job = only_job(store_url)
    assert job["status"] == "failed" and job["rows_done"] == BATCH

    # Re-creating the table and going on from the checkpoint would lose rows 1-4.
    resumed = _resume(store_url, source, sqlite_url2)
    fails(resumed, 1, "'items' is gone", "had written 4 rows", "cancel the job")
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["rows_done"] == BATCH
