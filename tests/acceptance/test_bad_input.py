"""Bad input, through the installed CLI, as a user meets it.

Every case must: exit non-zero (1: the job failed or the thing asked for cannot be done;
2: the command line or a URL cannot work as written), print a message that names the
problem and says what to do, print no traceback, and write nothing it should not: no
destination table, no rows from a bad batch, no job or pipeline for a usage error.
Databases that cannot be reached as written, and a literal password, are in
test_bad_input_connect.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from syncbeat import Syncbeat
from tests.support.cli import fails, output, pipeline_add_args, run_args, run_cli, sync_args
from tests.support.jobs import job_of, nothing_saved, only_job
from tests.support.sql import count_rows, has_table, table_rows
from tests.support.tables import make_items


@pytest.fixture
def source(sqlite_url: str) -> str:
    make_items(sqlite_url)
    return sqlite_url


# -- the source cannot be paged as asked: the job fails, nothing is written ---------------


def test_unknown_source_table(store_url: str, source: str, sqlite_url2: str) -> None:
    result = run_cli(
        *sync_args(source, sqlite_url2, table="nope", to_table="items"), store=store_url
    )
    fails(result, 1, "'nope' does not exist", "check the table name")
    assert not has_table(sqlite_url2, "items")
    job = only_job(store_url)
    assert job["status"] == "failed"
    assert "does not exist" in job["last_error"]


def test_missing_sqlite_source_file(store_url: str, tmp_path: Path, sqlite_url2: str) -> None:
    missing = tmp_path / "typo.db"
    result = run_cli(
        *sync_args(f"sqlite:///{missing}", sqlite_url2, table="items"), store=store_url
    )
    fails(result, 1, "sqlite file", "typo.db", "does not exist", "check the path")
    assert not missing.exists()  # no empty file left at the mistyped path
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["status"] == "failed"


def test_missing_key_column(store_url: str, source: str, sqlite_url2: str) -> None:
    result = run_cli(*sync_args(source, sqlite_url2, table="items", key="nope"), store=store_url)
    fails(result, 1, "key column(s) nope are not in the source", "--key")
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["status"] == "failed"


def test_non_unique_key_in_the_first_batch_writes_nothing(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    # grp is 1, 2, 0, 1, 2, 0, ...: the first page already holds a duplicate.
    result = run_cli(
        *sync_args(source, sqlite_url2, table="items", key="grp", batch_size=4), store=store_url
    )
    fails(result, 1, "key (grp) is not unique", "appears more than once", "--key")
    assert not has_table(sqlite_url2, "items") or count_rows(sqlite_url2, "items") == 0
    job = only_job(store_url)
    assert job["status"] == "failed"
    assert job["rows_done"] == 0
    assert "not unique" in job["last_error"]


def test_non_unique_key_in_a_later_batch_keeps_only_the_good_batches(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    # code is 1..8, then 9 twice: batches [1-4] and [5-8] are right, the third is not.
    result = run_cli(
        *sync_args(source, sqlite_url2, table="items", key="code", batch_size=4), store=store_url
    )
    fails(result, 1, "key (code) is not unique", "--key")
    written = table_rows(sqlite_url2, "items", ["id"])
    expected = [r for r in table_rows(source, "items", ["id"]) if r[3] <= 8]
    assert written == expected
    assert all(row[3] != 9 for row in written)
    job = only_job(store_url)
    assert job["status"] == "failed"
    assert job["rows_done"] == 8
    assert job["checkpoint"]["batch_index"] == 2


def test_null_in_a_key_column(store_url: str, source: str, sqlite_url2: str) -> None:
    result = run_cli(*sync_args(source, sqlite_url2, table="items", key="nk"), store=store_url)
    fails(result, 1, "key (nk) is null", "never null")
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["status"] == "failed"


def test_null_in_a_sqlite_primary_key(store_url: str, sqlite_url: str, sqlite_url2: str) -> None:
    # SQLite lets a non-INTEGER primary key hold NULL: caught on the first page.
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE codes (code TEXT PRIMARY KEY, v INTEGER)")
        conn.exec_driver_sql("INSERT INTO codes VALUES ('a', 1), (NULL, 2), ('b', 3)")
    engine.dispose()
    result = run_cli(*sync_args(sqlite_url, sqlite_url2, table="codes"), store=store_url)
    fails(result, 1, "key (code) is null", "--key")
    assert not has_table(sqlite_url2, "codes") or count_rows(sqlite_url2, "codes") == 0
    assert only_job(store_url)["status"] == "failed"


# -- options that cannot work: a usage error before anything is opened --------------------


@pytest.mark.parametrize("size", ["0", "-5"])
def test_batch_size_below_one(tmp_path: Path, source: str, sqlite_url2: str, size: str) -> None:
    store = tmp_path / "store.db"
    result = run_cli(
        *sync_args(source, sqlite_url2, table="items", batch_size=size), store=f"sqlite:///{store}"
    )
    fails(result, 2, "batch_size", "greater than or equal to 1")
    assert not store.exists()
    assert not has_table(sqlite_url2, "items")


def test_unknown_mode(tmp_path: Path, source: str, sqlite_url2: str) -> None:
    store = tmp_path / "store.db"
    result = run_cli(
        *sync_args(source, sqlite_url2, table="items", mode="merge"), store=f"sqlite:///{store}"
    )
    fails(result, 2, "mode", "'upsert'", "'append'", "'replace'")
    assert not store.exists()
    assert not has_table(sqlite_url2, "items")


@pytest.mark.parametrize("command", [["sync"], ["pipeline", "add", "p1"]])
@pytest.mark.parametrize("which", [["--table", "items", "--query", "SELECT * FROM items"], []])
def test_table_and_query_both_or_neither(
    tmp_path: Path, source: str, sqlite_url2: str, command: list[str], which: list[str]
) -> None:
    store = tmp_path / "store.db"
    result = run_cli(
        *command,
        "--from",
        source,
        *which,
        "--to",
        sqlite_url2,
        "--to-table",
        "items",
        store=f"sqlite:///{store}",
    )
    fails(result, 2, "exactly one of --table and --query")
    assert not store.exists()
    assert not has_table(sqlite_url2, "items")


# -- asking for something that is not there, or not possible ------------------------------


@pytest.mark.parametrize("action", ["show", "pause", "resume", "cancel"])
def test_unknown_job_id(store_url: str, action: str) -> None:
    result = run_cli("job", action, "4242", store=store_url)
    fails(result, 1, "there is no job 4242", "syncbeat jobs")


@pytest.mark.parametrize("command", [["run"], ["pipeline", "show"], ["pipeline", "rm"]])
def test_unknown_pipeline(store_url: str, command: list[str]) -> None:
    result = run_cli(*command, "no-such-pipeline", store=store_url)
    fails(result, 1, "no pipeline named 'no-such-pipeline'", "syncbeat pipeline list")
    nothing_saved(store_url)


def test_pausing_a_completed_job(store_url: str, source: str, sqlite_url2: str) -> None:
    run_cli(*sync_args(source, sqlite_url2, table="items"), store=store_url, check=True)
    job_id = only_job(store_url)["id"]
    result = run_cli("job", "pause", str(job_id), store=store_url)
    fails(result, 1, f"job {job_id} is completed", "cannot be paused")
    job = job_of(store_url, job_id)
    assert job["status"] == "completed" and job["requested"] is None
    assert count_rows(sqlite_url2, "items") == 10


def test_resuming_a_cancelled_job(store_url: str, source: str, sqlite_url2: str) -> None:
    run_cli(
        *pipeline_add_args("items-copy", source, sqlite_url2, table="items"),
        store=store_url,
        check=True,
    )
    queued = run_cli(*run_args("items-copy"), store=store_url, check=True)
    job_id = int(queued.stdout.strip())
    run_cli("job", "cancel", str(job_id), store=store_url, check=True)
    result = run_cli("job", "resume", str(job_id), store=store_url)
    fails(result, 1, f"job {job_id} is cancelled", "cannot be resumed", "syncbeat run items-copy")
    assert job_of(store_url, job_id)["status"] == "cancelled"
    assert not has_table(sqlite_url2, "items")


# -- a command run again after a failure ---------------------------------------------


def test_corrected_command_replaces_a_job_that_never_committed(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    """The first try of a sync fails on a typo before any batch; running the corrected
    command must just work, not ask the user to cancel a job that did nothing."""
    common = {"to_table": "items", "name": "items"}
    first = run_cli(*sync_args(source, sqlite_url2, table="itmes", **common), store=store_url)
    fails(first, 1, "'itmes' does not exist")
    second = run_cli(*sync_args(source, sqlite_url2, table="items", **common), store=store_url)
    assert second.returncode == 0, output(second)
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(source, "items", ["id"])
    statuses = [job.status for job in Syncbeat(store_url).jobs()]
    assert statuses == ["completed", "cancelled"]


def test_changed_command_keeps_a_job_with_progress(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    """A job that committed batches is not silently dropped when the options change."""
    common = {"batch_size": 3, "name": "items"}
    sb = Syncbeat(store_url)
    first = run_cli(*sync_args(source, sqlite_url2, table="items", **common), store=store_url)
    assert first.returncode == 0, output(first)
    job = sb.jobs()[0]
    # Make it unfinished again, as if it had failed half-way.
    with sb.store.begin() as conn:
        conn.exec_driver_sql(f"UPDATE jobs SET status = 'failed' WHERE id = {job.id}")
    changed = run_cli(
        *sync_args(source, sqlite_url2, table="items", to_table="other", **common), store=store_url
    )
    fails(changed, 1, "unfinished job", f"syncbeat job cancel {job.id}")
    assert not has_table(sqlite_url2, "other")
