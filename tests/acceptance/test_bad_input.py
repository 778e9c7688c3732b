"""Bad input, through the installed CLI, as a user meets it.

Every case must: exit non-zero (1: the job failed or the thing asked for cannot be done;
2: the command line or a URL cannot work as written), print a message that names the
problem and says what to do, print no traceback, and write nothing it should not: no
destination table, no rows from a bad batch, no job or pipeline for a usage error.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import Syncbeat
from tests.support.cli import fails, output, run_all, run_cli
from tests.support.databases import MARIADB_URL
from tests.support.jobs import job_of, nothing_saved, only_job
from tests.support.sql import count_rows, has_table, table_rows

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


# -- the source ------------------------------------------------------------------------


def _make_source(url: str) -> None:
    """items: id primary key; grp repeats; nk is NULL in one row; code is unique except
    for its last two rows."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, grp INTEGER, nk INTEGER, "
            "code INTEGER, name TEXT)"
        )
        conn.execute(
            sa.text("INSERT INTO items VALUES (:id, :grp, :nk, :code, :name)"),
            [
                {
                    "id": i,
                    "grp": i % 3,
                    "nk": None if i == 7 else i,
                    "code": min(i, 9),
                    "name": f"item {i}",
                }
                for i in range(1, 11)
            ],
        )
    engine.dispose()


@pytest.fixture
def source(sqlite_url: str) -> str:
    _make_source(sqlite_url)
    return sqlite_url


@pytest.fixture
def mariadb_user(mariadb_url: str) -> Iterator[tuple[str, str]]:
    """A MariaDB user with a password and every right on the test database:
    (its URL with the right password, the password)."""
    name, password = f"sbu_{uuid.uuid4().hex[:10]}", f"Pw{uuid.uuid4().hex}"
    database = make_url(mariadb_url).database
    admin = sa.create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # %% is pymysql's escape of %: the user may connect from any host.
        conn.exec_driver_sql(f"CREATE USER '{name}'@'%%' IDENTIFIED BY '{password}'")
        conn.exec_driver_sql(f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{name}'@'%%'")
    url = make_url(mariadb_url).set(username=name, password=password)
    try:
        yield url.render_as_string(hide_password=False), password
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{name}'@'%%'")
        admin.dispose()


# -- the source cannot be paged as asked: the job fails, nothing is written ---------------


def test_unknown_source_table(store_url: str, source: str, sqlite_url2: str) -> None:
    result = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "nope",
        "--to",
        sqlite_url2,
        "--to-table",
        "items",
        store=store_url,
    )
    fails(result, 1, "'nope' does not exist", "check the table name")
    assert not has_table(sqlite_url2, "items")
    job = only_job(store_url)
    assert job["status"] == "failed"
    assert "does not exist" in job["last_error"]


def test_missing_sqlite_source_file(store_url: str, tmp_path: Path, sqlite_url2: str) -> None:
    missing = tmp_path / "typo.db"
    result = run_cli(
        "sync",
        "--from",
        f"sqlite:///{missing}",
        "--table",
        "items",
        "--to",
        sqlite_url2,
        store=store_url,
    )
    fails(result, 1, "sqlite file", "typo.db", "does not exist", "check the path")
    assert not missing.exists()  # no empty file left at the mistyped path
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["status"] == "failed"


def test_missing_key_column(store_url: str, source: str, sqlite_url2: str) -> None:
    result = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--key",
        "nope",
        "--to",
        sqlite_url2,
        store=store_url,
    )
    fails(result, 1, "key column(s) nope are not in the source", "--key")
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["status"] == "failed"


