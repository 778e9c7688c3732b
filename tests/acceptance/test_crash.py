"""Crash tests: the installed `syncbeat` is killed with SIGKILL at random moments, and
every time it is run again it resumes without losing or duplicating a row.

Append mode into a destination table without a primary key is the harshest case: a batch
written twice shows up as a duplicate id (upsert would hide it, and a primary key would
turn it into an error). After every kill the destination must hold exactly the rows its
state row says were committed: the batch's rows and the checkpoint commit together.

The kill moments come from a seeded random.Random; a failure names its seed, and
SYNCBEAT_CRASH_SEED=<seed> replays the same schedule.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from syncbeat import Syncbeat
from syncbeat.vocabulary.checkpoint import Checkpoint
from tests.support.cli import run_cli, syncbeat_command
from tests.support.sql import table_rows

pytestmark = pytest.mark.slow

STATE = "_syncbeat_state"
POLL = 0.005


def _seed() -> int:
    fixed = os.environ.get("SYNCBEAT_CRASH_SEED")
    return int(fixed) if fixed else random.SystemRandom().randrange(2**31)


# -- the source -------------------------------------------------------------------------

SOURCE_DDL = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(60) NOT NULL, "
    "price NUMERIC(12,2), qty INTEGER, created TIMESTAMP, flag BOOLEAN, note TEXT)"
)
# The destination, made beforehand without a primary key: a row written twice would be
# stored twice, not rejected.
APPEND_DEST_DDL = SOURCE_DDL.replace("INTEGER PRIMARY KEY", "INTEGER NOT NULL")


def _make_pg_source(url: str, rows: int) -> None:
    """ids 1, 4, 7, ...: not contiguous, so a checkpoint is a key, not a row number."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(SOURCE_DDL)
        conn.execute(
            sa.text(
                "INSERT INTO items SELECT 3 * g + 1, 'item ' || g || ' é', (g % 10000) / 4.0, "
                "g % 97, timestamp '2024-01-01' + g * interval '1.5 second', g % 3 = 0, "
                "CASE WHEN g % 5 = 0 THEN 'note ' || g END "
                "FROM generate_series(0, :n - 1) AS g"
            ),
            {"n": rows},
        )
    engine.dispose()


def _make_sqlite_source(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    start = dt.datetime(2024, 1, 1)
    with engine.begin() as conn:
        conn.exec_driver_sql(SOURCE_DDL)
        conn.exec_driver_sql(
            "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    3 * g + 1,
                    f"item {g} é",
                    (g % 10000) / 4,
                    g % 97,
                    (start + dt.timedelta(seconds=1.5 * g)).isoformat(sep=" "),
                    g % 3 == 0,
                    f"note {g}" if g % 5 == 0 else None,
                )
                for g in range(rows)
            ],
        )
    engine.dispose()


# -- watching the destination -------------------------------------------------------------


@dataclass(frozen=True)
class DestState:
    rows_done: int
    last_key: Any
    target: str | None


def _engine(url: str) -> sa.Engine:
    # No pooled SQLite connections: the test must not sit on a file syncbeat writes.
    return (
        sa.create_engine(url, poolclass=sa.NullPool)
        if url.startswith("sqlite")
        else sa.create_engine(url)
    )


