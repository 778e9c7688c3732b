"""Liveness of workers, with real `syncbeat worker` processes on a PostgreSQL job store.

What a user relies on when something goes wrong under a running job:

* the store drops the worker's connections: the heartbeat reconnects and the job goes on;
* the source blocks (a lock): the progress watchdog abandons the batch, cancels the hung
  statement and gives the job back; it completes once the lock is gone;
* pause stops the job at a batch boundary and nothing moves until resume; cancel is final;
* a worker whose clock is off by hours neither steals a live lease nor, once its own
  lease has expired in the store's clock, keeps writing.

The source is a SELECT over ``src`` gated by ``gate()``, a function that sleeps for the
delay held in the ``knob`` table once per statement: the test sets the pace of the job
(slow while it does something to it, fast to let it finish) instead of guessing timings.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.service.models import EventView, JobView
from syncbeat.store import jobs, workers
from tests.support.cli import run_cli, syncbeat_command
from tests.support.databases import IN_CI
from tests.support.sql import table_rows

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

T = TypeVar("T")

ROWS = 600
BATCH = 20  # 30 batches
SLOW = 0.1  # seconds the source sleeps per statement: a job takes a few seconds
CRAWL = 0.5  # while the test acts on a running job, so that it cannot end meanwhile
HEARTBEAT = 0.2
SOURCE_QUERY = "SELECT id, v, n FROM src WHERE (SELECT gate())"

FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


# -- helpers ------------------------------------------------------------------------------


def with_app_name(url: str, name: str) -> str:
    """The URL with a libpq application_name, so the test can find those connections."""
    return (
        make_url(url)
        .update_query_dict({"application_name": name})
        .render_as_string(hide_password=False)
    )


def admin(url: str) -> sa.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def make_source(data_url: str, delay: float) -> None:
    engine = admin(data_url)
    with engine.connect() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE src (id integer PRIMARY KEY, v text NOT NULL, n numeric(12, 2))"
        )
        conn.exec_driver_sql(
            f"INSERT INTO src SELECT i, 'row ' || i || ' é', i / 4.0 "
            f"FROM generate_series(1, {ROWS}) AS i"
        )
        conn.exec_driver_sql("CREATE TABLE knob (delay double precision NOT NULL)")
        conn.execute(sa.text("INSERT INTO knob VALUES (:d)"), {"d": delay})
        conn.exec_driver_sql(
            "CREATE FUNCTION gate() RETURNS boolean LANGUAGE plpgsql AS $$ "
            "BEGIN PERFORM pg_sleep((SELECT delay FROM knob)); RETURN true; END $$"
        )
    engine.dispose()


def set_delay(data_url: str, delay: float) -> None:
    engine = admin(data_url)
    with engine.connect() as conn:
        conn.execute(sa.text("UPDATE knob SET delay = :d"), {"d": delay})
    engine.dispose()


def count(url: str, table: str) -> int:
    engine = admin(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
    except sa.exc.ProgrammingError:  # not created yet
        return 0
    finally:
        engine.dispose()


def state_epochs(url: str) -> list[int]:
    engine = admin(url)
    with engine.connect() as conn:
        epochs = conn.exec_driver_sql("SELECT lease_epoch FROM _syncbeat_state").scalars().all()
    engine.dispose()
    return list(epochs)


def spec(name: str, data_url: str, dest_table: str = "dst") -> PipelineSpec:
    return PipelineSpec(
        name=name,
        source_url=with_app_name(data_url, f"sbsrc-{name}"),
        source_query=SOURCE_QUERY,
        key=["id"],
        dest_url=data_url,
        dest_table=dest_table,
        batch_size=BATCH,
    )


def wait_for(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    on_timeout: Callable[[], str] = lambda: "",
) -> T:
    """Poll until ``check`` returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{on_timeout()}")
        time.sleep(0.05)


