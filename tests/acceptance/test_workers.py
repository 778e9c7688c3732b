"""Workers as a user runs them: real `syncbeat worker` processes on a PostgreSQL store.

Every test starts the installed CLI in subprocesses, copies real PostgreSQL tables in
append mode into destination tables without a primary key (so a row written twice
would show as a duplicate), and checks the job's events for the lease protocol:
one owner at a time, epochs that only grow, takeover within its time bound after a
crash, a frozen owner fenced out, and a drain that gives the job back uncharged.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.service.models import EventView
from syncbeat.store import protocol
from syncbeat.store.protocol import Lease, Owner
from syncbeat.store.schema import jobs
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import LeaseLost
from tests.support.cli import run_cli, syncbeat_command
from tests.support.databases import FreshDatabases
from tests.support.sql import execute, table_rows

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HEARTBEAT = 0.3
LEASE_TTL = 2.0
POLL = 0.1
# What a takeover may take beyond TTL + heartbeat interval: one poll of the claiming
# worker, plus scheduling slack for processes sharing two cores with PostgreSQL.
TAKEOVER_ALLOWANCE = POLL + 0.5
WORKER_OPTIONS = (
    "--heartbeat-interval",
    str(HEARTBEAT),
    "--lease-ttl",
    str(LEASE_TTL),
    "--poll-interval",
    str(POLL),
)
COLUMNS = "id, payload, amount, created"
SLOW_BATCH = 0.1  # seconds of pg_sleep per page read from a slow source

T = TypeVar("T")


# -- databases ------------------------------------------------------------------------------


@pytest.fixture
def pg_url3(_pg_server: FreshDatabases) -> Iterator[str]:
    """A third fresh PostgreSQL database: store, sources and destinations each apart."""
    url = _pg_server.create()
    yield url
    _pg_server.drop(url)


@pytest.fixture
def dbs(pg_url: str, pg_url2: str, pg_url3: str) -> tuple[str, str, str]:
    """(store, source, destination)."""
    return pg_url, pg_url2, pg_url3


@pytest.fixture
def sb(dbs: tuple[str, str, str]) -> Iterator[Syncbeat]:
    client = Syncbeat(dbs[0])
    yield client
    client.close()


def _scalar(url: str, statement: str) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql(statement).scalar()
    finally:
        engine.dispose()


def make_source(url: str, table: str, rows: int) -> None:
    execute(
        url,
        f"CREATE TABLE {table} (id integer PRIMARY KEY, payload text NOT NULL, "
        "amount numeric(12,2), created timestamp)",
        f"INSERT INTO {table} SELECT g, md5(g::text) || repeat('é', mod(g, 5)), "
        "CASE WHEN mod(g, 13) = 0 THEN NULL ELSE (g * 1.25)::numeric(12,2) END, "
        "timestamp '2024-01-01' + g * interval '1 minute' "
        f"FROM generate_series(1, {rows}) AS g",
    )


def make_dest(url: str, table: str) -> None:
    """A destination table with no key at all: a row appended twice stays twice."""
    execute(
        url,
        f"CREATE TABLE {table} (id integer NOT NULL, payload text NOT NULL, "
        "amount numeric(12,2), created timestamp)",
    )


def slow_query(table: str, delay: float = SLOW_BATCH) -> str:
    """Each page read sleeps once (an InitPlan), so a job is surely mid-way for seconds."""
    return f"SELECT {COLUMNS} FROM {table} WHERE (SELECT pg_sleep({delay})) IS NOT NULL"


def assert_same_rows(source: str, dest: str, src_table: str, dst_table: str, rows: int) -> None:
    duplicates = _scalar(dest, f"SELECT count(*) - count(DISTINCT id) FROM {dst_table}")
    assert duplicates == 0, f"{dst_table}: {duplicates} row(s) appended twice"
    assert _scalar(dest, f"SELECT count(*) FROM {dst_table}") == rows
    assert table_rows(dest, dst_table, ["id"]) == table_rows(source, src_table, ["id"])


# -- worker processes ---------------------------------------------------------------------


class Workers:
    """`syncbeat worker` processes; whatever is still running at the end is killed."""

    def __init__(self, store: str, logs: Path) -> None:
        self.store, self.logs = store, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, "SYNCBEAT_STORE": store, "COLUMNS": "200", "NO_COLOR": "1"}

    def start(self, name: str, *extra: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                [*syncbeat_command(), "worker", "--name", name, *WORKER_OPTIONS, *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        finally:
            log.close()
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def by_pid(self, pid: int) -> str:
        names = [n for n, p in self.procs.items() if p.pid == pid]
        assert names, f"pid {pid} is none of the workers started here {self.pids()}"
        return names[0]

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.procs.items()}

    def diagnostics(self) -> str:
        return "\n".join(
            f"--- worker {n} (pid {p.pid}, exit {p.poll()}):\n{self.log(n)[-3000:]}"
            for n, p in self.procs.items()
        )

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot die
                    proc.kill()
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            proc.wait(timeout=30)


@pytest.fixture
def workers(dbs: tuple[str, str, str], tmp_path: Path) -> Iterator[Workers]:
    manager = Workers(dbs[0], tmp_path)
    try:
        yield manager
    finally:
        manager.close()


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float,
    diagnostics: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``probe`` until it returns something truthy, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{diagnostics()}")
        time.sleep(0.05)


def wait_exit(
    proc: subprocess.Popen[bytes], timeout: float, what: str, diagnostics: Callable[[], str]
) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not exit within {timeout:g}s\n{diagnostics()}")


# -- the store, as the tests read it ----------------------------------------------------


def events(sb: Syncbeat, job_id: int) -> list[EventView]:
    return sb.events(job_id, limit=100_000)


def job_row(sb: Syncbeat, job_id: int) -> Any:
    with sb.store.begin() as conn:
        return conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()


def claims(sb: Syncbeat, job_id: int) -> list[EventView]:
    return [e for e in events(sb, job_id) if e.kind == "claimed"]


def batches(sb: Syncbeat, job_id: int, epoch: int) -> list[EventView]:
    return [e for e in events(sb, job_id) if e.kind == "batch" and e.lease_epoch == epoch]


def finished(sb: Syncbeat, job_id: int) -> str | None:
    """The job's status once it completed; fails at once if it ended any other way."""
    status = sb.job(job_id, events=0).status
    if status in ("failed", "cancelled"):
        pytest.fail(
            f"job {job_id} {status}: {sb.job(job_id, events=0).last_error}\n"
            + "\n".join(
                f"{e.kind} {e.lease_epoch} {e.owner} {e.message}" for e in events(sb, job_id)
            )
        )
    return status if status == "completed" else None


