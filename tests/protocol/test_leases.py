"""Leases one at a time: claim, takeover, the fence on every write of the holder, finish,
reap and the clamp of leases stamped in the store's future."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa

from syncbeat.store import Store, events, jobs, protocol, queries
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import LeaseLost
from syncbeat.vocabulary.lease import Lease, Reaped
from syncbeat.vocabulary.status import (
    CANCELLED,
    COMPLETED,
    FAILED,
    FINAL,
    PAUSED,
    QUEUED,
    RUNNING,
    JobStatus,
)
from tests.protocol.helpers import (
    TTL,
    claim,
    claimed,
    dead_local_owner,
    expire,
    kinds,
    live_local_owner,
    meanwhile,
    owner,
    poll,
    queue,
    row,
    store_now,
)
from tests.protocol.helpers import events as events_of

W1, W2 = owner("w1"), owner("w2")


# -- claim ------------------------------------------------------------------------------
def test_a_claim_takes_the_oldest_queued_job_under_epoch_1_attempt_1(store: Store) -> None:
    first, second = queue(store, "a"), queue(store, "b")
    lease = claimed(store, W1)
    assert (lease.job_id, lease.epoch, lease.attempt, lease.max_attempts) == (first, 1, 1, 5)
    assert (lease.owner, lease.ttl, lease.checkpoint) == (W1, TTL, Checkpoint())
    job = row(store, first)
    assert (job["status"], job["owner"], job["lease_epoch"], job["attempt"]) == (
        RUNNING,
        W1,
        1,
        1,
    )
    assert job["lease_expires_at"] - job["heartbeat_at"] == pytest.approx(TTL, abs=0.5)
    assert job["started_at"] is not None
    assert kinds(store, first) == ["created", "claimed"]
    claim_event = events_of(store, first)[-1]
    assert (claim_event["lease_epoch"], claim_event["owner"]) == (1, W1)
    assert claim_event["message"] == "attempt 1 of 5"
    assert row(store, second)["status"] == QUEUED


def test_a_live_lease_is_taken_by_no_one(store: Store) -> None:
    job_id = queue(store)
    claimed(store, W1)
    before = row(store, job_id)
    assert claim(store, W2) is None
    assert claim(store, W2, job_id=job_id) is None
    assert row(store, job_id) == before
    assert kinds(store, job_id) == ["created", "claimed"]


def test_a_takeover_after_expiry_bumps_the_epoch_and_counts_one_attempt(store: Store) -> None:
    job_id = queue(store)
    first = claimed(store, W1)
    started = row(store, job_id)["started_at"]
    expire(store, job_id)
    second = claimed(store, W2)
    assert (second.job_id, second.epoch, second.attempt, second.owner) == (job_id, 2, 2, W2)
    job = row(store, job_id)
    assert (job["status"], job["owner"], job["lease_epoch"], job["attempt"]) == (
        RUNNING,
        W2,
        2,
        2,
    )
    assert job["started_at"] == started  # the job started at its first claim
    claims = [(e["lease_epoch"], e["owner"]) for e in events_of(store, job_id)[1:]]
    assert claims == [(first.epoch, W1), (2, W2)]


def test_a_lease_runs_out_by_the_store_clock_and_no_sooner(store: Store) -> None:
    """A real expiry, no row moved: each try at taking the job over is refused while the
    store's clock is before the expiry, and one succeeds once it is past it."""
    job_id = queue(store)
    claimed(store, W1, ttl=0.3)
    expires = row(store, job_id)["lease_expires_at"]

    def take_over() -> Lease | None:
        with store.begin() as conn:
            before = queries.store_now(conn)
            lease = protocol.claim(conn, W2, TTL, job_id=job_id)
            after = queries.store_now(conn)
        if lease is None:
            assert before < expires, "the lease had run out, yet the takeover was refused"
        else:
            assert after > expires, "the job was taken over before its lease ran out"
        return lease

    lease = poll("the takeover", take_over, timeout=10)
    assert (lease.epoch, lease.attempt) == (2, 2)


def test_a_dead_local_owner_is_taken_over_at_once_when_its_job_is_named(store: Store) -> None:
    job_id = queue(store)
    claimed(store, dead_local_owner("gone"))
    assert claim(store, W2) is None  # a worker waits for the lease to expire
    lease = claimed(store, W2, job_id=job_id)
    assert (lease.epoch, lease.attempt, row(store, job_id)["owner"]) == (2, 2, W2)


