"""A `syncbeat` run killed with SIGKILL at random moments, again and again, and the
destination checked after every kill: it must hold exactly the rows its state row says
were committed (the batch's rows and the checkpoint commit together).

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from syncbeat.vocabulary.checkpoint import Checkpoint
from tests.support.cli import run_cli, spawn
from tests.support.jobs import only_job_and_events
from tests.support.sql import table_rows

STATE = "_syncbeat_state"
POLL = 0.005

T = TypeVar("T")


def crash_seed() -> int:
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


def make_pg_source(url: str, rows: int) -> None:
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


MARIADB_SOURCE_DDL = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(60) NOT NULL, "
    "price DECIMAL(12,2), qty INTEGER, created DATETIME(6), flag BOOLEAN, note TEXT) "
    "DEFAULT CHARSET utf8mb4"
)


def make_mariadb_source(url: str, rows: int) -> None:
    """As make_pg_source, in MariaDB (its SEQUENCE engine gives the numbers)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(MARIADB_SOURCE_DDL)
        conn.exec_driver_sql(
            "INSERT INTO items SELECT 3 * seq + 1, CONCAT('item ', seq, ' é'), "
            "(seq %% 10000) / 4.0, seq %% 97, "
            "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq * 1500000 MICROSECOND, "
            "seq %% 3 = 0, CASE WHEN seq %% 5 = 0 THEN CONCAT('note', CHAR(9), CHAR(92), seq) END "
            f"FROM seq_0_to_{rows - 1}"
        )
    engine.dispose()


def make_sqlite_source(url: str, rows: int) -> None:
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


def watching_engine(url: str) -> sa.Engine:
    # No pooled SQLite connections: the test must not sit on a file syncbeat writes.
    return (
        sa.create_engine(url, poolclass=sa.NullPool)
        if url.startswith("sqlite")
        else sa.create_engine(url)
    )


def dest_state(engine: sa.Engine) -> DestState:
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


def check_consistent(src: sa.Engine, dest: sa.Engine, state: DestState, what: str) -> None:
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
        return spawn(*self.args, store=self.store_url, log=log), log

    def _fail(self, message: str, log: Path) -> None:
        pytest.fail(
            f"{message} (seed {self.seed}; replay with SYNCBEAT_CRASH_SEED={self.seed})"
            f"\n--- output of run {self.runs} ---\n{log.read_text(errors='replace')[-3000:]}"
        )

    def kill_while_syncing(self, max_delay: float) -> DestState:
        """Start a run, wait until it has committed 1-3 more batches, let it go on for a
        random moment (into its next read, write, commit or checkpoint), SIGKILL it."""
        before = dest_state(self.dest)
        target = before.rows_done + self.rng.randint(1, 3) * self.batch_size
        delay = self.rng.uniform(0, max_delay)
        proc, log = self._start()
        deadline = time.monotonic() + 60
        while dest_state(self.dest).rows_done < target:
            if proc.poll() is not None:
                self._fail(
                    f"run {self.runs} ended (exit {proc.returncode}) before it was "
                    f"killed, at {dest_state(self.dest)}",
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
        before = dest_state(self.dest).rows_done
        proc, log = self._start()
        deadline = time.monotonic() + self.rng.uniform(low, high)
        while time.monotonic() < deadline and dest_state(self.dest).rows_done == before:
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
        state = dest_state(self.dest)
        check_consistent(self.src, self.dest, state, f"after kill {self.runs} (seed {self.seed})")
        self.after_kill(state)
        return state


def crash_and_resume(
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
    final = dest_state(crasher.dest)
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


def check_events(
    store_url: str, states: list[DestState], syncing_kills: int, rows: int, seed: int
) -> None:
    """The job resumed from its checkpoint after the kills, and its events say from where."""
    job, events = only_job_and_events(store_url)
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


def store_rows_done(store_url: str) -> int:
    """rows_done of the store's job, 0 while there is none (or no store yet)."""
    engine = sa.create_engine(store_url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT max(rows_done) FROM jobs")).scalar() or 0)
    except sa.exc.OperationalError:  # the store or its tables do not exist yet
        return 0
    finally:
        engine.dispose()


def poll_while_running(
    proc: subprocess.Popen[bytes],
    log: Path,
    reached: Callable[[], T],
    ended: str,
    stalled: str,
    timeout: float = 60,
) -> T:
    """Poll ``reached`` every POLL s until it returns something truthy, and return that.
    ``proc`` must not exit first (the test fails with ``ended`` and its output); after
    ``timeout`` s it is killed and the test fails with ``stalled``."""
    deadline = time.monotonic() + timeout
    while not (value := reached()):
        assert proc.poll() is None, f"{ended}:\n{log.read_text()}"
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"{stalled}:\n{log.read_text()}")
        time.sleep(POLL)
    return value