def first_claim(sb: Syncbeat, job_id: int, workers: Workers) -> EventView:
    found = wait_for("the job to be claimed", lambda: claims(sb, job_id), 30, workers.diagnostics)
    return found[0]


def owner_pid(event: EventView) -> int:
    assert event.owner is not None
    owner = Owner.parse(event.owner)
    assert owner is not None, f"unreadable owner {event.owner!r}"
    assert owner.host == socket.gethostname()
    return owner.pid


def assert_one_owner_at_a_time(
    history: list[EventView], *, stale_lease_lost: bool = False
) -> list[EventView]:
    """Walk a job's events in id order: every event written under a lease (it carries an
    epoch or an owner) after a `claimed` belongs to that claim's (owner, epoch) until
    the next `claimed`, and each claim's epoch is higher than the last. With
    ``stale_lease_lost``, a `lease_lost` of an earlier claim (a fenced-out owner telling
    what happened to it) is allowed. Returns the claims."""
    assert [e.id for e in history] == sorted(e.id for e in history)
    seen: list[EventView] = []
    for event in history:
        where = f"event {event.id} ({event.kind}, epoch {event.lease_epoch}, {event.owner})"
        if event.kind == "claimed":
            assert event.owner and event.lease_epoch is not None, where
            if seen:
                assert event.lease_epoch > seen[-1].lease_epoch, (
                    f"{where}: epoch not above the previous claim's {seen[-1].lease_epoch}"
                )
            seen.append(event)
            continue
        if event.lease_epoch is None and event.owner is None:
            continue  # created, requested: not written under a lease
        assert seen, f"{where} before any claim"
        current = seen[-1]
        if (
            stale_lease_lost
            and event.kind == "lease_lost"
            and event.lease_epoch != current.lease_epoch
        ):
            earlier = [c for c in seen[:-1] if c.lease_epoch == event.lease_epoch]
            assert earlier and earlier[0].owner == event.owner, f"{where}: matches no earlier claim"
            continue
        assert event.lease_epoch == current.lease_epoch, (
            f"{where} while the lease is claim {current.id}'s (epoch {current.lease_epoch})"
        )
        if event.owner is not None:  # the reaper's `stalled` names no owner
            assert event.owner == current.owner, f"{where} while {current.owner} holds the lease"
    return seen