def test_non_unique_key_in_the_first_batch_writes_nothing(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    # grp is 1, 2, 0, 1, 2, 0, ...: the first page already holds a duplicate.
    result = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--key",
        "grp",
        "--to",
        sqlite_url2,
        "--batch-size",
        "4",
        store=store_url,
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
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--key",
        "code",
        "--to",
        sqlite_url2,
        "--batch-size",
        "4",
        store=store_url,
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
    result = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--key",
        "nk",
        "--to",
        sqlite_url2,
        store=store_url,
    )
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
    result = run_cli(
        "sync", "--from", sqlite_url, "--table", "codes", "--to", sqlite_url2, store=store_url
    )
    fails(result, 1, "key (code) is null", "--key")
    assert not has_table(sqlite_url2, "codes") or count_rows(sqlite_url2, "codes") == 0
    assert only_job(store_url)["status"] == "failed"


# -- the databases cannot be reached as written: fail at once, with the reason ------------


@pytest.mark.parametrize("side", ["source", "destination"])
def test_unreachable_host_fails_quickly(
    store_url: str, source: str, sqlite_url2: str, side: str
) -> None:
    nowhere = "postgresql://postgres@127.0.0.1:1/x"
    src, dst = (nowhere, sqlite_url2) if side == "source" else (source, nowhere)
    started = time.monotonic()
    result = run_cli(
        "sync", "--from", src, "--table", "items", "--to", dst, store=store_url, timeout=60
    )
    elapsed = time.monotonic() - started
    fails(result, 1, "cannot connect", "127.0.0.1", "check the host and port")
    assert elapsed < 15, f"took {elapsed:.1f}s: a wrong host must not be retried"
    assert not has_table(sqlite_url2, "items")
    job = only_job(store_url)
    assert job["status"] == "failed"
    assert job["rows_done"] == 0


@MARIADB
@pytest.mark.parametrize("side", ["source", "destination"])
def test_wrong_password(
    store_url: str, mariadb_user: tuple[str, str], source: str, sqlite_url2: str, side: str
) -> None:
    right_url, password = mariadb_user
    wrong = "Wrong" + uuid.uuid4().hex
    bad_url = make_url(right_url).set(password=wrong).render_as_string(hide_password=False)
    if side == "source":
        engine = sa.create_engine(right_url)
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
            conn.exec_driver_sql("INSERT INTO items VALUES (1, 'a')")
        engine.dispose()
        args = ["--from", bad_url, "--table", "items", "--to", sqlite_url2]
    else:
        args = ["--from", source, "--table", "items", "--to", bad_url]
    result = run_cli("sync", *args, store=store_url)
    text = fails(result, 1, "authentication failed", "check the user name and password")
    assert wrong not in text and password not in text
    assert ":***@" in text  # the URL is named, its password masked
    if side == "source":
        assert not has_table(sqlite_url2, "items")
    else:
        assert not has_table(right_url, "items")
    assert only_job(store_url)["status"] == "failed"


def _missing_database(url: str) -> str:
    name = f"sbtest_missing_{uuid.uuid4().hex[:8]}"
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@PG
@pytest.mark.parametrize("side", ["source", "destination"])
def test_missing_postgresql_database(
    store_url: str, pg_url: str, source: str, sqlite_url2: str, side: str
) -> None:
    missing = _missing_database(pg_url)
    src, dst = (missing, sqlite_url2) if side == "source" else (source, missing)
    result = run_cli("sync", "--from", src, "--table", "items", "--to", dst, store=store_url)
    fails(
        result,
        1,
        "database does not exist",
        make_url(missing).database or "",
        "check the database name",
    )
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["status"] == "failed"


@MARIADB
def test_missing_mariadb_database(store_url: str, mariadb_url: str, sqlite_url2: str) -> None:
    missing = _missing_database(mariadb_url)
    result = run_cli(
        "sync", "--from", missing, "--table", "items", "--to", sqlite_url2, store=store_url
    )
    fails(
        result,
        1,
        "database does not exist",
        make_url(missing).database or "",
        "check the database name",
    )
    assert not has_table(sqlite_url2, "items")
    assert only_job(store_url)["status"] == "failed"


# -- a URL that cannot work as written: a usage error, nothing saved ---------------------