class Workers:
    """`syncbeat worker` processes of one test; all of them are killed at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self, name: str, store: str, *options: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [
                *syncbeat_command(),
                "--store",
                store,
                "worker",
                "--name",
                name,
                "--heartbeat-interval",
                str(HEARTBEAT),
                "--poll-interval",
                "0.1",
                *options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
        )
        log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {n} (exit {p.poll()}):\n{self.log(n)}" for n, p in self.procs.items()
        )

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()  # SIGKILL ends a stopped process too
            proc.wait(timeout=30)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Workers]:
    w = Workers(tmp_path)
    yield w
    w.kill_all()


class Store:
    """The test's own view of the job store (a separate client from the workers')."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sb = Syncbeat(url)

    def close(self) -> None:
        self.sb.close()

    def job(self, job_id: int) -> JobView:
        return self.sb.job(job_id, events=0)

    def events(self, job_id: int, kind: str | None = None) -> list[EventView]:
        found = self.sb.events(job_id, limit=10_000)
        return [e for e in found if kind is None or e.kind == kind]

    def heartbeat_at(self, job_id: int) -> float:
        with self.sb.store.begin() as conn:
            return float(
                conn.execute(sa.select(jobs.c.heartbeat_at).where(jobs.c.id == job_id)).scalar_one()
            )

    def now(self) -> float:
        return self.sb.store.now()

    def worker_beat(self, name: str) -> float | None:
        with self.sb.store.begin() as conn:
            value = conn.execute(
                sa.select(workers.c.heartbeat_at).where(workers.c.name == name)
            ).scalar()
        return None if value is None else float(value)

    def queue(self, pipeline: PipelineSpec) -> int:
        self.sb.save_pipeline(pipeline)
        return self.sb.enqueue(pipeline.name).id

    def kinds(self, job_id: int) -> list[str]:
        return [e.kind for e in self.events(job_id)]


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = Store(pg_url)
    yield s
    s.close()


def wait_worker_beats(
    store: Store, name: str, beats: int, procs: Workers, check: Callable[[], None] = lambda: None
) -> None:
    """Wait until the worker's own row was renewed ``beats`` more times: each renewal is
    one more pass of its loop (reap, claim, beat). ``check`` runs on every poll."""
    seen = [store.worker_beat(name)]

    def advanced() -> bool:
        check()
        now = store.worker_beat(name)
        if now is not None and now != seen[-1]:
            seen.append(now)
        return len(seen) > beats

    wait_for(f"{beats} loop passes of worker {name}", advanced, 20, procs.logs)


def assert_copied(data_url: str, dest_table: str = "dst") -> None:
    assert table_rows(data_url, dest_table, ["id"]) == table_rows(data_url, "src", ["id"])


# -- 1. the store drops the heartbeat's connection ----------------------------------------