def assert_stale_writes_refused(
    sb: Syncbeat, dest: str, job_id: int, old: EventView, new: EventView
) -> None:
    """What a fenced-out owner would write next, its checkpoint in the store and its batch's
    state row in the destination, is refused while the new owner holds the job: both are
    fenced on the epoch. (Row locks hold the new owner still while we look.)"""
    assert old.owner is not None and old.lease_epoch is not None
    uid = job_row(sb, job_id)["uid"]
    stale = Lease(job_id, uid, old.lease_epoch, old.owner, 1, 5, LEASE_TTL, Checkpoint(), {})
    with sb.store.begin() as conn:
        now = conn.execute(
            sa.select(jobs.c.status, jobs.c.lease_epoch)
            .where(jobs.c.id == job_id)
            .with_for_update()
        ).one()
        assert tuple(now) == ("running", new.lease_epoch), "the job ended too soon to look"
        with pytest.raises(LeaseLost):
            protocol.save_checkpoint(conn, stale, Checkpoint((10**9,), 10**6, 10**9), rate=None)
    engine = sa.create_engine(dest)
    try:
        with engine.begin() as conn:
            table = dest_state.state_table
            row = conn.execute(
                sa.select(table).where(table.c.job_uid == uid).with_for_update()
            ).one()
            assert row.lease_epoch == new.lease_epoch
            before = Checkpoint(None, row.batch_index, row.rows_done)
            with pytest.raises(LeaseLost):
                dest_state.advance(
                    conn, uid, old.lease_epoch, before, before.advance((10**9,), 1, 0)
                )
    finally:
        engine.dispose()


def queue(
    sb: Syncbeat,
    name: str,
    source: str,
    dest: str,
    *,
    table: str | None = None,
    query: str | None = None,
    dest_table: str,
    batch_size: int,
) -> int:
    spec = PipelineSpec(
        name=name,
        source_url=source,
        source_table=table,
        source_query=query,
        key=[] if table else ["id"],
        dest_url=dest,
        dest_table=dest_table,
        mode="append",
        batch_size=batch_size,
    )
    sb.save_pipeline(spec)
    return sb.enqueue(name).id


def store_transaction_open(store: str, older_than: float) -> bool:
    """Whether some session holds a transaction on the store open for ``older_than`` s
    (workers' own transactions last milliseconds: only a frozen process holds one)."""
    database = make_url(store).database
    count = _scalar(
        store,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
        f"'{database}' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
        f"AND xact_start < clock_timestamp() - interval '{older_than} seconds'",
    )
    return bool(count)


# -- 1. many workers, many jobs --------------------------------------------------------------


