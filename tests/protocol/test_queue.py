"""Queueing: one unfinished job per pipeline, and superseding a job that has not started."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from syncbeat.store import Store, protocol
from syncbeat.vocabulary.lease import Lease
from syncbeat.vocabulary.status import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PAUSED,
    QUEUED,
    RUNNING,
    JobKind,
    JobStatus,
)
from tests.protocol.helpers import (
    SPEC,
    TTL,
    claim,
    claimed,
    events,
    kinds,
    owner,
    queue,
    race,
    row,
    save_pipeline,
    unexpected,
)

W1 = owner("w1")


def leave_in(store: Store, job_id: int, status: JobStatus) -> None:
    """Bring the queued job ``job_id`` to ``status`` the way the protocol does."""
    if status == QUEUED:
        return
    lease = claimed(store, W1, job_id=job_id)
    if status != RUNNING:
        with store.begin() as conn:
            protocol.finish(conn, lease, status, f"left {status}")


def test_enqueue_queues_a_job_and_records_its_creation(store: Store) -> None:
    job_id = queue(store, max_attempts=3)
    job = row(store, job_id)
    assert (job["status"], job["pipeline"], job["kind"], job["spec"]) == (QUEUED, "p", "full", SPEC)
    assert (job["attempt"], job["max_attempts"], job["lease_epoch"], job["owner"]) == (
        0,
        3,
        0,
        None,
    )
    assert len(job["uid"]) == 32
    assert [(e["kind"], e["message"]) for e in events(store, job_id)] == [
        ("created", "full sync queued")
    ]


@pytest.mark.parametrize("status", [QUEUED, RUNNING, PAUSED, FAILED])
def test_a_pipeline_has_one_unfinished_job_at_most(store: Store, status: JobStatus) -> None:
    first = queue(store)
    leave_in(store, first, status)
    with pytest.raises(sa.exc.IntegrityError), store.begin() as conn:
        protocol.enqueue(conn, "p", SPEC, 5, JobKind.FULL)
    assert [e["job_id"] for e in events(store)] == [first] * len(events(store))
    assert queue(store, "other") != first  # another pipeline queues as it likes


@pytest.mark.parametrize("status", [COMPLETED, CANCELLED])
def test_a_finished_job_leaves_room_for_the_next(store: Store, status: JobStatus) -> None:
    first = queue(store)
    leave_in(store, first, status)
    second = queue(store)
    assert second > first and row(store, second)["status"] == QUEUED


def test_concurrent_enqueues_of_one_pipeline_queue_one_job(store: Store) -> None:
    save_pipeline(store, "p")

    def enqueue() -> int:
        with store.begin() as conn:
            return protocol.enqueue(conn, "p", SPEC, 5, JobKind.FULL)

    results = race(*[enqueue] * 8)
    assert not unexpected(results, sa.exc.IntegrityError)
    queued = [r for r in results if isinstance(r, int)]
    assert len(queued) == 1, results
    (job_id,) = queued
    assert [e["job_id"] for e in events(store)] == [job_id]


@pytest.mark.parametrize("status", [QUEUED, PAUSED, FAILED])
def test_supersede_cancels_a_job_that_is_not_running(store: Store, status: JobStatus) -> None:
    job_id = queue(store)
    leave_in(store, job_id, status)
    with store.begin() as conn:
        assert protocol.supersede(conn, job_id, ["source_url", "key"]) is True
    job = row(store, job_id)
    assert job["status"] == CANCELLED and job["finished_at"] is not None
    last = events(store, job_id)[-1]
    assert last["kind"] == "cancelled"
    assert last["message"].startswith("superseded: the pipeline's source_url, key changed")


@pytest.mark.parametrize("status", [RUNNING, COMPLETED, CANCELLED])
def test_supersede_leaves_a_running_or_finished_job_alone(store: Store, status: JobStatus) -> None:
    job_id = queue(store)
    leave_in(store, job_id, status)
    before, history = row(store, job_id), events(store, job_id)
    with store.begin() as conn:
        assert protocol.supersede(conn, job_id, ["key"]) is False
    assert (row(store, job_id), events(store, job_id)) == (before, history)


def test_supersede_racing_claims_either_cancels_the_job_or_loses_to_one_claim(
    store: Store,
) -> None:
    for round_ in range(5):  # the race goes either way; several rounds see both
        job_id = queue(store, f"p{round_}")

        def supersede(job_id: int = job_id) -> bool:
            with store.begin() as conn:
                return protocol.supersede(conn, job_id, ["key"])

        def take(who: str, job_id: int = job_id) -> Lease | None:
            return claim(store, who, ttl=TTL, job_id=job_id)

        claimers = [lambda i=i: take(owner(f"w{i}")) for i in range(4)]
        superseded, *leases = race(supersede, *claimers)
        assert not unexpected([superseded, *leases])
        won = [lease for lease in leases if isinstance(lease, Lease)]
        job = row(store, job_id)
        if superseded:
            assert not won
            assert job["status"] == CANCELLED and job["lease_epoch"] == 0
            assert "claimed" not in kinds(store, job_id)
        else:
            assert len(won) == 1
            assert (job["status"], job["owner"], job["lease_epoch"]) == (
                RUNNING,
                won[0].owner,
                1,
            )
            assert "cancelled" not in kinds(store, job_id)