def test_heartbeat_reconnects_after_the_store_kills_its_connections(
    pg_url: str, pg_url2: str, store: Store, procs: Workers
) -> None:
    make_source(pg_url2, SLOW)
    job_id = store.queue(spec("kill", pg_url2))
    app = "sbworker-kill"
    procs.start("w1", with_app_name(pg_url, app), "--lease-ttl", "3")
    wait_for("the first batch", lambda: store.job(job_id).rows_done >= BATCH, 20, procs.logs)

    store_db = make_url(pg_url).database
    killer = admin(pg_url)

    def kill() -> int:
        with killer.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db AND application_name = :app "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"db": store_db, "app": app},
                ).scalar_one()
            )

    try:
        # A batch now takes 3 s, longer than the lease may go unrenewed (0.8 x TTL 3 s =
        # 2.4 s): the job keeps its lease through it only if the heartbeat thread renews
        # it, and it is killed three times at the start of that batch.
        set_delay(pg_url2, 3.0)
        before = store.job(job_id).rows_done
        wait_for(
            "the current batch to end", lambda: store.job(job_id).rows_done > before, 10, procs.logs
        )
        slow_batch = store.job(job_id).rows_done
        for _round in range(3):
            assert kill() >= 1, "the worker had no store connection to kill"
            killed_at = store.now()
            wait_for(
                "a lease renewal after the kill",
                lambda at=killed_at: store.heartbeat_at(job_id) > at,
                10,
                procs.logs,
            )
        job = store.job(job_id)
        assert job.rows_done == slow_batch, "the kills did not fall within the slow batch"
        wait_for(
            "the slow batch to end",
            lambda: store.job(job_id).rows_done > slow_batch,
            10,
            procs.logs,
        )
        job = store.job(job_id)
        assert job.status == "running" and job.lease_epoch == 1, procs.logs()

        # Fast batches and a kill every few milliseconds: some land in the middle of the
        # runner's own store writes (checkpoints, events), as in a failover.
        set_delay(pg_url2, 0.01)
        start = store.job(job_id).rows_done
        killed = 0
        deadline = time.monotonic() + 20
        while store.job(job_id).rows_done < min(start + 8 * BATCH, ROWS):
            assert store.job(job_id).status == "running", procs.logs()
            assert time.monotonic() < deadline, "no progress under the kills\n" + procs.logs()
            killed += kill()
            time.sleep(0.01)
        assert killed >= 5, f"only {killed} connections were killed"

        set_delay(pg_url2, 0)
        wait_for(
            "the job to complete", lambda: store.job(job_id).status == "completed", 30, procs.logs
        )
        # An idle worker looks for work ten times a second: kills that hit its claims
        # must not end it either.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            kill()
            time.sleep(0.01)
        assert procs.procs["w1"].poll() is None, "the worker died\n" + procs.logs()
        wait_worker_beats(store, "w1", 2, procs)  # and it goes on working
    finally:
        killer.dispose()

    job = store.job(job_id)
    assert job.rows_done == ROWS
    assert job.lease_epoch == 1 and job.attempt == 1, "the job was claimed again"
    kinds = store.kinds(job_id)
    assert "lease_lost" not in kinds, procs.logs()
    assert kinds.count("claimed") == 1
    assert not {"stalled", "failed", "stuck"} & set(kinds), kinds
    assert_copied(pg_url2)
    assert state_epochs(pg_url2) == [1]


# -- 2. a hung source statement trips the progress watchdog --------------------------------


