"""Bad input in how the databases are reached, through the installed CLI, as a user
meets it: a host that does not answer, a wrong password, a database that does not
exist, a URL that cannot work as written, and a literal password, never shown nor
stored.

As in test_bad_input.py, every case must exit non-zero with a message that names the
problem and says what to do, print no traceback, and write nothing it should not.
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
from tests.support.cli import (
    fails,
    output,
    pipeline_add_args,
    run_all,
    run_args,
    run_cli,
    sync_args,
)
from tests.support.databases import MARIADB_URL
from tests.support.jobs import nothing_saved, only_job
from tests.support.sql import count_rows, has_table
from tests.support.tables import make_items

PG = pytest.mark.postgres
MARIADB = pytest.mark.mariadb


@pytest.fixture
def source(sqlite_url: str) -> str:
    make_items(sqlite_url)
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


# -- the databases cannot be reached as written: fail at once, with the reason ------------


@pytest.mark.parametrize("side", ["source", "destination"])
def test_unreachable_host_fails_quickly(
    store_url: str, source: str, sqlite_url2: str, side: str
) -> None:
    nowhere = "postgresql://postgres@127.0.0.1:1/x"
    src, dst = (nowhere, sqlite_url2) if side == "source" else (source, nowhere)
    started = time.monotonic()
    result = run_cli(*sync_args(src, dst, table="items"), store=store_url, timeout=60)
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
        args = sync_args(bad_url, sqlite_url2, table="items")
    else:
        args = sync_args(source, bad_url, table="items")
    result = run_cli(*args, store=store_url)
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
    result = run_cli(*sync_args(src, dst, table="items"), store=store_url)
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
    result = run_cli(*sync_args(missing, sqlite_url2, table="items"), store=store_url)
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
    result = run_cli(*sync_args(src, dst, table="items"), store=store_url)
    fails(result, 2, "unknown database driver 'foo'", "sqlite", "postgresql", "mysql")
    assert not has_table(sqlite_url2, "items")
    nothing_saved(store_url)


@pytest.mark.parametrize("url", ["not a url", "postgresql://app@db.example:port/shop"])
def test_malformed_url(store_url: str, sqlite_url2: str, url: str) -> None:
    result = run_cli(*sync_args(url, sqlite_url2, table="items"), store=store_url)
    fails(result, 2, "is not a connection url", "dialect://user:password@host:port/database")
    assert not has_table(sqlite_url2, "items")
    nothing_saved(store_url)


def test_unset_variable_in_url(store_url: str, source: str, sqlite_url2: str) -> None:
    var = f"SYNCBEAT_TEST_UNSET_{uuid.uuid4().hex[:8].upper()}"
    result = run_cli(
        *sync_args(source, f"postgresql://app:${{{var}}}@127.0.0.1/shop", table="items"),
        store=store_url,
    )
    fails(result, 2, f"${{{var}}}", f"{var} is not set", f"export {var}=")
    nothing_saved(store_url)


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
        run_cli(*sync_args(url, sqlite_url2, table="items", batch_size=10, name=name), store=store)
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
        *pipeline_add_args(name, url, sqlite_url2, "--json", table="items", mode="append"),
        store=store,
    )
    fails(refused, 2, "literal password", "${VAR}")
    outputs.append(refused)
    # The stored definition has no password, so running it from the store cannot
    # connect: it must say why, still without the password.
    rerun = run_cli(*run_args(name, wait=True), store=store)
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