def _dest_state(engine: sa.Engine) -> DestState:
    """The destination's committed checkpoint (nothing before the first run)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(STATE):
            return DestState(0, None, None)
        rows = conn.execute(sa.text(f"SELECT rows_done, last_key, target FROM {STATE}")).all()
    assert len(rows) <= 1, f"one job, one state row: {rows}"
    if not rows:
        return DestState(0, None, None)
    rows_done, last_key, target = rows[0]
    return DestState(rows_done, json.loads(last_key) if last_key else None, target)


def _check_consistent(src: sa.Engine, dest: sa.Engine, state: DestState, what: str) -> None:
    """The destination holds exactly the rows of the committed batches, each once."""
    if state.target is None:
        return
    with dest.connect() as conn:
        if not sa.inspect(conn).has_table(state.target):
            assert state.rows_done == 0, f"{what}: {state} but no table {state.target}"
            return
        count, top = conn.execute(sa.text(f"SELECT count(*), max(id) FROM {state.target}")).one()
        duplicates = conn.execute(
            sa.text(
                f"SELECT id, count(*) FROM {state.target} GROUP BY id HAVING count(*) > 1 "
                "ORDER BY id LIMIT 5"
            )
        ).all()
    assert duplicates == [], f"{what}: ids written twice: {duplicates}"
    assert count == state.rows_done, (
        f"{what}: {count} rows in {state.target} but the checkpoint says {state.rows_done}"
    )
    if count:
        assert [top] == state.last_key, f"{what}: last row {top}, checkpoint {state.last_key}"
        with src.connect() as conn:
            upto = conn.execute(
                sa.text("SELECT count(*) FROM items WHERE id <= :k"), {"k": top}
            ).scalar_one()
        assert upto == count, f"{what}: the source has {upto} rows up to id {top}, dest {count}"


def _store_job(store_url: str) -> Any:
    client = Syncbeat(store_url)
    try:
        (job,) = client.jobs()
        return job, client.events(job.id, limit=100_000)
    finally:
        client.close()


# -- running and killing the CLI ---------------------------------------------------------------


@dataclass
class Crasher:
    """Starts `syncbeat <args>` again and again and kills it at random moments."""

    args: list[str]
    store_url: str
    src: sa.Engine
    dest: sa.Engine
    logs: Path
    rng: random.Random
    seed: int
    batch_size: int
    # More checks after every kill, beside the consistency of the committed batches.
    after_kill: Callable[[DestState], None] = lambda state: None
    runs: int = 0

    def _start(self) -> tuple[subprocess.Popen[bytes], Path]:
        self.runs += 1
        log = self.logs / f"run{self.runs}.log"
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "SYNCBEAT_STORE": self.store_url}
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [*syncbeat_command(), *self.args], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        return proc, log

    def _fail(self, message: str, log: Path) -> None:
        pytest.fail(
            f"{message} (seed {self.seed}; replay with SYNCBEAT_CRASH_SEED={self.seed})"
            f"\n--- output of run {self.runs} ---\n{log.read_text(errors='replace')[-3000:]}"
        )

    def kill_while_syncing(self, max_delay: float) -> DestState:
        """Start a run, wait until it has committed 1-3 more batches, let it go on for a
        random moment (into its next read, write, commit or checkpoint), SIGKILL it."""
        before = _dest_state(self.dest)
        target = before.rows_done + self.rng.randint(1, 3) * self.batch_size
        delay = self.rng.uniform(0, max_delay)
        proc, log = self._start()
        deadline = time.monotonic() + 60
        while _dest_state(self.dest).rows_done < target:
            if proc.poll() is not None:
                self._fail(
                    f"run {self.runs} ended (exit {proc.returncode}) before it was "
                    f"killed, at {_dest_state(self.dest)}",
                    log,
                )
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                self._fail(f"run {self.runs} made no progress past {before} in 60s", log)
            time.sleep(POLL)
        time.sleep(delay)
        return self._kill(proc, log)

    def kill_at_random(self, low: float, high: float) -> DestState:
        """SIGKILL a run at a random time after its start, while it opens the store,
        claims the job or fences the destination: at the latest as soon as it commits
        its first batch (the COPY path can finish what is left within a second)."""
        before = _dest_state(self.dest).rows_done
        proc, log = self._start()
        deadline = time.monotonic() + self.rng.uniform(low, high)
        while time.monotonic() < deadline and _dest_state(self.dest).rows_done == before:
            if proc.poll() is not None:
                self._fail(
                    f"run {self.runs} ended (exit {proc.returncode}) before it was killed", log
                )
            time.sleep(POLL / 4)
        return self._kill(proc, log)

    def _kill(self, proc: subprocess.Popen[bytes], log: Path) -> DestState:
        if proc.poll() is not None:
            self._fail(f"run {self.runs} ended (exit {proc.returncode}) before it was killed", log)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        state = _dest_state(self.dest)
        _check_consistent(self.src, self.dest, state, f"after kill {self.runs} (seed {self.seed})")
        self.after_kill(state)
        return state


def _crash_and_resume(
    crasher: Crasher,
    *,
    syncing_kills: int,
    startup_kills: int,
    max_delay: float,
    rows: int,
    src_url: str,
    dest_url: str,
    dest_table: str,
) -> tuple[list[DestState], Any]:
    """The kill schedule, then one run to completion; returns the states after each kill
    and the final run's output."""
    seed = crasher.seed
    schedule = ["syncing"] * syncing_kills + ["startup"] * startup_kills
    crasher.rng.shuffle(schedule)
    states: list[DestState] = []
    for kind in schedule:
        state = (
            crasher.kill_while_syncing(max_delay)
            if kind == "syncing"
            else crasher.kill_at_random(0.05, 1.5)
        )
        if states:
            assert state.rows_done >= states[-1].rows_done, (
                f"seed {seed}: the checkpoint went back from {states[-1]} to {state}"
            )
        states.append(state)
    assert 0 < states[-1].rows_done < rows, (
        f"seed {seed}: the kills should have left the job unfinished: {states}"
    )

    result = run_cli(*crasher.args, store=crasher.store_url, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"seed {seed}: final run failed:\n{output}"
    assert f"completed: {rows:,} rows" in output, output
    assert "Resuming job" in output, output

    # The destination equals the source, row by row, each row once.
    final = _dest_state(crasher.dest)
    assert final.rows_done == rows
    with crasher.dest.connect() as conn:
        count, distinct = conn.execute(
            sa.text(f"SELECT count(*), count(DISTINCT id) FROM {dest_table}")
        ).one()
    assert (count, distinct) == (rows, rows), f"seed {seed}"
    assert table_rows(dest_url, dest_table, ["id"]) == table_rows(src_url, "items", ["id"]), (
        f"seed {seed}: destination differs from source"
    )
    return states, output


def _check_events(
    store_url: str, states: list[DestState], syncing_kills: int, rows: int, seed: int
) -> None:
    """The job resumed from its checkpoint after the kills, and its events say from where."""
    job, events = _store_job(store_url)
    assert job.status == "completed" and job.rows_done == rows, f"seed {seed}: {job}"
    resumed = [e for e in events if e.kind == "resumed"]
    from_checkpoint = [e for e in resumed if e.data and e.data["rows_done"] > 0]
    # Every run after a kill that had committed a batch resumes from a checkpoint.
    assert len(from_checkpoint) >= syncing_kills, (
        f"seed {seed}: {len(from_checkpoint)} resumes from a checkpoint after "
        f"{syncing_kills} kills mid-sync: {[e.message for e in resumed]}"
    )
    for event in from_checkpoint:
        assert event.data is not None
        checkpoint = Checkpoint.from_json(event.data)
        assert f"batch {checkpoint.batch_index}" in event.message, event.message
        assert f"row {checkpoint.rows_done:,}" in event.message, event.message
        assert repr(checkpoint.last_key) in event.message, event.message
    # The last run resumed exactly where the last kill left the destination.
    last = from_checkpoint[-1].data
    assert last is not None
    assert (last["rows_done"], last["last_key"]) == (states[-1].rows_done, states[-1].last_key), (
        f"seed {seed}: resumed from {last}, the destination was at {states[-1]}"
    )
    kinds = [e.kind for e in events]
    assert kinds[-1] == "completed", f"seed {seed}: {kinds[-5:]}"


# -- the tests --------------------------------------------------------------------------------


@pytest.fixture
def seed() -> int:
    return _seed()


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    made: list[sa.Engine] = []
    yield made
    for engine in made:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_append_survives_repeated_sigkill(
    pg_url: str,
    pg_url2: str,
    store_url: str,
    tmp_path: Path,
    seed: int,
    engines: list[sa.Engine],
) -> None:
    rows, batch = 200_000, 2000
    _make_pg_source(pg_url, rows)
    src, dest = _engine(pg_url), _engine(pg_url2)
    engines += [src, dest]
    with dest.begin() as conn:
        conn.exec_driver_sql(APPEND_DEST_DDL)
    crasher = Crasher(
        [
            "sync",
            "--from",
            pg_url,
            "--table",
            "items",
            "--to",
            pg_url2,
            "--mode",
            "append",
            "--batch-size",
            str(batch),
        ],
        store_url,
        src,
        dest,
        tmp_path,
        random.Random(seed),
        seed,
        batch,
    )
    states, _ = _crash_and_resume(
        crasher,
        syncing_kills=11,
        startup_kills=2,
        max_delay=0.02,
        rows=rows,
        src_url=pg_url,
        dest_url=pg_url2,
        dest_table="items",
    )
    _check_events(store_url, states, 11, rows, seed)


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
    _make_sqlite_source(sqlite_url, rows)
    src, dest = _engine(sqlite_url), _engine(sqlite_url2)
    engines += [src, dest]
    old = [(1, "old row", 1.0, 1, None, False, None), (2, "old row", 2.0, 2, None, True, None)]
    with dest.begin() as conn:
        conn.exec_driver_sql(APPEND_DEST_DDL if mode == "append" else SOURCE_DDL)
        if mode == "replace":
            # Replace loads a staging table and swaps it in at the end: until then,
            # readers keep seeing the old table, whatever the kills did.
            conn.exec_driver_sql("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)", old)
    crasher = Crasher(
        [
            "sync",
            "--from",
            sqlite_url,
            "--table",
            "items",
            "--to",
            sqlite_url2,
            "--mode",
            mode,
            "--batch-size",
            str(batch),
        ],
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
    states, _ = _crash_and_resume(
        crasher,
        syncing_kills=6,
        startup_kills=1,
        max_delay=0.02,
        rows=rows,
        src_url=sqlite_url,
        dest_url=sqlite_url2,
        dest_table="items",
    )
    _check_events(store_url, states, 6, rows, seed)
    if mode == "replace":
        with dest.connect() as conn:
            tables = sorted(sa.inspect(conn).get_table_names())
        assert tables == [STATE, "items"], f"the staging table is swapped in: {tables}"


def _store_rows_done(store_url: str) -> int:
    """rows_done of the store's job, 0 while there is none (or no store yet)."""
    engine = sa.create_engine(store_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT max(rows_done) FROM jobs")).scalar() or 0)
    except sa.exc.OperationalError:  # the store or its tables do not exist yet
        return 0
    finally:
        engine.dispose()


def test_demo_survives_sigkill(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    demo_dir = tmp_path / "demo"
    args = ["demo", "--rows", "30000", "--dir", str(demo_dir)]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "SYNCBEAT_STORE": store}
    log = tmp_path / "demo1.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*syncbeat_command(), *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    deadline = time.monotonic() + 60
    # Kill it once it has committed a batch (the store's rows_done trails the destination).
    while _store_rows_done(store) == 0:
        assert proc.poll() is None, f"demo ended before it was killed:\n{log.read_text()}"
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"the demo committed no batch in 60s:\n{log.read_text()}")
        time.sleep(POLL)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    dest = _engine(f"sqlite:///{demo_dir / 'dest.db'}")
    try:
        state = _dest_state(dest)
    finally:
        dest.dispose()
    assert 0 < state.rows_done < 30_000, f"killed mid-sync: {state}"

    result = run_cli(*args, store=store, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Resuming job" in output, output
    assert "identical" in output and "DIFFERENT" not in output, output
    job, events = _store_job(store)  # the same job resumed, not a second one from scratch
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
    _make_sqlite_source(sqlite_url, rows)
    src, dest = _engine(sqlite_url), _engine(sqlite_url2)
    engines += [src, dest]
    args = [
        "sync",
        "--from",
        sqlite_url,
        "--table",
        "items",
        "--to",
        sqlite_url2,
        "--batch-size",
        str(batch),
    ]
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "SYNCBEAT_STORE": store_url}
    log = tmp_path / "interrupted.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*syncbeat_command(), *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    deadline = time.monotonic() + 60
    while (at_signal := _dest_state(dest).rows_done) < 2 * batch:
        assert proc.poll() is None, f"the sync ended before the signal:\n{log.read_text()}"
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"no batch committed in 60s:\n{log.read_text()}")
        time.sleep(POLL)
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running 15s after one {sig.name}:\n{log.read_text()}")
    output = log.read_text()
    assert code == 130, f"exit {code}:\n{output}"
    state = _dest_state(dest)
    _check_consistent(src, dest, state, f"after {sig.name}")
    # It finished the batch in flight (and at most the one committing as we looked), no more.
    assert at_signal <= state.rows_done <= at_signal + 2 * batch, (at_signal, state)
    assert state.rows_done < rows
    assert f"stopped at row {state.rows_done:,}" in output, output
    assert "run the same command again to resume" in output, output
    job, events = _store_job(store_url)
    assert job.status == "queued" and job.rows_done == state.rows_done, job
    assert events[-1].kind == "released", [e.kind for e in events[-3:]]

    result = run_cli(*args, store=store_url, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Resuming job {job.id} at row {state.rows_done:,}" in output, output
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(sqlite_url, "items", ["id"])