def test_three_workers_complete_ten_jobs_with_one_owner_at_a_time(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Workers
) -> None:
    _store, source, dest = dbs
    sizes = {f"t{i}": 1500 + 173 * i for i in range(10)}
    for table, rows in sizes.items():
        make_source(source, table, rows)
        make_dest(dest, f"d_{table}")
    names = ["w1", "w2", "w3"]
    for name in names:
        workers.start(name, "--concurrency", "2")
    wait_for(
        "three workers to register",
        lambda: {w.name for w in sb.workers()} >= set(names),
        30,
        workers.diagnostics,
    )

    job_ids = {
        table: queue(
            sb, f"p_{table}", source, dest, table=table, dest_table=f"d_{table}", batch_size=97
        )
        for table in sizes
    }
    wait_for(
        "every job to complete",
        lambda: all(finished(sb, j) for j in job_ids.values()),
        90,
        workers.diagnostics,
    )

    owners: set[str] = set()
    for table, job_id in job_ids.items():
        history = events(sb, job_id)
        claimed = assert_one_owner_at_a_time(history)
        assert claimed, f"job {job_id} was never claimed"
        assert history[-1].kind == "completed"
        assert (history[-1].owner, history[-1].lease_epoch) == (
            claimed[-1].owner,
            claimed[-1].lease_epoch,
        )
        assert {workers.by_pid(owner_pid(c)) for c in claimed} <= set(names)
        owners.update(c.owner for c in claimed if c.owner)
        job = sb.job(job_id, events=0)
        assert job.rows_done == job.rows_total == sizes[table]
        assert_same_rows(source, dest, table, f"d_{table}", sizes[table])
    assert len(owners) >= 2, f"one worker did every job: {owners}"

    for name in names:
        os.kill(workers.procs[name].pid, signal.SIGTERM)
    for name in names:
        assert wait_exit(workers.procs[name], 20, name, workers.diagnostics) == 0


# -- 2. a crashed owner is taken over in time, from its checkpoint --------------------------


def test_sigkilled_owner_is_taken_over_within_ttl_and_resumes_at_checkpoint(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Workers
) -> None:
    store, source, dest = dbs
    rows, batch = 3000, 100
    make_source(source, "orders", rows)
    make_dest(dest, "orders")
    job_id = queue(
        sb,
        "orders",
        source,
        dest,
        query=slow_query("orders"),
        dest_table="orders",
        batch_size=batch,
    )
    workers.start("a")
    workers.start("b")

    first = first_claim(sb, job_id, workers)
    victim = workers.by_pid(owner_pid(first))
    shown = json.loads(
        run_cli("job", "show", str(job_id), "--json", store=store, check=True).stdout
    )
    assert shown["owner"] == first.owner
    assert shown["status"] == "running"
    wait_for(
        "a few batches",
        lambda: len(batches(sb, job_id, first.lease_epoch)) >= 3,
        30,
        workers.diagnostics,
    )

    killed_at = sb.store.now()
    workers.procs[victim].kill()
    workers.procs[victim].wait(timeout=10)
    before = job_row(sb, job_id)
    assert (before["status"], before["owner"], before["lease_epoch"]) == (
        "running",
        first.owner,
        first.lease_epoch,
    ), "the job moved before its lease expired"
    old_batches = batches(sb, job_id, first.lease_epoch)
    assert 0 < len(old_batches) < rows // batch, "the killed worker was not mid-job"

    bound = LEASE_TTL + HEARTBEAT + TAKEOVER_ALLOWANCE
    takeover = wait_for(
        "another worker to claim the job",
        lambda: claims(sb, job_id)[1:],
        bound + 10,
        workers.diagnostics,
    )[0]
    took = takeover.at.timestamp() - killed_at
    assert took <= bound, f"takeover took {took:.2f}s after the kill (bound {bound:.2f}s)"
    assert takeover.at.timestamp() > before["lease_expires_at"], (
        "the job was claimed while the dead owner's lease was still valid"
    )
    assert takeover.lease_epoch > first.lease_epoch
    assert workers.by_pid(owner_pid(takeover)) != victim

    wait_for("the job to complete", lambda: finished(sb, job_id), 60, workers.diagnostics)
    history = events(sb, job_id)
    claimed = assert_one_owner_at_a_time(history)
    assert [c.id for c in claimed] == [first.id, takeover.id]
    resumed = [e for e in history if e.kind == "resumed"]
    assert len(resumed) == 1 and resumed[0].id > takeover.id
    assert (resumed[0].owner, resumed[0].lease_epoch) == (takeover.owner, takeover.lease_epoch)
    checkpoint = resumed[0].data or {}
    # The destination's checkpoint: the last batch the store heard of, or one more whose
    # rows committed just before the kill.
    last_recorded = old_batches[-1].data or {}
    assert (
        last_recorded["rows_done"] <= checkpoint["rows_done"] <= last_recorded["rows_done"] + batch
    )
    assert checkpoint["batch_index"] > 0
    assert (
        f"batch {checkpoint['batch_index']}, row {checkpoint['rows_done']:,}" in resumed[0].message
    )
    first_new = next(e for e in history if e.kind == "batch" and e.id > takeover.id)
    assert (first_new.data or {})["rows_done"] == checkpoint["rows_done"] + batch

    job = sb.job(job_id, events=0)
    assert (job.status, job.rows_done, job.attempt) == ("completed", rows, 2)
    assert_same_rows(source, dest, "orders", "orders", rows)


