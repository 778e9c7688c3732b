"""Liveness of workers, with real `syncbeat worker` processes on a PostgreSQL job store.

What a user relies on when something goes wrong under a running job:

* the store drops the worker's connections: the heartbeat reconnects and the job goes on;
* the source blocks (a lock): the progress watchdog abandons the batch, cancels the hung
  statement and gives the job back; it completes once the lock is gone;
* pause stops the job at a batch boundary and nothing moves until resume; cancel is final.

A worker whose clock is off by hours is in test_clock_skew.py. The source is gated
(tests/support/gated.py): the test sets the pace of the job, slow while it does
something to it and fast to let it finish, instead of guessing timings.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support import sql
from tests.support.cli import run_cli
from tests.support.fleet import Fleet
from tests.support.gated import (
    BATCH,
    CRAWL,
    ROWS,
    SLOW,
    assert_copied,
    make_source,
    set_delay,
    spec,
    state_epochs,
    with_app_name,
)
from tests.support.jobs import StoreView
from tests.support.polling import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


# -- 1. the store drops the heartbeat's connection ----------------------------------------


def test_heartbeat_reconnects_after_the_store_kills_its_connections(
    pg_url: str, pg_url2: str, view: StoreView, procs: Fleet
) -> None:
    make_source(pg_url2, SLOW)
    job_id = view.queue(spec("kill", pg_url2))
    app = "sbworker-kill"
    procs.start("w1", "--lease-ttl", "3", store=with_app_name(pg_url, app))
    wait_for("the first batch", lambda: view.job(job_id).rows_done >= BATCH, 20, procs.diagnostics)

    store_db = make_url(pg_url).database
    killer = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")

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
        before = view.job(job_id).rows_done
        wait_for(
            "the current batch to end",
            lambda: view.job(job_id).rows_done > before,
            10,
            procs.diagnostics,
        )
        slow_batch = view.job(job_id).rows_done
        for _round in range(3):
            assert kill() >= 1, "the worker had no store connection to kill"
            killed_at = view.now()

            def renewed(at: float = killed_at) -> bool:
                return view.heartbeat_at(job_id) > at

            wait_for("a lease renewal after the kill", renewed, 10, procs.diagnostics)
        job = view.job(job_id)
        assert job.rows_done == slow_batch, "the kills did not fall within the slow batch"
        wait_for(
            "the slow batch to end",
            lambda: view.job(job_id).rows_done > slow_batch,
            10,
            procs.diagnostics,
        )
        job = view.job(job_id)
        assert job.status == "running" and job.lease_epoch == 1, procs.diagnostics()

        # Fast batches and a kill every few milliseconds: some land in the middle of the
        # runner's own store writes (checkpoints, events), as in a failover.
        set_delay(pg_url2, 0.01)
        start = view.job(job_id).rows_done
        killed = 0
        deadline = time.monotonic() + 20
        while view.job(job_id).rows_done < min(start + 8 * BATCH, ROWS):
            assert view.job(job_id).status == "running", procs.diagnostics()
            assert time.monotonic() < deadline, (
                "no progress under the kills\n" + procs.diagnostics()
            )
            killed += kill()
            time.sleep(0.01)
        assert killed >= 5, f"only {killed} connections were killed"

        set_delay(pg_url2, 0)
        wait_for(
            "the job to complete",
            lambda: view.job(job_id).status == "completed",
            30,
            procs.diagnostics,
        )
        # An idle worker looks for work ten times a second: kills that hit its claims
        # must not end it either.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            kill()
            time.sleep(0.01)
        assert procs.procs["w1"].poll() is None, "the worker died\n" + procs.diagnostics()
        view.wait_worker_beats("w1", 2, procs.diagnostics)  # and it goes on working
    finally:
        killer.dispose()

    job = view.job(job_id)
    assert job.rows_done == ROWS
    assert job.lease_epoch == 1 and job.attempt == 1, "the job was claimed again"
    kinds = view.kinds(job_id)
    assert "lease_lost" not in kinds, procs.diagnostics()
    assert kinds.count("claimed") == 1
    assert not {"stalled", "failed", "stuck"} & set(kinds), kinds
    assert_copied(pg_url2)
    assert state_epochs(pg_url2) == [1]


# -- 2. a hung source statement trips the progress watchdog --------------------------------


def test_watchdog_gives_back_a_job_blocked_by_a_lock_and_it_completes_after(
    pg_url: str, pg_url2: str, view: StoreView, procs: Fleet
) -> None:
    make_source(pg_url2, SLOW)
    job_id = view.queue(spec("locked", pg_url2))
    procs.start("w1", "--lease-ttl", "5", "--batch-timeout", "1.5")
    wait_for("two batches", lambda: view.job(job_id).rows_done >= 2 * BATCH, 20, procs.diagnostics)

    source = sa.create_engine(pg_url2, isolation_level="AUTOCOMMIT")
    holder_engine = sa.create_engine(pg_url2)
    holder = holder_engine.connect()  # a transaction that holds the lock
    try:
        holder.exec_driver_sql("LOCK TABLE src IN ACCESS EXCLUSIVE MODE")
        locked_at = time.monotonic()

        stuck = wait_for(
            "a stuck event", lambda: view.events(job_id, "stuck"), 15, procs.diagnostics
        )[0]
        # Counted only now: a batch whose page was read before the lock may still have
        # committed after it. From here on every page read waits behind the lock.
        locked_rows = sql.count_rows(pg_url2, "dst", missing_ok=True)
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
            "the hung statement to be cancelled",
            lambda: blocked_page_reads() == 0,
            5,
            procs.diagnostics,
        )
        # The job was given back and, the worker being free again, retried.
        retry = wait_for(
            "the job to be claimed again",
            lambda: [e for e in view.events(job_id, "claimed") if e.lease_epoch == 2],
            10,
            procs.diagnostics,
        )[0]
        assert retry.id > stuck.id
        # The retry is blocked by the same lock, and the watchdog catches it too.
        wait_for(
            "the retry to be abandoned as well",
            lambda: [e for e in view.events(job_id, "stuck") if e.lease_epoch == 2],
            15,
            procs.diagnostics,
        )
        assert (
            sql.count_rows(pg_url2, "dst", missing_ok=True) == locked_rows
        )  # nothing written while locked
    finally:
        holder.rollback()  # releases the lock
        holder.close()
        holder_engine.dispose()
        source.dispose()

    set_delay(pg_url2, 0)
    wait_for(
        "the job to complete", lambda: view.job(job_id).status == "completed", 30, procs.diagnostics
    )
    job = view.job(job_id)
    assert job.rows_done == ROWS
    assert job.lease_epoch >= 3
    assert_copied(pg_url2)
    kinds = view.kinds(job_id)
    assert "failed" not in kinds and "lease_lost" not in kinds, kinds
    assert procs.procs["w1"].poll() is None, "the worker died"


def test_a_job_that_always_hangs_fails_once_its_attempts_are_used_up(
    pg_url: str, pg_url2: str, view: StoreView, procs: Fleet
) -> None:
    make_source(pg_url2, 0)
    job_id = view.queue(spec("hangs", pg_url2))
    holder_engine = sa.create_engine(pg_url2)
    holder = holder_engine.connect()
    try:
        holder.exec_driver_sql("LOCK TABLE src IN ACCESS EXCLUSIVE MODE")
        # Every attempt hangs before its first batch (reading the source's columns).
        procs.start("w1", "--lease-ttl", "5", "--batch-timeout", "1", "--max-attempts", "2")
        wait_for(
            "the job to fail", lambda: view.job(job_id).status == "failed", 20, procs.diagnostics
        )
        job = view.job(job_id)
        assert job.attempt == 2 and job.lease_epoch == 2
        assert job.last_error and "attempts are used" in job.last_error
        assert [e.lease_epoch for e in view.events(job_id, "stuck")] == [1, 2]

        def stays_failed() -> None:
            assert (view.job(job_id).status, view.job(job_id).lease_epoch) == ("failed", 2)

        view.wait_worker_beats("w1", 3, procs.diagnostics, stays_failed)  # not claimed again
    finally:
        holder.rollback()
        holder.close()
        holder_engine.dispose()

    resumed = run_cli("job", "resume", str(job_id), store=pg_url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    wait_for(
        "the resumed job to complete",
        lambda: view.job(job_id).status == "completed",
        30,
        procs.diagnostics,
    )
    assert view.job(job_id).rows_done == ROWS
    assert_copied(pg_url2)


# -- 3. pause, resume, cancel -------------------------------------------------------------


def test_pause_freezes_the_job_until_resume_and_cancel_is_final(
    pg_url: str, pg_url2: str, view: StoreView, procs: Fleet
) -> None:
    make_source(pg_url2, SLOW)
    job_id = view.queue(spec("pausing", pg_url2))
    procs.start("w1", "--lease-ttl", "3")
    wait_for("the first batch", lambda: view.job(job_id).rows_done >= BATCH, 20, procs.diagnostics)
    set_delay(pg_url2, CRAWL)

    paused = run_cli("job", "pause", str(job_id), store=pg_url)
    assert paused.returncode == 0, paused.stdout + paused.stderr
    wait_for("the job to pause", lambda: view.job(job_id).status == "paused", 10, procs.diagnostics)
    frozen = view.job(job_id)
    assert 0 < frozen.rows_done < ROWS and frozen.owner is None
    frozen_rows = sql.count_rows(pg_url2, "dst", missing_ok=True)
    assert frozen_rows == frozen.rows_done

    def nothing_moves() -> None:
        job = view.job(job_id)
        assert (job.status, job.rows_done, job.lease_epoch) == (
            "paused",
            frozen.rows_done,
            frozen.lease_epoch,
        ), procs.diagnostics()
        assert sql.count_rows(pg_url2, "dst", missing_ok=True) == frozen_rows

    view.wait_worker_beats("w1", 4, procs.diagnostics, nothing_moves)  # several heartbeat intervals

    resumed = run_cli("job", "resume", str(job_id), store=pg_url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"Job {job_id} is now" in resumed.stdout  # queued, or already claimed again
    set_delay(pg_url2, 0)
    wait_for(
        "the resumed job to complete",
        lambda: view.job(job_id).status == "completed",
        30,
        procs.diagnostics,
    )
    assert view.job(job_id).rows_done == ROWS
    assert_copied(pg_url2)
    kinds = view.kinds(job_id)
    assert kinds.index("paused") < kinds.index("resumed") < kinds.index("completed")
    resumed_at = view.events(job_id, "resumed")[0].data or {}
    assert resumed_at.get("rows_done") == frozen.rows_done, "the resume started over"

    # Cancel: final. The job stops, is never claimed again, and cannot be resumed.
    set_delay(pg_url2, SLOW)
    cancel_id = view.queue(spec("cancelling", pg_url2, dest_table="dst2"))
    wait_for(
        "the first batch", lambda: view.job(cancel_id).rows_done >= BATCH, 20, procs.diagnostics
    )
    set_delay(pg_url2, CRAWL)
    cancelled = run_cli("job", "cancel", str(cancel_id), store=pg_url)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    wait_for(
        "the job to be cancelled",
        lambda: view.job(cancel_id).status == "cancelled",
        10,
        procs.diagnostics,
    )
    final = view.job(cancel_id)
    final_rows = sql.count_rows(pg_url2, "dst2", missing_ok=True)
    assert final.rows_done == final_rows < ROWS

    def stays_cancelled() -> None:
        job = view.job(cancel_id)
        assert (job.status, job.rows_done, job.lease_epoch) == (
            "cancelled",
            final.rows_done,
            final.lease_epoch,
        ), procs.diagnostics()
        assert sql.count_rows(pg_url2, "dst2", missing_ok=True) == final_rows

    view.wait_worker_beats("w1", 4, procs.diagnostics, stays_cancelled)
    refused = run_cli("job", "resume", str(cancel_id), store=pg_url)
    assert refused.returncode != 0
    message = " ".join((refused.stdout + refused.stderr).split())
    assert f"Job {cancel_id} is cancelled" in message and "cannot be resumed" in message, message
    assert "Traceback" not in message
    stays_cancelled()
    kinds = view.kinds(cancel_id)
    assert kinds.count("claimed") == 1 and kinds[-1] == "cancelled", kinds