@pytest.mark.parametrize("side", ["source", "destination"])
def test_unknown_driver(store_url: str, source: str, sqlite_url2: str, side: str) -> None:
    src, dst = ("foo://x", sqlite_url2) if side == "source" else (source, "foo://x")
    result = run_cli("sync", "--from", src, "--table", "items", "--to", dst, store=store_url)
    fails(result, 2, "unknown database driver 'foo'", "sqlite", "postgresql", "mysql")
    assert not has_table(sqlite_url2, "items")
    nothing_saved(store_url)


@pytest.mark.parametrize("url", ["not a url", "postgresql://app@db.example:port/shop"])
def test_malformed_url(store_url: str, sqlite_url2: str, url: str) -> None:
    result = run_cli(
        "sync", "--from", url, "--table", "items", "--to", sqlite_url2, store=store_url
    )
    fails(result, 2, "is not a connection url", "dialect://user:password@host:port/database")
    assert not has_table(sqlite_url2, "items")
    nothing_saved(store_url)


def test_unset_variable_in_url(store_url: str, source: str, sqlite_url2: str) -> None:
    var = f"SYNCBEAT_TEST_UNSET_{uuid.uuid4().hex[:8].upper()}"
    result = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--to",
        f"postgresql://app:${{{var}}}@127.0.0.1/shop",
        store=store_url,
    )
    fails(result, 2, f"${{{var}}}", f"{var} is not set", f"export {var}=")
    nothing_saved(store_url)


# -- options that cannot work: a usage error before anything is opened --------------------


@pytest.mark.parametrize("size", ["0", "-5"])
def test_batch_size_below_one(tmp_path: Path, source: str, sqlite_url2: str, size: str) -> None:
    store = tmp_path / "store.db"
    result = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--to",
        sqlite_url2,
        "--batch-size",
        size,
        store=f"sqlite:///{store}",
    )
    fails(result, 2, "batch_size", "greater than or equal to 1")
    assert not store.exists()
    assert not has_table(sqlite_url2, "items")


def test_unknown_mode(tmp_path: Path, source: str, sqlite_url2: str) -> None:
    store = tmp_path / "store.db"
    result = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--to",
        sqlite_url2,
        "--mode",
        "merge",
        store=f"sqlite:///{store}",
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
    run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--to",
        sqlite_url2,
        store=store_url,
        check=True,
    )
    job_id = only_job(store_url)["id"]
    result = run_cli("job", "pause", str(job_id), store=store_url)
    fails(result, 1, f"job {job_id} is completed", "cannot be paused")
    job = job_of(store_url, job_id)
    assert job["status"] == "completed" and job["requested"] is None
    assert count_rows(sqlite_url2, "items") == 10


def test_resuming_a_cancelled_job(store_url: str, source: str, sqlite_url2: str) -> None:
    run_cli(
        "pipeline",
        "add",
        "items-copy",
        "--from",
        source,
        "--table",
        "items",
        "--to",
        sqlite_url2,
        store=store_url,
        check=True,
    )
    queued = run_cli("run", "items-copy", store=store_url, check=True)
    job_id = int(queued.stdout.strip())
    run_cli("job", "cancel", str(job_id), store=store_url, check=True)
    result = run_cli("job", "resume", str(job_id), store=store_url)
    fails(result, 1, f"job {job_id} is cancelled", "cannot be resumed", "syncbeat run items-copy")
    assert job_of(store_url, job_id)["status"] == "cancelled"
    assert not has_table(sqlite_url2, "items")


# -- a literal password is never shown nor stored -----------------------------------------