def test_a_live_local_owner_keeps_its_job_even_when_named(store: Store) -> None:
    job_id = queue(store)
    claimed(store, live_local_owner("alive"))
    assert claim(store, W2, job_id=job_id) is None
    assert row(store, job_id)["lease_epoch"] == 1


def test_a_worker_never_claims_a_job_whose_attempts_are_used_up(store: Store) -> None:
    spent = queue(store, "spent", max_attempts=1)
    capped = queue(store, "capped", max_attempts=5)
    claimed(store, W1)
    claimed(store, W1)
    expire(store, spent)
    expire(store, capped)
    assert claim(store, W2, max_attempts=1) is None  # the worker's cap counts too
    lease = claimed(store, W2)
    assert (lease.job_id, lease.attempt) == (capped, 2)
    assert claim(store, W2) is None
    assert row(store, spent)["lease_epoch"] == 1


def test_a_job_named_by_id_after_its_attempts_are_used_up_starts_a_fresh_budget(
    store: Store,
) -> None:
    job_id = queue(store, max_attempts=1)
    claimed(store, W1)
    expire(store, job_id)
    lease = claimed(store, W2, job_id=job_id)
    assert (lease.epoch, lease.attempt, row(store, job_id)["attempt"]) == (2, 1, 1)
    reset, claim_event = events_of(store, job_id)[-2:]
    assert (reset["kind"], reset["data"]) == ("attempts_reset", {"attempts_used": 1})
    assert (claim_event["kind"], claim_event["message"]) == ("claimed", "attempt 1 of 1")


@pytest.mark.parametrize("meanwhile_", ["cancelled", "taken-over"])
def test_a_claim_whose_job_changed_after_the_pick_updates_nothing(
    store: Store, meanwhile_: str
) -> None:
    """The claim's write is conditional on the status and epoch it picked: on an engine
    that let another writer in between, the claim that lost updates nothing. (Cancelled:
    a queued job picked, its status changed; taken over: an expired lease picked, the
    job still running but under the next epoch.)"""
    job_id = queue(store)
    if meanwhile_ == "taken-over":
        claimed(store, W1)
        expire(store, job_id)
    change = (
        jobs.update().where(jobs.c.id == job_id).values(status=CANCELLED)
        if meanwhile_ == "cancelled"
        else jobs.update()
        .where(jobs.c.id == job_id)
        .values(lease_epoch=jobs.c.lease_epoch + 1, owner="ghost@elsewhere:1")
    )
    before = row(store, job_id)
    with store.begin() as conn:
        with meanwhile(conn, "UPDATE jobs SET status", lambda c: c.execute(change)) as fired:
            lease = protocol.claim(conn, W2, TTL, job_id=job_id)
        assert fired, "the claim never reached its write"
        assert lease is None
        changed = dict(conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one())
    assert changed["owner"] != W2
    assert changed["attempt"] == before["attempt"]
    assert kinds(store, job_id).count("claimed") == (1 if meanwhile_ == "taken-over" else 0)


# -- the holder's fenced writes ---------------------------------------------------------
STALE_WRITES: dict[str, Callable[[sa.Connection, Lease], object]] = {
    "renew": protocol.renew,
    "save_checkpoint": lambda conn, lease: protocol.save_checkpoint(
        conn,
        lease,
        Checkpoint((10**9,), 7, 10**6),
        rate=123.0,
        event={"message": "batch 7", "rows": 100},
    ),
    "update": lambda conn, lease: protocol.update(conn, lease, rows_total=10**7, last_error="x"),
    "check_fence": protocol.check_fence,
    "finish": lambda conn, lease: protocol.finish(conn, lease, COMPLETED, "stale finish"),
    "give_back": lambda conn, lease: protocol.finish(
        conn, lease, QUEUED, "stale release", give_back_attempt=True
    ),
}


def lose(store: Store, job_id: int, lease: Lease, how: str) -> None:
    """End ``lease``'s hold on the job: taken over after expiry (by a worker, or by a
    claim naming the job), reaped after expiry, or finished by the holder itself."""
    if how == "finished":
        with store.begin() as conn:
            protocol.finish(conn, lease, COMPLETED, "done")
        return
    expire(store, job_id)
    if how == "reaped":
        with store.begin() as conn:
            assert [r.job_id for r in protocol.reap(conn)] == [job_id]
    else:
        claimed(store, W2, job_id=job_id if how == "taken-over-by-id" else None)


