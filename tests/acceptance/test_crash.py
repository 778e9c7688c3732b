"""Crash tests: the installed `syncbeat` is killed with SIGKILL at random moments, and
every time it is run again it resumes without losing or duplicating a row.

Append mode into a destination table without a primary key is the harshest case: a batch
written twice shows up as a duplicate id (upsert would hide it, and a primary key would
turn it into an error). After every kill the destination must hold exactly the rows its
state row says were committed: the batch's rows and the checkpoint commit together.

The kill moments come from a seeded random.Random; a failure names its seed, and
SYNCBEAT_CRASH_SEED=<seed> replays the same schedule. The machinery is in
tests/support/crashes.py.
"""

from __future__ import annotations

import random
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.cli import run_cli, spawn, sync_args
from tests.support.crashes import (
    APPEND_DEST_DDL,
    SOURCE_DDL,
    STATE,
    Crasher,
    DestState,
    check_consistent,
    check_events,
    crash_and_resume,
    crash_seed,
    dest_state,
    make_mariadb_source,
    make_pg_source,
    make_sqlite_source,
    poll_while_running,
    store_rows_done,
    watching_engine,
)
from tests.support.jobs import only_job_and_events
from tests.support.sql import table_rows

pytestmark = pytest.mark.slow


# -- the tests --------------------------------------------------------------------------------


@pytest.fixture
def seed() -> int:
    return crash_seed()


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    made: list[sa.Engine] = []
    yield made
    for engine in made:
        engine.dispose()


# MariaDB's own spelling of the destination: DATETIME(6) keeps the half seconds (its
# TIMESTAMP would round them and update itself), utf8mb4 the text.
MARIADB_APPEND_DDL = (
    APPEND_DEST_DDL.replace("created TIMESTAMP", "created DATETIME(6)") + " DEFAULT CHARSET utf8mb4"
)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("dest", "path"),
    [("pg", "pg-copy"), pytest.param("mariadb", "pg-to-mysql", marks=pytest.mark.mariadb)],
)
def test_postgres_append_survives_repeated_sigkill(
    request: pytest.FixtureRequest,
    dest: str,
    path: str,
    pg_url: str,
    store_url: str,
    tmp_path: Path,
    seed: int,
    engines: list[sa.Engine],
) -> None:
    """Into PostgreSQL over the binary COPY pass-through, into MariaDB over the CSV
    relay: each batch, and the next one read ahead while it is written, killed."""
    rows = 200_000
    dest_url = request.getfixturevalue("pg_url2" if dest == "pg" else "mariadb_url")
    make_pg_source(pg_url, rows)
    ddl = APPEND_DEST_DDL if dest == "pg" else MARIADB_APPEND_DDL
    _killed_and_resumed(pg_url, dest_url, ddl, rows, 11, path, store_url, tmp_path, seed, engines)


def _killed_and_resumed(
    src_url: str,
    dest_url: str,
    dest_ddl: str,
    rows: int,
    kills: int,
    path: str,
    store_url: str,
    tmp_path: Path,
    seed: int,
    engines: list[sa.Engine],
) -> None:
    """An append of ``rows`` SIGKILLed ``kills`` times mid-sync (and twice at start-up),
    resumed each time: the destination ends a row-by-row copy, over ``path``."""
    batch = 2000
    src, dest_engine = watching_engine(src_url), watching_engine(dest_url)
    engines += [src, dest_engine]
    with dest_engine.begin() as conn:
        conn.exec_driver_sql(dest_ddl)
    crasher = Crasher(
        sync_args(src_url, dest_url, table="items", mode="append", batch_size=batch),
        store_url,
        src,
        dest_engine,
        tmp_path,
        random.Random(seed),
        seed,
        batch,
    )
    states, _ = crash_and_resume(
        crasher,
        syncing_kills=kills,
        startup_kills=2,
        max_delay=0.02,
        rows=rows,
        src_url=src_url,
        dest_url=dest_url,
        dest_table="items",
    )
    check_events(store_url, states, kills, rows, seed)
    _, events = only_job_and_events(store_url)
    paths = {e.data["path"] for e in events if e.kind == "plan" and e.data}
    assert paths == {path}, f"seed {seed}: {paths}"


@pytest.mark.mariadb
@pytest.mark.postgres
def test_mariadb_to_postgres_append_survives_repeated_sigkill(
    mariadb_url: str,
    pg_url: str,
    store_url: str,
    tmp_path: Path,
    seed: int,
    engines: list[sa.Engine],
) -> None:
    """Over the relay (engine.relay_to_postgres), whose next batch is read on a second
    thread while the current one is written: a kill at any moment loses none."""
    rows = 100_000
    make_mariadb_source(mariadb_url, rows)
    args = (APPEND_DEST_DDL, rows, 8, "mysql-to-pg", store_url, tmp_path, seed, engines)
    _killed_and_resumed(mariadb_url, pg_url, *args)


