"""A job whose worker goes away, with real `syncbeat worker` processes on a PostgreSQL
store: takeover within its time bound after a crash, from the checkpoint; a frozen
owner fenced out; and a drain that gives the job back uncharged.

As in test_workers.py, the jobs append into destination tables without a primary key
(a row written twice would show as a duplicate), and the job's events are checked for
the lease protocol: one owner at a time, epochs that only grow.
"""

from __future__ import annotations

import json
import time

import pytest

from syncbeat import Syncbeat
from tests.support.cli import run_cli
from tests.support.fleet import HEARTBEAT, LEASE_TTL, POLL, Fleet
from tests.support.jobs import batches, events, finished, job_row
from tests.support.leases import (
    assert_one_owner_at_a_time,
    assert_stale_writes_refused,
    claims,
    first_claim,
    owner_pid,
    store_transaction_open,
)
from tests.support.polling import wait_for
from tests.support.tables import assert_same_rows, make_dest, make_source, queue, slow_query

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# What a takeover may take beyond TTL + heartbeat interval: one poll of the claiming
# worker, plus scheduling slack for processes sharing two cores with PostgreSQL.
TAKEOVER_ALLOWANCE = POLL + 0.5
ROWS, BATCH = 3000, 100


def slow_job(dbs: tuple[str, str, str], sb: Syncbeat, table: str) -> int:
    """A queued job copying ROWS rows of a fresh ``table`` in BATCH-row batches, from a
    source slow enough that a worker is surely mid-job for seconds."""
    _store, source, dest = dbs
    make_source(source, table, ROWS)
    make_dest(dest, table)
    query = slow_query(table)
    return queue(sb, table, source, dest, query=query, dest_table=table, batch_size=BATCH)


# -- 1. a crashed owner is taken over in time, from its checkpoint --------------------------


def test_sigkilled_owner_is_taken_over_within_ttl_and_resumes_at_checkpoint(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Fleet
) -> None:
    store, source, dest = dbs
    rows, batch = ROWS, BATCH
    job_id = slow_job(dbs, sb, "orders")
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
    workers.kill(victim)
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
    assert takeover.lease_epoch is not None and first.lease_epoch is not None  # claims have one
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


# -- 2. a frozen owner wakes up fenced out ----------------------------------------------------


def test_sigstopped_owner_is_fenced_out_after_takeover(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Fleet
) -> None:
    store, source, dest = dbs
    rows, batch = ROWS, BATCH
    job_id = slow_job(dbs, sb, "events")
    workers.start("a")
    workers.start("b")
    first = first_claim(sb, job_id, workers)
    frozen = workers.by_pid(owner_pid(first))

    # Freeze it mid-job. A process frozen inside a store transaction would hold the job's
    # row lock and nobody could take over until it thaws: retry until it is frozen
    # between store transactions (as it is almost always: a batch is mostly reading).
    for _ in range(6):
        seen = len(batches(sb, job_id, first.lease_epoch))

        def next_batch(s: int = seen) -> bool:
            return len(batches(sb, job_id, first.lease_epoch)) > max(s, 2)

        wait_for("the next batch", next_batch, 30, workers.diagnostics)
        workers.freeze(frozen)
        frozen_at = time.monotonic()

        def aged(t: float = frozen_at) -> bool:
            return time.monotonic() - t > 0.3

        wait_for("the frozen worker's open transactions to age", aged, 5)
        if not store_transaction_open(store, 0.25):
            break
        workers.thaw(frozen)
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
    assert takeover.lease_epoch is not None and first.lease_epoch is not None  # claims have one
    assert takeover.lease_epoch > first.lease_epoch
    assert workers.by_pid(owner_pid(takeover)) != frozen
    workers.thaw(frozen)

    lost = wait_for(
        "the thawed worker to record lease_lost",
        lambda: events(sb, job_id, "lease_lost"),
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
    assert_stale_writes_refused(sb, dest, job_id, first, takeover, LEASE_TTL)

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


# -- 3. SIGTERM drains and gives the job back -------------------------------------------------


def test_sigterm_drains_releases_the_job_uncharged_and_another_worker_finishes_it(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Fleet
) -> None:
    _store, source, dest = dbs
    rows = ROWS
    job_id = slow_job(dbs, sb, "items")
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

    workers.drain("draining")
    # Draining waits for the current batch (about SLOW_BATCH s) and then gives up.
    assert workers.wait_exit("draining", 10, "the drained worker") == 0

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