@pytest.mark.parametrize("how", ["taken-over", "taken-over-by-id", "reaped", "finished"])
@pytest.mark.parametrize("write", list(STALE_WRITES))
def test_every_write_of_a_lost_lease_is_refused_and_changes_nothing(
    store: Store, how: str, write: str
) -> None:
    job_id = queue(store)
    old = claimed(store, W1)
    lose(store, job_id, old, how)
    before, history = row(store, job_id), events_of(store, job_id)
    refused = rf"Job {job_id}: lease 1 was taken over"
    with pytest.raises(LeaseLost, match=refused), store.begin() as conn:
        STALE_WRITES[write](conn, old)
    assert row(store, job_id) == before
    assert events_of(store, job_id) == history  # a stale batch's event among them


@pytest.mark.parametrize("write", list(STALE_WRITES))
def test_the_new_holder_writes_after_the_old_one_was_refused(store: Store, write: str) -> None:
    job_id = queue(store)
    old = claimed(store, W1)
    expire(store, job_id)
    new = claimed(store, W2)
    with pytest.raises(LeaseLost), store.begin() as conn:
        STALE_WRITES[write](conn, old)
    with store.begin() as conn:
        STALE_WRITES[write](conn, new)
    job = row(store, job_id)
    assert job["lease_epoch"] == 2
    assert all(e["lease_epoch"] == 2 for e in events_of(store, job_id)[2:])


def test_an_event_written_before_a_refused_fence_check_rolls_back_with_it(store: Store) -> None:
    job_id = queue(store)
    old = claimed(store, W1)
    expire(store, job_id)
    claimed(store, W2)
    history = events_of(store, job_id)
    with pytest.raises(LeaseLost), store.begin() as conn:
        events.record(conn, job_id, events.WARNING, "a stale warning", epoch=1, owner=W1)
        protocol.check_fence(conn, old)
    assert events_of(store, job_id) == history


def test_renew_and_save_checkpoint_extend_the_lease_and_record_the_batch(store: Store) -> None:
    job_id = queue(store)
    lease = claimed(store, W1)
    expire(store, job_id)  # renewed in time: expired by the clock, not yet taken over
    with store.begin() as conn:
        assert protocol.renew(conn, lease) is None
    job = row(store, job_id)
    assert job["lease_expires_at"] - store_now(store) == pytest.approx(TTL, abs=5)
    checkpoint = Checkpoint((42,), 3, 300)
    with store.begin() as conn:
        requested = protocol.save_checkpoint(
            conn, lease, checkpoint, rate=50.0, event={"message": "batch 3", "rows": 100}
        )
    assert requested is None
    job = row(store, job_id)
    assert Checkpoint.from_json(job["checkpoint"]) == checkpoint
    assert (job["rows_done"], job["rate"], job["lease_epoch"]) == (300, 50.0, 1)
    batch = events_of(store, job_id)[-1]
    assert (batch["kind"], batch["message"], batch["data"]) == ("batch", "batch 3", {"rows": 100})
    assert (batch["lease_epoch"], batch["owner"]) == (1, W1)


# -- finish -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (COMPLETED, "completed"),
        (FAILED, "failed"),
        (PAUSED, "paused"),
        (CANCELLED, "cancelled"),
        (QUEUED, "released"),
    ],
)
def test_finish_leaves_the_status_and_records_exactly_one_event(
    store: Store, status: JobStatus, kind: str
) -> None:
    job_id = queue(store)
    lease = claimed(store, W1)
    with store.begin() as conn:
        protocol.update(conn, lease, last_error="an earlier error")
    error = "boom" if status == FAILED else None
    with store.begin() as conn:
        protocol.finish(conn, lease, status, "the end", error=error)
    job = row(store, job_id)
    assert job["status"] == status
    assert (job["owner"], job["lease_expires_at"], job["requested"], job["rate"]) == (None,) * 4
    assert (job["finished_at"] is not None) == (status in FINAL)
    expected_error = {FAILED: "boom", COMPLETED: None}.get(status, "an earlier error")
    assert job["last_error"] == expected_error
    assert job["attempt"] == 1
    ended = events_of(store, job_id)[2:]
    assert [(e["kind"], e["message"], e["lease_epoch"], e["owner"]) for e in ended] == [
        (kind, "the end", 1, W1)
    ]
    with pytest.raises(LeaseLost), store.begin() as conn:
        protocol.finish(conn, lease, status, "again")
    assert len(events_of(store, job_id)) == 3


def test_finish_records_the_kind_it_is_given(store: Store) -> None:
    job_id = queue(store)
    lease = claimed(store, W1)
    with store.begin() as conn:
        protocol.finish(conn, lease, QUEUED, "stuck batch abandoned", kind=events.STUCK)
    assert kinds(store, job_id) == ["created", "claimed", "stuck"]


