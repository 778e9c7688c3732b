"""Threads racing claims, takeovers, reaps and renewals, each in a transaction of its
own; the invariants are checked on what the store holds afterwards and on the leases the
threads were given: one owner per epoch, no write accepted from a stale epoch, every
attempt counted once."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Sequence

import pytest
import sqlalchemy as sa

from syncbeat.store import Store, protocol
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import LeaseLost
from syncbeat.vocabulary.lease import Lease, Reaped
from syncbeat.vocabulary.status import FAILED, QUEUED, RUNNING
from tests.protocol.helpers import (
    TTL,
    claim,
    claimed,
    dead_local_owner,
    events,
    expire,
    owner,
    poll,
    queue,
    race,
    row,
    unexpected,
)

THREADS = 8


def claim_until_none(store: Store, who: str) -> list[Lease]:
    """A worker's claims, one transaction each, until nothing is left for it."""
    leases: list[Lease] = []
    while (lease := claim(store, who)) is not None:
        leases.append(lease)
    return leases


def leases_of(results: Sequence[object]) -> list[Lease]:
    """Every lease the threads were given (a thread's result: a lease, None or a list)."""
    found: list[Lease] = []
    for result in results:
        if isinstance(result, Lease):
            found.append(result)
        elif isinstance(result, list):
            found += [r for r in result if isinstance(r, Lease)]
    return found


def assert_one_owner_per_epoch(store: Store, job_id: int, given: list[Lease]) -> None:
    """The job's claims have epochs 1, 2, ... one each, its row is at the last of them
    with one attempt per claim, every lease a thread was given is one of those claims,
    and nothing was written under an epoch after the next one was claimed."""
    history = events(store, job_id)
    claims = [e for e in history if e["kind"] == "claimed"]
    epochs = [e["lease_epoch"] for e in claims]
    assert epochs == list(range(1, len(claims) + 1)), f"job {job_id}: claims {epochs}"
    owner_of = {e["lease_epoch"]: e["owner"] for e in claims}
    mine = [lease for lease in given if lease.job_id == job_id]
    assert len({lease.epoch for lease in mine}) == len(mine), f"job {job_id}: an epoch twice"
    for lease in mine:
        assert owner_of.get(lease.epoch) == lease.owner, f"job {job_id}: {lease} not claimed"
    job = row(store, job_id)
    assert job["lease_epoch"] == len(claims)
    assert job["attempt"] == len(claims), f"job {job_id}: attempt {job['attempt']}, claims {epochs}"
    if job["status"] == RUNNING:
        assert job["owner"] == owner_of[job["lease_epoch"]]
    current = 0
    for event in history:  # ordered by id: the order the store wrote them in
        if event["kind"] == "claimed":
            current = event["lease_epoch"]
        elif event["lease_epoch"] is not None:
            assert event["lease_epoch"] == current, (
                f"job {job_id}: a {event['kind']} of epoch {event['lease_epoch']} "
                f"after epoch {current} was claimed"
            )


def test_concurrent_claims_take_each_queued_job_once(store: Store) -> None:
    job_ids = [queue(store, f"p{i}") for i in range(12)]
    results = race(*[lambda i=i: claim_until_none(store, owner(f"w{i}")) for i in range(THREADS)])
    assert not unexpected(results)
    leases = leases_of(results)
    assert sorted(lease.job_id for lease in leases) == job_ids  # each exactly once
    assert {(lease.epoch, lease.attempt) for lease in leases} == {(1, 1)}
    for lease in leases:
        job = row(store, lease.job_id)
        assert (job["status"], job["owner"], job["lease_epoch"], job["attempt"]) == (
            RUNNING,
            lease.owner,
            1,
            1,
        )
        assert_one_owner_per_epoch(store, lease.job_id, leases)
    assert claim(store, owner("late")) is None


@pytest.mark.parametrize("how", ["expired", "dead-local-owner"])
def test_concurrent_takeovers_of_one_job_give_one_lease_and_count_one_attempt(
    store: Store, how: str
) -> None:
    """Half the threads name the job (as `sync` does), half claim any (as a worker does):
    one takes it over. A dead local owner's job is taken over unexpired, by name only."""
    job_id = queue(store)
    claimed(store, owner("w0") if how == "expired" else dead_local_owner("w0"))
    if how == "expired":
        expire(store, job_id)

    def take(i: int) -> Lease | None:
        return claim(store, owner(f"w{i}"), job_id=job_id if i % 2 else None)

    results = race(*[lambda i=i: take(i) for i in range(1, THREADS + 1)])
    assert not unexpected(results)
    leases = leases_of(results)
    assert [(lease.epoch, lease.attempt) for lease in leases] == [(2, 2)], results
    if how == "dead-local-owner":
        assert leases[0].owner in {owner(f"w{i}") for i in range(1, THREADS + 1, 2)}
    assert_one_owner_per_epoch(store, job_id, leases)
    assert row(store, job_id)["owner"] == leases[0].owner