@pytest.mark.parametrize("mode", ["append", "replace"])
def test_sqlite_survives_repeated_sigkill(
    mode: str,
    sqlite_url: str,
    sqlite_url2: str,
    store_url: str,
    tmp_path: Path,
    seed: int,
    engines: list[sa.Engine],
) -> None:
    rows, batch = 100_000, 1000
    make_sqlite_source(sqlite_url, rows)
    src, dest = watching_engine(sqlite_url), watching_engine(sqlite_url2)
    engines += [src, dest]
    old = [(1, "old row", 1.0, 1, None, False, None), (2, "old row", 2.0, 2, None, True, None)]
    with dest.begin() as conn:
        conn.exec_driver_sql(APPEND_DEST_DDL if mode == "append" else SOURCE_DDL)
        if mode == "replace":
            # Replace loads a staging table and swaps it in at the end: until then,
            # readers keep seeing the old table, whatever the kills did.
            conn.exec_driver_sql("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", old)
    crasher = Crasher(
        sync_args(sqlite_url, sqlite_url2, table="items", mode=mode, batch_size=batch),
        store_url,
        src,
        dest,
        tmp_path,
        random.Random(seed),
        seed,
        batch,
    )
    if mode == "replace":

        def old_table_untouched(state: DestState) -> None:
            assert state.target != "items", f"seed {seed}: replace writes a staging table"
            with dest.connect() as conn:
                seen = conn.execute(sa.text("SELECT id, name FROM items ORDER BY id")).all()
            assert seen == [(1, "old row"), (2, "old row")], f"seed {seed}: {seen[:5]}"

        crasher.after_kill = old_table_untouched
    states, _ = crash_and_resume(
        crasher,
        syncing_kills=6,
        startup_kills=1,
        max_delay=0.02,
        rows=rows,
        src_url=sqlite_url,
        dest_url=sqlite_url2,
        dest_table="items",
    )
    check_events(store_url, states, 6, rows, seed)
    if mode == "replace":
        with dest.connect() as conn:
            tables = sorted(sa.inspect(conn).get_table_names())
        assert tables == [STATE, "items"], f"the staging table is swapped in: {tables}"


def test_demo_survives_sigkill(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    demo_dir = tmp_path / "demo"
    args = ["demo", "--rows", "30000", "--dir", str(demo_dir)]
    log = tmp_path / "demo1.log"
    proc = spawn(*args, store=store, log=log)
    # Kill it once it has committed a batch (the store's rows_done trails the destination).
    poll_while_running(
        proc,
        log,
        lambda: store_rows_done(store),
        "demo ended before it was killed",
        "the demo committed no batch in 60s",
    )
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    dest = watching_engine(f"sqlite:///{demo_dir / 'dest.db'}")
    try:
        state = dest_state(dest)
    finally:
        dest.dispose()
    assert 0 < state.rows_done < 30_000, f"killed mid-sync: {state}"

    result = run_cli(*args, store=store, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Resuming job" in output, output
    assert "identical" in output and "DIFFERENT" not in output, output
    job, events = only_job_and_events(store)  # the same job resumed, not a second one from scratch
    assert job.status == "completed" and job.rows_done == 30_000, job
    assert any(
        e.kind == "resumed" and e.data and e.data["rows_done"] == state.rows_done for e in events
    ), [e.message for e in events if e.kind == "resumed"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_interrupt_stops_after_the_current_batch(
    sig: signal.Signals,
    sqlite_url: str,
    sqlite_url2: str,
    store_url: str,
    tmp_path: Path,
    engines: list[sa.Engine],
) -> None:
    rows, batch = 40_000, 1000
    make_sqlite_source(sqlite_url, rows)
    src, dest = watching_engine(sqlite_url), watching_engine(sqlite_url2)
    engines += [src, dest]
    args = sync_args(sqlite_url, sqlite_url2, table="items", batch_size=batch)
    log = tmp_path / "interrupted.log"
    proc = spawn(*args, store=store_url, log=log)

    def two_batches_committed() -> int:
        rows_done = dest_state(dest).rows_done
        return rows_done if rows_done >= 2 * batch else 0

    at_signal = poll_while_running(
        proc,
        log,
        two_batches_committed,
        "the sync ended before the signal",
        "no batch committed in 60s",
    )
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running 15s after one {sig.name}:\n{log.read_text()}")
    output = log.read_text()
    assert code == 130, f"exit {code}:\n{output}"
    state = dest_state(dest)
    check_consistent(src, dest, state, f"after {sig.name}")
    # It finished the batch in flight (and at most the one committing as we looked), no more.
    assert at_signal <= state.rows_done <= at_signal + 2 * batch, (at_signal, state)
    assert state.rows_done < rows
    assert f"stopped at row {state.rows_done:,}" in output, output
    assert "run the same command again to resume" in output, output
    job, events = only_job_and_events(store_url)
    assert job.status == "queued" and job.rows_done == state.rows_done, job
    assert events[-1].kind == "released", [e.kind for e in events[-3:]]

    result = run_cli(*args, store=store_url, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Resuming job {job.id} at row {state.rows_done:,}" in output, output
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(sqlite_url, "items", ["id"])
