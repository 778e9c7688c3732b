"""What the chaos suite found, each pinned by a test that needs no storm to fail.

* A connection the server cut while a job was starting (an administrator, a failover)
  failed the job as "Cannot connect ... check the host and port": an outage taken for
  a wrong URL, and nothing retried it. Now it is retried like a batch's error.
* A transient error while the job finished its destination (its last step) failed the
  job, though every row was in. Now it is retried like a batch's error.
* A runner whose job was taken over (it was frozen past its lease) still wrote a
  `resumed` event into the new owner's log: events outside a fenced transaction were
  not fenced. Now the only thing a stale runner writes is its own `lease_lost`.
* A worker frozen for longer than the batch timeout and its lease woke up to its
  progress watchdog, which found the job taken over, and reported the run as a stuck
  batch it had "given back", recording nothing; now it records `lease_lost`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec, RunHooks, Snapshot, Syncbeat
from syncbeat.engine.runner import run_claimed
from syncbeat.store import protocol
from syncbeat.store.schema import jobs
from syncbeat.vocabulary.lease import Lease
from tests.support.fleet import QUICK, Fleet
from tests.support.jobs import batches, events, finished
from tests.support.leases import claims, first_claim, owner_pid, store_transaction_open
from tests.support.polling import wait_for
from tests.support.sql import table_rows
from tests.support.tables import assert_same_rows, make_dest, make_source, queue, slow_query

ROWS = 500


def _source(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE src (id integer PRIMARY KEY, v varchar(20))")
        conn.execute(
            sa.text("INSERT INTO src VALUES (:id, :v)"),
            [{"id": i, "v": f"row {i}"} for i in range(1, ROWS + 1)],
        )
    engine.dispose()


@pytest.fixture
def sb(store_url: str) -> Iterator[Syncbeat]:
    client = Syncbeat(store_url)
    yield client
    client.close()


def _queue(sb: Syncbeat, source: str, dest: str) -> int:
    # An explicit key: opening the source then reads the table (its NULL check).
    spec = PipelineSpec(
        name="p", source_url=source, source_table="src", key=["id"], dest_url=dest,
        dest_table="dst", batch_size=100,
    )  # fmt: skip
    sb.save_pipeline(spec)
    return sb.enqueue("p").id


class Cutter(threading.Thread):
    """Locks ``table`` so that the job's next statement on it waits, then terminates
    the waiting backend, as an administrator would, and lets go."""

    def __init__(self, url: str, table: str) -> None:
        super().__init__(daemon=True)
        self.database = make_url(url).database
        self.admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.lock_engine = sa.create_engine(url)
        self.locker = self.lock_engine.connect()
        self.locker.begin()
        self.locker.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        self.cut = 0

    def run(self) -> None:
        deadline = time.monotonic() + 30
        try:
            while not self.cut and time.monotonic() < deadline:
                with self.admin.connect() as conn:
                    self.cut = conn.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :db AND wait_event_type = 'Lock'"
                        ),
                        {"db": self.database},
                    ).scalar_one()
                time.sleep(0.05)
        finally:
            self.locker.rollback()
            self.locker.close()
            self.lock_engine.dispose()
            self.admin.dispose()


@pytest.mark.postgres
def test_a_connection_cut_while_the_source_opens_is_retried(
    sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    _source(pg_url)
    job_id = _queue(sb, pg_url, pg_url2)
    cutter = Cutter(pg_url, "src")
    cutter.start()
    job, outcome = sb.run_job(job_id)
    cutter.join(timeout=30)
    assert cutter.cut == 1, "the job's read never waited on the lock"
    assert (outcome.status, job.rows_done) == ("completed", ROWS), outcome.message
    retries = [e for e in sb.events(job_id, limit=1000) if e.kind == "retry"]
    assert len(retries) == 1 and "opening the source" in retries[0].message
    assert "terminating connection" in retries[0].message
    assert table_rows(pg_url2, "dst", ["id"]) == table_rows(pg_url, "src", ["id"])


@pytest.mark.postgres
def test_a_connection_cut_while_the_destination_finishes_is_retried(
    sb: Syncbeat, pg_url: str, pg_url2: str
) -> None:
    _source(pg_url)
    job_id = _queue(sb, pg_url, pg_url2)
    cutters: list[Cutter] = []

    def after_the_last_batch(snapshot: Snapshot) -> None:
        if snapshot.rows_done == ROWS and not cutters:  # what is left: finishing
            cutters.append(Cutter(pg_url2, "_syncbeat_state"))
            cutters[0].start()

    job, outcome = sb.run_job(job_id, RunHooks(on_progress=after_the_last_batch))
    cutters[0].join(timeout=30)
    assert cutters[0].cut == 1, "finishing never waited on the lock"
    assert (outcome.status, job.rows_done) == ("completed", ROWS), outcome.message
    retries = [e for e in sb.events(job_id, limit=1000) if e.kind == "retry"]
    assert len(retries) == 1 and "finishing the destination" in retries[0].message
    assert table_rows(pg_url2, "dst", ["id"]) == table_rows(pg_url, "src", ["id"])


def test_a_runner_taken_over_before_it_wrote_logs_nothing_but_its_lease_lost(
    sb: Syncbeat, sqlite_url: str, sqlite_url2: str
) -> None:
    _source(sqlite_url)
    job_id = _queue(sb, sqlite_url, sqlite_url2)
    spec = sb.pipeline_spec("p")

    def expire_and_claim(owner: str) -> Lease:
        with sb.store.begin() as conn:
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(lease_expires_at=0))
            lease = protocol.claim(conn, owner, spec.lease_ttl)
        assert lease is not None
        return lease

    with sb.store.begin() as conn:
        assert protocol.claim(conn, "first@here:1", spec.lease_ttl) is not None
    # Its second attempt, which resumes; before it writes, it freezes, its lease
    # expires, and a third claim takes the job over.
    stale = expire_and_claim("stale@here:2")
    new = expire_and_claim("new@here:3")
    assert (stale.attempt, new.epoch) == (2, stale.epoch + 1)

    outcome = run_claimed(sb.store, replace(stale, ttl=60), spec, RunHooks())

    assert outcome.status == "lease_lost"
    history = sb.events(job_id, limit=1000)
    after = [e for e in history if e.id > max(e.id for e in history if e.kind == "claimed")]
    assert [(e.kind, e.lease_epoch) for e in after] == [("lease_lost", stale.epoch)]


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_frozen_past_its_lease_and_the_batch_timeout_records_lease_lost(
    pg_url: str, pg_url2: str, tmp_path: Path
) -> None:
    store, data = pg_url, pg_url2
    client = Syncbeat(store)
    fleet = Fleet(store, tmp_path, QUICK)
    try:
        make_source(data, "events", 3000)
        make_dest(data, "copy")
        job_id = queue(
            client, "events", data, data, query=slow_query("events"), dest_table="copy",
            batch_size=100,
        )  # fmt: skip
        # A batch timeout below the lease: waking up, the watchdog looks first.
        for name in ("a", "b"):
            fleet.start(name, "--batch-timeout", "1")
        first = first_claim(client, job_id, fleet)
        pid, epoch = owner_pid(first), first.lease_epoch
        assert epoch is not None
        for _ in range(6):  # frozen between store transactions, as test_worker_takeover explains
            wait_for("a batch", lambda: batches(client, job_id, epoch), 30)
            os.kill(pid, signal.SIGSTOP)
            time.sleep(0.3)
            if not store_transaction_open(store, 0.25):
                break
            os.kill(pid, signal.SIGCONT)
        takeover = wait_for(
            "the takeover", lambda: claims(client, job_id)[1:], 20, fleet.diagnostics
        )[0]
        os.kill(pid, signal.SIGCONT)

        lost = wait_for(
            "the woken worker's lease_lost",
            lambda: [e for e in events(client, job_id) if e.kind == "lease_lost"],
            15,
            fleet.diagnostics,
        )
        assert (lost[0].owner, lost[0].lease_epoch) == (first.owner, first.lease_epoch)
        wait_for("the job to complete", lambda: finished(client, job_id), 60, fleet.diagnostics)
        stale = [
            e.kind
            for e in events(client, job_id)
            if e.id > takeover.id and e.lease_epoch == first.lease_epoch
        ]
        assert stale == ["lease_lost"], stale  # not a "stuck" job it claims it gave back
        assert_same_rows(data, data, "events", "copy", 3000)
    finally:
        fleet.close()
        client.close()