@MARIADB
def test_literal_password_never_shown_nor_stored(
    tmp_path: Path, mariadb_user: tuple[str, str], sqlite_url2: str
) -> None:
    url, password = mariadb_user
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute(
            sa.text("INSERT INTO items VALUES (:id, :name)"),
            [{"id": i, "name": f"n{i}"} for i in range(1, 26)],
        )
    engine.dispose()
    store = f"sqlite:///{tmp_path / 'store.db'}"
    name = "secret-copy"

    outputs = [
        run_cli(
            "sync",
            "--from",
            url,
            "--table",
            "items",
            "--to",
            sqlite_url2,
            "--batch-size",
            "10",
            "--name",
            name,
            store=store,
        )
    ]
    assert outputs[0].returncode == 0, output(outputs[0])
    assert count_rows(sqlite_url2, "items") == 25
    outputs += run_all(
        [
            ["jobs"],
            ["jobs", "--json"],
            ["job", "show", "1"],
            ["job", "show", "1", "--json"],
            ["pipeline", "list"],
            ["pipeline", "list", "--json"],
            ["pipeline", "show", name],
            ["pipeline", "show", name, "--json"],
        ],
        store,
    )
    # Saving it for later is refused: a saved pipeline's password is masked, so no job
    # of it could connect. The one `sync` saved stays as it was.
    refused = run_cli(
        "pipeline",
        "add",
        name,
        "--from",
        url,
        "--table",
        "items",
        "--to",
        sqlite_url2,
        "--mode",
        "append",
        "--json",
        store=store,
    )
    fails(refused, 2, "literal password", "${VAR}")
    outputs.append(refused)
    # The stored definition has no password, so running it from the store cannot
    # connect: it must say why, still without the password.
    rerun = run_cli("run", name, "--wait", store=store)
    fails(rerun, 1, "password", "${var}")
    outputs.append(rerun)

    shown = "".join(output(r) for r in outputs)
    assert ":***@" in shown  # the URL is there, masked
    assert password not in shown
    for file in tmp_path.iterdir():  # the store with its -wal/-shm files, the destination
        assert password.encode() not in file.read_bytes(), file.name
    sb = Syncbeat(store)
    try:
        dumped = json.dumps(
            [p.model_dump(mode="json") for p in sb.pipelines()]
            + [j.model_dump(mode="json") for j in sb.jobs()]
            + [e.model_dump(mode="json") for e in sb.events(1)]
        )
    finally:
        sb.close()
    assert "***" in dumped
    assert password not in dumped
    assert [p.mode for p in Syncbeat(store).pipelines()] == ["upsert"]  # refused: unchanged


def test_corrected_command_replaces_a_job_that_never_committed(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    """The first try of a sync fails on a typo before any batch; running the corrected
    command must just work, not ask the user to cancel a job that did nothing."""
    common = ["--name", "items", "--to", sqlite_url2, "--to-table", "items"]
    first = run_cli("sync", "--from", source, "--table", "itmes", *common, store=store_url)
    fails(first, 1, "'itmes' does not exist")
    second = run_cli("sync", "--from", source, "--table", "items", *common, store=store_url)
    assert second.returncode == 0, output(second)
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(source, "items", ["id"])
    statuses = [job.status for job in Syncbeat(store_url).jobs()]
    assert statuses == ["completed", "cancelled"]


def test_changed_command_keeps_a_job_with_progress(
    store_url: str, source: str, sqlite_url2: str
) -> None:
    """A job that committed batches is not silently dropped when the options change."""
    common = ["--name", "items", "--to", sqlite_url2, "--batch-size", "3"]
    sb = Syncbeat(store_url)
    first = run_cli("sync", "--from", source, "--table", "items", *common, store=store_url)
    assert first.returncode == 0, output(first)
    job = sb.jobs()[0]
    # Make it unfinished again, as if it had failed half-way.
    with sb.store.begin() as conn:
        conn.exec_driver_sql(f"UPDATE jobs SET status = 'failed' WHERE id = {job.id}")
    changed = run_cli(
        "sync",
        "--from",
        source,
        "--table",
        "items",
        "--to-table",
        "other",
        *common,
        store=store_url,
    )
    fails(changed, 1, "unfinished job", f"syncbeat job cancel {job.id}")
    assert not has_table(sqlite_url2, "other")
