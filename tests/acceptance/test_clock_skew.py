"""Clock skew between workers, with real `syncbeat worker` processes on a PostgreSQL job
store: a worker whose wall clock is off by hours (libfaketime) neither steals a live
lease nor, once its own lease has expired in the store's clock, keeps writing.

The source is gated as in test_liveness.py (tests/support/gated.py).
"""

from __future__ import annotations

import signal

import pytest

from tests.support.clocks import faketime_env
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
)
from tests.support.jobs import StoreView
from tests.support.polling import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_worker_in_the_future_does_not_steal_a_live_lease(
    pg_url: str, pg_url2: str, view: StoreView, procs: Fleet
) -> None:
    skewed = faketime_env("+2h")
    make_source(pg_url2, SLOW)
    job_id = view.queue(spec("skew", pg_url2))
    procs.start("normal", "--lease-ttl", "3")
    wait_for("the first batch", lambda: view.job(job_id).rows_done >= BATCH, 20, procs.diagnostics)
    owner = view.job(job_id).owner
    assert owner and owner.startswith("normal@")
    set_delay(pg_url2, CRAWL)

    procs.start("future", "--lease-ttl", "3", env=skewed)

    def held_by_normal() -> None:
        job = view.job(job_id)
        assert job.status == "running" and job.lease_epoch == 1 and job.owner == owner, (
            job,
            procs.diagnostics(),
        )

    # The skewed worker reaps and tries to claim on every pass of its loop.
    view.wait_worker_beats("future", 5, procs.diagnostics, held_by_normal)
    assert view.job(job_id).rows_done < ROWS, "the job ended before the check was done"

    set_delay(pg_url2, 0)
    wait_for(
        "the job to complete", lambda: view.job(job_id).status == "completed", 30, procs.diagnostics
    )
    job = view.job(job_id)
    assert job.lease_epoch == 1 and job.attempt == 1
    events = view.events(job_id)
    kinds = [e.kind for e in events]
    assert kinds.count("claimed") == 1 and not {"stalled", "lease_lost"} & set(kinds), kinds
    assert all(e.owner == owner for e in events if e.kind == "batch")
    assert "claimed job" not in procs.log("future")
    assert_copied(pg_url2)


def test_a_worker_in_the_past_stops_writing_once_its_lease_expired(
    pg_url: str, pg_url2: str, view: StoreView, procs: Fleet
) -> None:
    skewed = faketime_env("-2h")
    make_source(pg_url2, SLOW)
    job_id = view.queue(spec("stale", pg_url2))
    past = procs.start("past", "--lease-ttl", "2", env=skewed)
    wait_for("two batches", lambda: view.job(job_id).rows_done >= 2 * BATCH, 20, procs.diagnostics)
    old = view.job(job_id)
    assert old.lease_epoch == 1 and old.owner and old.owner.startswith("past@")

    past.send_signal(signal.SIGSTOP)  # a long GC pause, a frozen VM
    procs.start("normal", "--lease-ttl", "3")
    taken = wait_for(
        "the normal worker to take the expired lease over",
        lambda: [e for e in view.events(job_id, "claimed") if e.lease_epoch == 2],
        20,
        procs.diagnostics,
    )[0]
    assert taken.owner and taken.owner.startswith("normal@")
    past.send_signal(signal.SIGCONT)

    lost = wait_for(
        "the stale worker to notice",
        lambda: view.events(job_id, "lease_lost"),
        15,
        procs.diagnostics,
    )[0]
    assert lost.lease_epoch == 1 and lost.owner == old.owner

    set_delay(pg_url2, 0)
    wait_for(
        "the job to complete", lambda: view.job(job_id).status == "completed", 30, procs.diagnostics
    )
    job = view.job(job_id)
    assert job.rows_done == ROWS and job.lease_epoch == 2
    # Nothing of the stale lease was recorded after the takeover, but its lease_lost.
    late = [e for e in view.events(job_id) if e.id > taken.id and e.lease_epoch == 1]
    assert [e.kind for e in late] == ["lease_lost"], late
    assert all(
        e.lease_epoch == 2
        for e in view.events(job_id)
        if e.kind in ("batch", "completed") and e.id > taken.id
    )
    assert_copied(pg_url2)
    assert state_epochs(pg_url2) == [2]
    assert past.poll() is None, "the stale worker crashed instead of carrying on"