def test_reapers_and_claimers_racing_on_expired_jobs(store: Store) -> None:
    """Rounds of expired leases, with reapers and worker claims racing on them: every
    requeue is one reap of one epoch, a job that used up its attempts is failed by a
    reaper and never claimed again, and each claim counts one attempt."""
    limits = [1, 2, 3, 5, 5, 5, 5, 5]
    job_ids = [queue(store, f"p{i}", max_attempts=m) for i, m in enumerate(limits)]
    max_attempts = dict(zip(job_ids, limits, strict=True))
    given = claim_until_none(store, owner("w0"))
    reaped: list[Reaped] = []
    for round_ in range(3):
        for job_id in job_ids:
            if row(store, job_id)["status"] == RUNNING:
                expire(store, job_id)

        def reap() -> list[Reaped]:
            with store.begin() as conn:
                return protocol.reap(conn)

        reapers = [reap] * (THREADS // 2)
        claimers = [
            lambda i=i, r=round_: claim_until_none(store, owner(f"r{r}w{i}"))
            for i in range(THREADS // 2)
        ]
        results = race(*reapers, *claimers)
        assert not unexpected(results)
        for result in results[: len(reapers)]:
            assert isinstance(result, list)
            reaped += [r for r in result if isinstance(r, Reaped)]
        given += leases_of(results[len(reapers) :])

    assert all(lease.attempt <= max_attempts[lease.job_id] for lease in given)
    once = Counter((r.job_id, r.epoch) for r in reaped)
    assert max(once.values()) == 1, f"an epoch reaped twice: {once}"
    for job_id in job_ids:
        assert_one_owner_per_epoch(store, job_id, given)
        job, history = row(store, job_id), events(store, job_id)
        mine = [r for r in reaped if r.job_id == job_id]
        stalled = [(e["lease_epoch"], e["owner"]) for e in history if e["kind"] == "stalled"]
        assert stalled == [(r.epoch, None) for r in mine if r.status == QUEUED]
        failed = [e for e in history if e["kind"] == "failed"]
        if job["attempt"] >= max_attempts[job_id] and job["status"] != RUNNING:
            assert job["status"] == FAILED, f"job {job_id} used its attempts, yet {job}"
            assert [r.status for r in mine][-1] == FAILED
            assert len(failed) == 1 and failed[0] == history[-1]
        else:
            assert job["status"] in (QUEUED, RUNNING), f"job {job_id}: {job}"
            assert not failed
    # What is left queued is a worker's to claim; a failed job never is.
    left = claim_until_none(store, owner("last"))
    assert {row(store, lease.job_id)["status"] for lease in left} <= {RUNNING}
    assert not {lease.job_id for lease in left} & {
        j for j in job_ids if row(store, j)["status"] == FAILED
    }
    assert row(store, job_ids[0])["status"] == FAILED  # one attempt, used by w0


@pytest.mark.parametrize("loser", ["taken-over", "reaped"])
def test_a_holder_renewing_in_a_loop_loses_its_lease_for_good(store: Store, loser: str) -> None:
    """The holder renews and checkpoints as fast as it can while another thread makes
    its lease run out and takes the job over (or reaps it) in one transaction: once a
    write of the holder was refused, or the takeover is known to have committed, no
    write of the holder is accepted again."""
    job_id = queue(store)
    lease = claimed(store, owner("holder"))
    ended = threading.Event()
    accepted: list[int] = []
    wrong: list[str] = []

    def write(conn: sa.Connection, batch: int) -> None:
        if batch % 2:
            protocol.renew(conn, lease)
        else:
            checkpoint = Checkpoint((batch,), batch, batch)
            event = {"message": f"batch {batch}"}
            protocol.save_checkpoint(conn, lease, checkpoint, rate=None, event=event)

    def holder() -> int:
        refused = 0
        deadline = time.monotonic() + 20
        for batch in itertools.count(1):
            assert time.monotonic() < deadline, "the lease was never lost"
            was_ended = ended.is_set()
            try:
                with store.begin() as conn:
                    write(conn, batch)
            except LeaseLost:
                refused += 1
                if was_ended and refused >= 3:
                    return batch
                continue
            if refused or was_ended:
                wrong.append(f"write {batch} accepted after {refused} refused")
            accepted.append(batch)
            time.sleep(0.001)  # SQLite's busy wait is not fair: leave the taker a gap
        raise AssertionError("unreachable")

    def end_it() -> Lease | None:
        poll("the holder's first writes", lambda: len(accepted) >= 5, timeout=20)
        with store.begin() as conn:
            expire(conn, job_id)
            if loser == "reaped":
                assert [r.job_id for r in protocol.reap(conn)] == [job_id]
                return_lease = None
            else:
                return_lease = protocol.claim(conn, owner("taker"), TTL, job_id=job_id)
                assert return_lease is not None
        ended.set()
        return return_lease

    last_batch, new = race(holder, end_it)
    assert not unexpected([last_batch, new])
    assert not wrong, wrong
    job = row(store, job_id)
    if loser == "reaped":
        assert (job["status"], job["lease_epoch"]) == (QUEUED, 1)
    else:
        assert isinstance(new, Lease)
        assert (job["status"], job["owner"], job["lease_epoch"]) == (RUNNING, new.owner, 2)
        assert_one_owner_per_epoch(store, job_id, [lease, new])
        with store.begin() as conn:
            assert protocol.renew(conn, new) is None
    with pytest.raises(LeaseLost), store.begin() as conn:
        protocol.renew(conn, lease)
    batches = [e for e in events(store, job_id) if e["kind"] == "batch"]
    assert len(batches) == sum(1 for b in accepted if b % 2 == 0)