def test_watchdog_gives_back_a_job_blocked_by_a_lock_and_it_completes_after(
    pg_url: str, pg_url2: str, store: Store, procs: Workers
) -> None:
    make_source(pg_url2, SLOW)
    job_id = store.queue(spec("locked", pg_url2))
    procs.start("w1", pg_url, "--lease-ttl", "5", "--batch-timeout", "1.5")
    wait_for("two batches", lambda: store.job(job_id).rows_done >= 2 * BATCH, 20, procs.logs)

    source = admin(pg_url2)
    holder_engine = sa.create_engine(pg_url2)
    holder = holder_engine.connect()  # a transaction that holds the lock
    try:
        holder.exec_driver_sql("LOCK TABLE src IN ACCESS EXCLUSIVE MODE")
        locked_at = time.monotonic()

        stuck = wait_for("a stuck event", lambda: store.events(job_id, "stuck"), 15, procs.logs)[0]
        # Counted only now: a batch whose page was read before the lock may still have
        # committed after it. From here on every page read waits behind the lock.
        locked_rows = count(pg_url2, "dst")
        assert time.monotonic() - locked_at >= 1.2, "stuck before the batch timeout"
        assert stuck.lease_epoch == 1
        assert "no progress" in stuck.message and "job given back" in stuck.message

        def blocked_page_reads() -> int:
            with source.connect() as conn:
                return int(
                    conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
                            "AND application_name = 'sbsrc-locked' AND wait_event_type = 'Lock' "
                            "AND query LIKE '%LIMIT%'"
                        ),
                        {"db": make_url(pg_url2).database},
                    ).scalar_one()
                )

        # The hung page read was cancelled, not left waiting behind the lock.
        wait_for(
            "the hung statement to be cancelled", lambda: blocked_page_reads() == 0, 5, procs.logs
        )
        # The job was given back and, the worker being free again, retried.
        retry = wait_for(
            "the job to be claimed again",
            lambda: [e for e in store.events(job_id, "claimed") if e.lease_epoch == 2],
            10,
            procs.logs,
        )[0]
        assert retry.id > stuck.id
        # The retry is blocked by the same lock, and the watchdog catches it too.
        wait_for(
            "the retry to be abandoned as well",
            lambda: [e for e in store.events(job_id, "stuck") if e.lease_epoch == 2],
            15,
            procs.logs,
        )
        assert count(pg_url2, "dst") == locked_rows  # nothing written while locked
    finally:
        holder.rollback()  # releases the lock
        holder.close()
        holder_engine.dispose()
        source.dispose()

    set_delay(pg_url2, 0)
    wait_for("the job to complete", lambda: store.job(job_id).status == "completed", 30, procs.logs)
    job = store.job(job_id)
    assert job.rows_done == ROWS
    assert job.lease_epoch >= 3
    assert_copied(pg_url2)
    kinds = store.kinds(job_id)
    assert "failed" not in kinds and "lease_lost" not in kinds, kinds
    assert procs.procs["w1"].poll() is None, "the worker died"