def test_a_job_given_back_keeps_its_attempt(store: Store) -> None:
    job_id = queue(store)
    lease = claimed(store, W1)
    with store.begin() as conn:
        protocol.finish(conn, lease, QUEUED, "interrupted", give_back_attempt=True)
    assert (row(store, job_id)["status"], row(store, job_id)["attempt"]) == (QUEUED, 0)
    again = claimed(store, W2)
    assert (again.epoch, again.attempt) == (2, 1)


# -- reap -------------------------------------------------------------------------------
def test_reap_requeues_an_expired_lease_once_and_keeps_its_attempt(store: Store) -> None:
    live, dead = queue(store, "live"), queue(store, "dead")
    claimed(store, W1)
    claimed(store, W2)
    expire(store, dead)
    with store.begin() as conn:
        assert protocol.reap(conn) == [Reaped(dead, 1, W2, QUEUED)]
    with store.begin() as conn:
        assert protocol.reap(conn) == []
    job = row(store, dead)
    assert (job["status"], job["owner"], job["lease_epoch"], job["attempt"]) == (QUEUED, W2, 1, 1)
    assert job["lease_expires_at"] is None
    stalled = events_of(store, dead)[-1]
    assert (stalled["kind"], stalled["lease_epoch"], stalled["owner"]) == ("stalled", 1, None)
    assert row(store, live)["status"] == RUNNING
    lease = claimed(store, owner("w3"))
    assert (lease.job_id, lease.epoch, lease.attempt) == (dead, 2, 2)


@pytest.mark.parametrize("cap", [None, 1])
def test_reap_fails_an_expired_job_whose_attempts_are_used_up(
    store: Store, cap: int | None
) -> None:
    job_id = queue(store, max_attempts=1 if cap is None else 5)
    claimed(store, W1)
    expire(store, job_id)
    with store.begin() as conn:
        assert protocol.reap(conn, max_attempts=cap) == [Reaped(job_id, 1, W1, FAILED)]
    job = row(store, job_id)
    assert (job["status"], job["attempt"], job["lease_epoch"]) == (FAILED, 1, 1)
    assert job["finished_at"] is not None
    assert job["last_error"] == "The lease expired and the job has used up its attempts."
    assert kinds(store, job_id) == ["created", "claimed", "failed"]
    assert claim(store, W2) is None


# -- clamp ------------------------------------------------------------------------------
def stamp_ahead(store: Store, job_id: int, seconds: float) -> None:
    """The store's clock stepped back ``seconds`` after the lease was stamped."""
    with store.begin() as conn:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                heartbeat_at=jobs.c.heartbeat_at + seconds,
                lease_expires_at=jobs.c.lease_expires_at + seconds,
            )
        )


def test_a_lease_stamped_in_the_store_future_is_pulled_back_to_one_ttl(store: Store) -> None:
    job_id, other = queue(store, "ahead"), queue(store, "normal")
    lease = claimed(store, W1)
    claimed(store, W2)
    stamp_ahead(store, job_id, 3600)
    untouched = row(store, other)
    with store.begin() as conn:
        assert protocol.clamp_future_leases(conn) == [job_id]
    now = store_now(store)
    job = row(store, job_id)
    assert job["heartbeat_at"] == pytest.approx(now, abs=5)
    assert job["lease_expires_at"] - job["heartbeat_at"] == pytest.approx(TTL, abs=0.01)
    assert (job["status"], job["owner"], job["lease_epoch"]) == (RUNNING, W1, 1)
    stepped = events_of(store, job_id)[-1]
    assert (stepped["kind"], stepped["lease_epoch"]) == ("clock_stepped", 1)
    assert stepped["data"]["seconds_ahead"] == pytest.approx(3600, abs=5)
    assert row(store, other) == untouched
    with store.begin() as conn:
        assert protocol.clamp_future_leases(conn) == []
        assert protocol.renew(conn, lease) is None


def test_a_dead_owner_s_lease_stamped_an_hour_ahead_runs_out_within_a_ttl(store: Store) -> None:
    job_id = queue(store)
    claimed(store, W1, ttl=0.3)
    stamp_ahead(store, job_id, 3600)
    lease = poll("the takeover", lambda: claim(store, W2), timeout=10)
    assert (lease.job_id, lease.epoch, lease.attempt) == (job_id, 2, 2)
    assert kinds(store, job_id).count("clock_stepped") == 1
