"""A MySQL/MariaDB server a pipeline points at is not trusted: whatever it asks for, it
never gets a local file (the rogue-server LOCAL INFILE attack), as a source or as a
destination, and the user is told what happened."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from syncbeat.connectors import engines, local_infile
from syncbeat.vocabulary.errors import UntrustedServerError
from tests.security.fake_servers import fake_mysql, swapping_proxy
from tests.support.cli import fails, run_cli, sync_args
from tests.support.jobs import job_of
from tests.support.sql import execute, has_table, table_rows

SECRET = "sb-worker-secret-5f1d0c"


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "worker-secrets.env"
    path.write_text(f"AWS_SECRET_ACCESS_KEY={SECRET}\n")
    return path


def _refused(result_text: str, store_url: str, wanted: Path) -> None:
    job = job_of(store_url, 1)
    assert job["status"] == "failed", job
    assert "refused and sent nothing" in (job["last_error"] or ""), job
    assert str(wanted) in result_text


def test_a_source_server_asking_for_a_file_gets_nothing(
    store_url: str, sqlite_url: str, secrets_file: Path
) -> None:
    with fake_mysql(str(secrets_file)) as server:
        # A URL's own ?local_infile=1 does not turn it on for a source either.
        source = f"mysql://root@127.0.0.1:{server.port}/shop?local_infile=1"
        result = run_cli(*sync_args(source, sqlite_url, table="orders"), store=store_url)
    assert server.asked >= 1, "the fake server never got to attack"
    assert SECRET.encode() not in server.received
    text = fails(result, 1, "asked this client to send it the local file", "sent nothing")
    assert server.client_flags and not any(flags & 0x80 for flags in server.client_flags)
    _refused(text, store_url, secrets_file)
    assert not has_table(sqlite_url, "orders")


def test_a_destination_server_asking_for_a_file_gets_nothing(
    store_url: str, sqlite_url: str, secrets_file: Path
) -> None:
    execute(sqlite_url, "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
    execute(sqlite_url, "INSERT INTO orders VALUES (1, 'a'), (2, 'b')")
    with fake_mysql(str(secrets_file)) as server:
        dest = f"mariadb://root@127.0.0.1:{server.port}/warehouse"
        result = run_cli(
            *sync_args(sqlite_url, dest, table="orders", mode="append"), store=store_url
        )
    assert server.asked >= 1, "the fake server never got to attack"
    assert SECRET.encode() not in server.received
    text = fails(result, 1, "asked this client to send it the local file", "sent nothing")
    _refused(text, store_url, secrets_file)


def test_a_batch_is_sent_only_under_its_own_name() -> None:
    """During LOAD DATA itself, a server that asks for another name than the batch's
    gets neither that file nor the batch."""
    passwd = Path("/etc/passwd").read_bytes()[:64]
    with fake_mysql("/etc/passwd") as server:
        conn = local_infile.GuardedConnection(
            host="127.0.0.1", port=server.port, user="root", local_infile=True
        )
        name = local_infile.batch_name()
        with (
            conn.offering(name, b"1\tthe batch's own row\n"),
            pytest.raises(UntrustedServerError, match="/etc/passwd"),
        ):
            conn.cursor().execute("LOAD DATA LOCAL INFILE %s INTO TABLE t", (name,))
    assert passwd not in server.received
    assert b"the batch's own row" not in server.received


@pytest.mark.mariadb
def test_load_data_still_loads_the_batch(
    store_url: str, sqlite_url: str, mariadb_url: str, tmp_path: Path
) -> None:
    """The batch comes from memory now: rows still arrive, with values that need
    escaping in LOAD DATA's format, and the engine's own server accepts them."""
    execute(sqlite_url, "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
    execute(
        sqlite_url,
        "INSERT INTO orders VALUES (1, 'tab\there'), (2, 'new\nline'), (3, NULL), (4, 'back\\')",
    )
    run_cli(
        *sync_args(sqlite_url, mariadb_url, table="orders", mode="append"),
        store=store_url,
        check=True,
    )
    assert table_rows(mariadb_url, "orders", ["id"]) == table_rows(sqlite_url, "orders", ["id"])


@pytest.mark.mariadb
def test_a_server_turning_hostile_during_load_data_gets_nothing(
    store_url: str, sqlite_url: str, mariadb_url: str, secrets_file: Path
) -> None:
    """The real path end to end: a proxy in front of MariaDB swaps the name in the
    server's request for the batch. The batch fails with the security error (not a
    'connection lost' from the rollback after it) and writes no row."""
    execute(sqlite_url, "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)")
    execute(sqlite_url, "INSERT INTO orders VALUES (1, 'a'), (2, 'b')")
    real = make_url(mariadb_url)
    with swapping_proxy((real.host or "127.0.0.1", real.port or 3306), str(secrets_file)) as proxy:
        through = real.set(port=proxy.port).render_as_string(hide_password=False)
        result = run_cli(
            *sync_args(sqlite_url, through, table="orders", mode="append"), store=store_url
        )
    assert proxy.swapped >= 1, result.stdout + result.stderr
    assert SECRET.encode() not in proxy.received
    text = fails(result, 1, "asked this client to send it the local file", "sent nothing")
    _refused(text, store_url, secrets_file)
    assert table_rows(mariadb_url, "orders", ["id"]) == []


@pytest.mark.parametrize("scheme", ["mysql+mysqldb", "mariadb+mariadbconnector"])
def test_a_mysql_driver_syncbeat_cannot_guard_is_refused(
    store_url: str, tmp_path: Path, scheme: str
) -> None:
    """Only PyMySQL's connections are guarded; another driver is refused with a way out,
    whether it is installed (it would honour LOCAL INFILE) or not."""
    dest = f"sqlite:///{tmp_path / 'dest.db'}"
    result = run_cli(
        *sync_args(f"{scheme}://root@127.0.0.1/test", dest, table="t"), store=store_url
    )
    fails(result, 2, scheme, "mysql://")  # 2: a URL syncbeat will not use, like any bad URL
    assert not has_table(dest, "t")


def _c_driver_installed() -> None:
    """The C reader is the `fast` extra: CI installs it, so there it must be present."""
    try:
        import MySQLdb  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("mysqlclient (the fast extra) is not installed")


def test_a_source_read_by_the_c_driver_asks_for_no_file_and_sends_none(
    store_url: str, sqlite_url: str, secrets_file: Path
) -> None:
    """libmariadb offers LOCAL INFILE by default: the C reader logs in without it, so the
    request is refused by the library itself and no byte of the file leaves."""
    _c_driver_installed()
    with fake_mysql(str(secrets_file)) as server:
        source = f"mysql://root@127.0.0.1:{server.port}/shop"
        assert engines.create_engine(source, reader=True).dialect.driver == "mysqldb"
        result = run_cli(*sync_args(source, sqlite_url, table="orders"), store=store_url)
    assert server.asked >= 1, "the fake server never got to attack"
    assert SECRET.encode() not in server.received
    assert server.client_flags and not any(flags & 0x80 for flags in server.client_flags)
    assert result.returncode == 1, result.stdout + result.stderr
    assert job_of(store_url, 1)["status"] == "failed"
    assert not has_table(sqlite_url, "orders")


@pytest.mark.parametrize(
    ("url", "env", "driver"),
    [
        ("mysql://root@db/shop", {}, "mysqldb"),
        ("mariadb://root@db/shop?init_command=SET%20x%3D1&charset=utf8mb4", {}, "mysqldb"),
        # An option of the C library's that reads a file stays with PyMySQL's guard.
        ("mysql://root@db/shop?read_default_file=/etc/mysql/my.cnf", {}, "pymysql"),
        ("mysql://root@db/shop", {engines.READER_ENV: "pymysql"}, "pymysql"),
    ],
)
def test_which_sources_read_through_the_c_driver(
    url: str, env: dict[str, str], driver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _c_driver_installed()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    engine = engines.create_engine(url, reader=True)
    assert engine.dialect.driver == driver
    # A destination loads batches through PyMySQL's guarded LOCAL INFILE, always.
    assert engines.create_engine(url, load_data=True).dialect.driver == "pymysql"