def test_a_job_that_always_hangs_fails_once_its_attempts_are_used_up(
    pg_url: str, pg_url2: str, store: Store, procs: Workers
) -> None:
    make_source(pg_url2, 0)
    job_id = store.queue(spec("hangs", pg_url2))
    holder_engine = sa.create_engine(pg_url2)
    holder = holder_engine.connect()
    try:
        holder.exec_driver_sql("LOCK TABLE src IN ACCESS EXCLUSIVE MODE")
        # Every attempt hangs before its first batch (reading the source's columns).
        procs.start("w1", pg_url, "--lease-ttl", "5", "--batch-timeout", "1", "--max-attempts", "2")
        wait_for("the job to fail", lambda: store.job(job_id).status == "failed", 20, procs.logs)
        job = store.job(job_id)
        assert job.attempt == 2 and job.lease_epoch == 2
        assert job.last_error and "attempts are used" in job.last_error
        assert [e.lease_epoch for e in store.events(job_id, "stuck")] == [1, 2]

        def stays_failed() -> None:
            assert (store.job(job_id).status, store.job(job_id).lease_epoch) == ("failed", 2)

        wait_worker_beats(store, "w1", 3, procs, stays_failed)  # not claimed again
    finally:
        holder.rollback()
        holder.close()
        holder_engine.dispose()

    resumed = run_cli("job", "resume", str(job_id), store=pg_url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    wait_for(
        "the resumed job to complete",
        lambda: store.job(job_id).status == "completed",
        30,
        procs.logs,
    )
    assert store.job(job_id).rows_done == ROWS
    assert_copied(pg_url2)


# -- 3. pause, resume, cancel -------------------------------------------------------------


def test_pause_freezes_the_job_until_resume_and_cancel_is_final(
    pg_url: str, pg_url2: str, store: Store, procs: Workers
) -> None:
    make_source(pg_url2, SLOW)
    job_id = store.queue(spec("pausing", pg_url2))
    procs.start("w1", pg_url, "--lease-ttl", "3")
    wait_for("the first batch", lambda: store.job(job_id).rows_done >= BATCH, 20, procs.logs)
    set_delay(pg_url2, CRAWL)

    paused = run_cli("job", "pause", str(job_id), store=pg_url)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    wait_for("the job to pause", lambda: store.job(job_id).status == "paused", 10, procs.logs)
    frozen = store.job(job_id)
    assert 0 < frozen.rows_done < ROWS and frozen.owner is None
    frozen_rows = count(pg_url2, "dst")
    assert frozen_rows == frozen.rows_done

    def nothing_moves() -> None:
        job = store.job(job_id)
        assert (job.status, job.rows_done, job.lease_epoch) == (
            "paused",
            frozen.rows_done,
            frozen.lease_epoch,
        ), procs.logs()
        assert count(pg_url2, "dst") == frozen_rows

    wait_worker_beats(store, "w1", 4, procs, nothing_moves)  # several heartbeat intervals

    resumed = run_cli("job", "resume", str(job_id), store=pg_url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Job {job_id} is now" in resumed.stdout  # queued, or already claimed again
    set_delay(pg_url2, 0)
    wait_for(
        "the resumed job to complete",
        lambda: store.job(job_id).status == "completed",
        30,
        procs.logs,
    )
    assert store.job(job_id).rows_done == ROWS
    assert_copied(pg_url2)
    kinds = store.kinds(job_id)
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("completed")
    resumed_at = store.events(job_id, "resumed")[0].data or {}
    assert resumed_at.get("rows_done") == frozen.rows_done, "the resume started over"

    # Cancel: final. The job stops, is never claimed again, and cannot be resumed.
    set_delay(pg_url2, SLOW)
    cancel_id = store.queue(spec("cancelling", pg_url2, dest_table="dst2"))
    wait_for("the first batch", lambda: store.job(cancel_id).rows_done >= BATCH, 20, procs.logs)
    set_delay(pg_url2, CRAWL)
    cancelled = run_cli("job", "cancel", str(cancel_id), store=pg_url)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    wait_for(
        "the job to be cancelled",
        lambda: store.job(cancel_id).status == "cancelled",
        10,
        procs.logs,
    )
    final = store.job(cancel_id)
    final_rows = count(pg_url2, "dst2")
    assert final.rows_done == final_rows < ROWS

    def stays_cancelled() -> None:
        job = store.job(cancel_id)
        assert (job.status, job.rows_done, job.lease_epoch) == (
            "cancelled",
            final.rows_done,
            final.lease_epoch,
        ), procs.logs()
        assert count(pg_url2, "dst2") == final_rows

    wait_worker_beats(store, "w1", 4, procs, stays_cancelled)
    refused = run_cli("job", "resume", str(cancel_id), store=pg_url)
    assert refused.returncode != 0
    message = " ".join((refused.stdout + refused.stderr).split())
    assert f"Job {cancel_id} is cancelled" in message and "cannot be resumed" in message, message
    assert "Traceback" not in message
    stays_cancelled()
    kinds = store.kinds(cancel_id)
    assert kinds.count("claimed") == 1 and kinds[-1] == "cancelled", kinds


# -- 4. clock skew ------------------------------------------------------------------------


def faketime_env(offset: str) -> dict[str, str]:
    """Environment that shifts a process's wall clock by ``offset`` (libfaketime).

    The monotonic clock stays real (FAKETIME_DONT_FAKE_MONOTONIC): with it faked,
    Python's timed waits (sem_clockwait on CLOCK_MONOTONIC) never return. Wall-clock
    skew is what differs between machines anyway.
    """
    if not FAKETIME_LIB.exists():
        reason = f"libfaketime is not installed ({FAKETIME_LIB}; apt-get install libfaketime)"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    env = {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    # The skew must be real, and the database driver must still work under it.
    probe = subprocess.run(
        [
            str(Path(syncbeat_command()[0]).with_name("python")),
            "-c",
            "import time, sqlalchemy as sa, threading\n"
            "threading.Event().wait(0.05)\n"
            "print(time.time())\n",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert probe.returncode == 0, probe.stderr
    skew = float(probe.stdout.strip()) - time.time()
    expected = {"+": 1, "-": -1}[offset[0]] * int(offset[1:-1]) * 3600
    assert abs(skew - expected) < 60, f"libfaketime did not shift the clock ({skew:.0f}s)"
    return env


def test_a_worker_in_the_future_does_not_steal_a_live_lease(
    pg_url: str, pg_url2: str, store: Store, procs: Workers
) -> None:
    skewed = faketime_env("+2h")
    make_source(pg_url2, SLOW)
    job_id = store.queue(spec("skew", pg_url2))
    procs.start("normal", pg_url, "--lease-ttl", "3")
    wait_for("the first batch", lambda: store.job(job_id).rows_done >= BATCH, 20, procs.logs)
    owner = store.job(job_id).owner
    assert owner and owner.startswith("normal@")
    set_delay(pg_url2, CRAWL)

    procs.start("future", pg_url, "--lease-ttl", "3", env=skewed)

    def held_by_normal() -> None:
        job = store.job(job_id)
        assert job.status == "running" and job.lease_epoch == 1 and job.owner == owner, (
            job,
            procs.logs(),
        )

    # The skewed worker reaps and tries to claim on every pass of its loop.
    wait_worker_beats(store, "future", 5, procs, held_by_normal)
    assert store.job(job_id).rows_done < ROWS, "the job ended before the check was done"

    set_delay(pg_url2, 0)
    wait_for("the job to complete", lambda: store.job(job_id).status == "completed", 30, procs.logs)
    job = store.job(job_id)
    assert job.lease_epoch == 1 and job.attempt == 1
    events = store.events(job_id)
    kinds = [e.kind for e in events]
    assert kinds.count("claimed") == 1 and not {"stalled", "lease_lost"} & set(kinds), kinds
    assert all(e.owner == owner for e in events if e.kind == "batch")
    assert "claimed job" not in procs.log("future")
    assert_copied(pg_url2)


def test_a_worker_in_the_past_stops_writing_once_its_lease_expired(
    pg_url: str, pg_url2: str, store: Store, procs: Workers
) -> None:
    skewed = faketime_env("-2h")
    make_source(pg_url2, SLOW)
    job_id = store.queue(spec("stale", pg_url2))
    past = procs.start("past", pg_url, "--lease-ttl", "2", env=skewed)
    wait_for("two batches", lambda: store.job(job_id).rows_done >= 2 * BATCH, 20, procs.logs)
    old = store.job(job_id)
    assert old.lease_epoch == 1 and old.owner and old.owner.startswith("past@")

    past.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM
    procs.start("normal", pg_url, "--lease-ttl", "3")
    taken = wait_for(
        "the normal worker to take the expired lease over",
        lambda: [e for e in store.events(job_id, "claimed") if e.lease_epoch == 2],
        20,
        procs.logs,
    )[0]
    assert taken.owner and taken.owner.startswith("normal@")
    past.send_signal(signal.SIGCONT)

    lost = wait_for(
        "the stale worker to notice", lambda: store.events(job_id, "lease_lost"), 15, procs.logs
    )[0]
    assert lost.lease_epoch == 1 and lost.owner == old.owner

    set_delay(pg_url2, 0)
    wait_for("the job to complete", lambda: store.job(job_id).status == "completed", 30, procs.logs)
    job = store.job(job_id)
    assert job.rows_done == ROWS and job.lease_epoch == 2
    # Nothing of the stale lease was recorded after the takeover, but its lease_lost.
    late = [e for e in store.events(job_id) if e.id > taken.id and e.lease_epoch == 1]
    assert [e.kind for e in late] == ["lease_lost"], late
    assert all(
        e.lease_epoch == 2
        for e in store.events(job_id)
        if e.kind in ("batch", "completed") and e.id > taken.id
    )
    assert_copied(pg_url2)
    assert state_epochs(pg_url2) == [2]
    assert past.poll() is None, "the stale worker crashed instead of carrying on"