# -- 3. a frozen owner wakes up fenced out ----------------------------------------------------


def test_sigstopped_owner_is_fenced_out_after_takeover(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Workers
) -> None:
    store, source, dest = dbs
    rows, batch = 3000, 100
    make_source(source, "events", rows)
    make_dest(dest, "events")
    job_id = queue(
        sb,
        "events",
        source,
        dest,
        query=slow_query("events"),
        dest_table="events",
        batch_size=batch,
    )
    workers.start("a")
    workers.start("b")
    first = first_claim(sb, job_id, workers)
    frozen = workers.by_pid(owner_pid(first))
    pid = workers.procs[frozen].pid

    # Freeze it mid-job. A process frozen inside a store transaction would hold the job's
    # row lock and nobody could take over until it thaws: retry until it is frozen
    # between store transactions (as it is almost always: a batch is mostly reading).
    for _ in range(6):
        seen = len(batches(sb, job_id, first.lease_epoch))
        wait_for(
            "the next batch",
            lambda s=seen: len(batches(sb, job_id, first.lease_epoch)) > max(s, 2),
            30,
            workers.diagnostics,
        )
        os.kill(pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        wait_for(
            "the frozen worker's open transactions to age",
            lambda t=frozen_at: time.monotonic() - t > 0.3,
            5,
        )
        if not store_transaction_open(store, 0.25):
            break
        os.kill(pid, signal.SIGCONT)
    else:
        pytest.fail("the worker was frozen inside a store transaction 6 times in a row")
    assert job_row(sb, job_id)["status"] == "running"
    old_batches = batches(sb, job_id, first.lease_epoch)
    assert len(old_batches) < rows // batch, "the frozen worker was not mid-job"

    takeover = wait_for(
        "another worker to claim the job",
        lambda: claims(sb, job_id)[1:],
        LEASE_TTL + HEARTBEAT + TAKEOVER_ALLOWANCE + 10,
        workers.diagnostics,
    )[0]
    assert takeover.lease_epoch > first.lease_epoch
    assert workers.by_pid(owner_pid(takeover)) != frozen
    os.kill(pid, signal.SIGCONT)

    lost = wait_for(
        "the thawed worker to record lease_lost",
        lambda: [e for e in events(sb, job_id) if e.kind == "lease_lost"],
        15,
        workers.diagnostics,
    )
    assert len(lost) == 1
    assert (lost[0].owner, lost[0].lease_epoch) == (first.owner, first.lease_epoch)
    wait_for(
        "the thawed worker to abandon the job",
        lambda: f"job {job_id} lease_lost" in workers.log(frozen),
        15,
        workers.diagnostics,
    )
    assert workers.procs[frozen].poll() is None, "losing a lease must not kill the worker"
    wait_for(
        "the new owner's first batch",
        lambda: batches(sb, job_id, takeover.lease_epoch),
        15,
        workers.diagnostics,
    )
    assert_stale_writes_refused(sb, dest, job_id, first, takeover)

    wait_for("the job to complete", lambda: finished(sb, job_id), 60, workers.diagnostics)
    history = events(sb, job_id)
    claimed = assert_one_owner_at_a_time(history, stale_lease_lost=True)
    assert [c.id for c in claimed] == [first.id, takeover.id]
    stale = [
        e
        for e in history
        if e.id > takeover.id and e.lease_epoch == first.lease_epoch and e.kind != "stalled"
    ]
    assert [e.kind for e in stale] == ["lease_lost"], (
        f"the fenced-out owner wrote after the takeover: {[e.kind for e in stale]}"
    )
    job = sb.job(job_id, events=0)
    assert (job.status, job.rows_done, job.lease_epoch) == ("completed", rows, takeover.lease_epoch)
    assert_same_rows(source, dest, "events", "events", rows)


# -- 4. SIGTERM drains and gives the job back -------------------------------------------------


def test_sigterm_drains_releases_the_job_uncharged_and_another_worker_finishes_it(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Workers
) -> None:
    _store, source, dest = dbs
    rows, batch = 3000, 100
    make_source(source, "items", rows)
    make_dest(dest, "items")
    job_id = queue(
        sb, "items", source, dest, query=slow_query("items"), dest_table="items", batch_size=batch
    )
    assert sb.job(job_id, events=0).attempt == 0
    proc = workers.start("draining")
    first = first_claim(sb, job_id, workers)
    assert owner_pid(first) == proc.pid
    assert sb.job(job_id, events=0).attempt == 1
    wait_for(
        "a few batches",
        lambda: len(batches(sb, job_id, first.lease_epoch)) >= 3,
        30,
        workers.diagnostics,
    )

    os.kill(proc.pid, signal.SIGTERM)
    # Draining waits for the current batch (about SLOW_BATCH s) and then gives up.
    assert wait_exit(proc, 10, "the drained worker", workers.diagnostics) == 0

    job = job_row(sb, job_id)
    assert job["status"] == "queued"
    assert job["attempt"] == 0, "a drained job was charged an attempt"
    assert job["owner"] is None
    history = events(sb, job_id)
    assert history[-1].kind == "released"
    assert (history[-1].owner, history[-1].lease_epoch) == (first.owner, first.lease_epoch)
    released_at = job["rows_done"]
    assert 0 < released_at < rows
    assert released_at == (batches(sb, job_id, first.lease_epoch)[-1].data or {})["rows_done"]
    assert not [w for w in sb.workers() if w.name == "draining"]

    workers.start("finisher")
    wait_for("the job to complete", lambda: finished(sb, job_id), 60, workers.diagnostics)
    history = events(sb, job_id)
    claimed = assert_one_owner_at_a_time(history)
    assert len(claimed) == 2
    assert claimed[1].message.startswith("attempt 1 of")
    resumed = [e for e in history if e.kind == "resumed"]
    assert len(resumed) == 1 and (resumed[0].data or {})["rows_done"] == released_at
    job = job_row(sb, job_id)
    assert (job["status"], job["attempt"], job["rows_done"]) == ("completed", 1, rows)
    assert_same_rows(source, dest, "items", "items", rows)


# -- 5. --once ---------------------------------------------------------------------------------


def test_worker_once_runs_exactly_one_job_and_exits_promptly_when_idle(
    dbs: tuple[str, str, str], sb: Syncbeat
) -> None:
    store, source, dest = dbs
    sizes = {"alpha": 1200, "beta": 800}
    ids = {}
    for table, count in sizes.items():
        make_source(source, table, count)
        make_dest(dest, table)
        run_cli(
            "pipeline",
            "add",
            table,
            "--from",
            source,
            "--table",
            table,
            "--to",
            dest,
            "--mode",
            "append",
            "--batch-size",
            "250",
            store=store,
            check=True,
        )
        ids[table] = int(run_cli("run", table, store=store, check=True).stdout.strip())

    once = run_cli("worker", "--once", *WORKER_OPTIONS, store=store, timeout=60)
    assert once.returncode == 0, once.stdout + once.stderr
    assert f"claimed job {ids['alpha']} " in once.stderr
    assert "stopped after 1 job(s)" in once.stderr
    assert sb.job(ids["alpha"], events=0).status == "completed"
    assert_same_rows(source, dest, "alpha", "alpha", sizes["alpha"])
    untouched = job_row(sb, ids["beta"])
    assert (untouched["status"], untouched["attempt"], untouched["lease_epoch"]) == ("queued", 0, 0)
    assert not claims(sb, ids["beta"])
    assert _scalar(dest, "SELECT count(*) FROM beta") == 0

    once = run_cli("worker", "--once", *WORKER_OPTIONS, store=store, timeout=60)
    assert once.returncode == 0, once.stdout + once.stderr
    assert sb.job(ids["beta"], events=0).status == "completed"
    assert_same_rows(source, dest, "beta", "beta", sizes["beta"])

    # Nothing queued: exit at once, without waiting even one (long) poll interval.
    started = time.monotonic()
    idle = run_cli("worker", "--once", "--poll-interval", "60", store=store, timeout=60)
    elapsed = time.monotonic() - started
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "stopped after 0 job(s)" in idle.stderr
    assert elapsed < 15, f"an idle --once worker took {elapsed:.1f}s to exit"
    assert [sb.job(i, events=0).status for i in ids.values()] == ["completed", "completed"]


# -- 6. syncbeat workers ------------------------------------------------------------------------


def test_workers_json_lists_a_running_worker_until_it_stops(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Workers
) -> None:
    store, source, dest = dbs
    make_source(source, "lines", 3000)
    make_dest(dest, "lines")
    job_id = queue(
        sb, "lines", source, dest, query=slow_query("lines"), dest_table="lines", batch_size=100
    )
    proc = workers.start("watched")
    wait_for(
        "the worker to report its job",
        lambda: [w for w in sb.workers() if w.name == "watched" and w.jobs == [job_id]],
        30,
        workers.diagnostics,
    )

    listed = json.loads(run_cli("workers", "--json", store=store, check=True).stdout)
    mine = [w for w in listed if w["name"] == "watched"]
    assert len(mine) == 1, listed
    worker = mine[0]
    assert worker["host"] == socket.gethostname()
    assert worker["pid"] == proc.pid
    assert worker["jobs"] == [job_id]
    assert worker["alive"] is True
    assert worker["stopped_at"] is None
    assert 0 <= worker["heartbeat_age_seconds"] < 3 * HEARTBEAT

    os.kill(proc.pid, signal.SIGTERM)
    assert wait_exit(proc, 10, "the worker", workers.diagnostics) == 0
    listed = json.loads(run_cli("workers", "--json", store=store, check=True).stdout)
    assert [w for w in listed if w["name"] == "watched"] == []
    everyone = json.loads(run_cli("workers", "--json", "--all", store=store, check=True).stdout)
    stopped = [w for w in everyone if w["name"] == "watched"]
    assert len(stopped) == 1 and stopped[0]["stopped_at"] is not None
    assert stopped[0]["jobs"] == [] and stopped[0]["alive"] is False
