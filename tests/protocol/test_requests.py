"""A person's requests: pause, resume and cancel, each a compare-and-set on the status
(and lease) just read, alone and racing each other or the job's holder."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from syncbeat.store import Store, jobs, protocol
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import InvalidTransition, JobNotFound
from syncbeat.vocabulary.lease import Lease
from syncbeat.vocabulary.status import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PAUSED,
    QUEUED,
    RUNNING,
    JobStatus,
    Request,
)
from tests.protocol.helpers import (
    TTL,
    claim,
    claimed,
    events,
    expire,
    kinds,
    meanwhile,
    owner,
    queue,
    race,
    row,
    unexpected,
)

W1, W2 = owner("w1"), owner("w2")
PAUSE, RESUME, CANCEL = Request.PAUSE, Request.RESUME, Request.CANCEL


def job_in(store: Store, status: JobStatus) -> tuple[int, Lease | None]:
    """A job left in ``status`` by the protocol, and the lease that holds it if running."""
    job_id = queue(store)
    if status == QUEUED:
        return job_id, None
    lease = claimed(store, W1)
    if status == RUNNING:
        return job_id, lease
    with store.begin() as conn:
        protocol.finish(conn, lease, status, f"left {status}", error="boom")
    return job_id, None


def ask(store: Store, job_id: int, action: Request) -> bool:
    with store.begin() as conn:
        return protocol.request(conn, job_id, action)


def decide(store: Store, job_id: int, action: Request) -> bool | InvalidTransition:
    """Ask as the API does: again while the job changed under the request (False), until
    it is done (True) or refused (the refusal, returned)."""
    for _ in range(100):
        try:
            if ask(store, job_id, action):
                return True
        except InvalidTransition as refused:
            return refused
    raise AssertionError(f"{action} of job {job_id} never got an answer")


# -- one at a time ------------------------------------------------------------------------
def test_pause_of_a_queued_job_pauses_it_and_no_worker_claims_it(store: Store) -> None:
    job_id, _ = job_in(store, QUEUED)
    assert ask(store, job_id, PAUSE) is True
    assert row(store, job_id)["status"] == PAUSED
    assert events(store, job_id)[-1]["kind"] == "paused"
    assert events(store, job_id)[-1]["message"] == "paused by request"
    assert claim(store, W2) is None


@pytest.mark.parametrize("status", [QUEUED, PAUSED, FAILED])
def test_cancel_of_a_job_not_running_cancels_it_at_once(store: Store, status: JobStatus) -> None:
    job_id, _ = job_in(store, status)
    assert ask(store, job_id, CANCEL) is True
    job = row(store, job_id)
    assert (job["status"], job["finished_at"] is not None) == (CANCELLED, True)
    last = events(store, job_id)[-1]
    assert (last["kind"], last["message"]) == ("cancelled", "cancelled by request")


@pytest.mark.parametrize("action", [PAUSE, CANCEL])
def test_a_request_of_a_running_job_is_left_on_its_row_for_the_holder(
    store: Store, action: Request
) -> None:
    job_id, lease = job_in(store, RUNNING)
    assert lease is not None
    assert ask(store, job_id, action) is True
    job = row(store, job_id)
    assert (job["status"], job["requested"], job["lease_epoch"]) == (RUNNING, action, 1)
    last = events(store, job_id)[-1]
    assert (last["kind"], last["message"]) == ("requested", f"{action} requested")
    with store.begin() as conn:
        assert protocol.renew(conn, lease) == action
        assert protocol.save_checkpoint(conn, lease, Checkpoint((1,), 1, 1), rate=None) == action
    end = PAUSED if action == PAUSE else CANCELLED
    with store.begin() as conn:
        protocol.finish(conn, lease, end, f"{action.done} at a batch boundary")
    job = row(store, job_id)
    assert (job["status"], job["requested"]) == (end, None)
    assert kinds(store, job_id)[-1] == end


def test_a_pause_does_not_replace_a_cancel_the_holder_has_not_honoured_yet(
    store: Store,
) -> None:
    """Cancel is the stronger word: a pause asked after it, before the job's next batch
    boundary, is refused, and the holder still reads the cancel."""
    job_id, lease = job_in(store, RUNNING)
    assert lease is not None
    assert ask(store, job_id, CANCEL) is True
    with pytest.raises(InvalidTransition, match=f"Job {job_id} is being cancelled"):
        ask(store, job_id, PAUSE)
    assert row(store, job_id)["requested"] == CANCEL
    assert kinds(store, job_id)[-1] == "requested"
    with store.begin() as conn:
        assert protocol.renew(conn, lease) == CANCEL


@pytest.mark.parametrize("how", ["paused", "failed-by-its-holder", "failed-by-the-reaper"])
def test_resume_queues_the_job_again_with_its_attempts_reset(store: Store, how: str) -> None:
    job_id = queue(store, max_attempts=1)
    lease = claimed(store, W1)
    if how == "failed-by-the-reaper":
        expire(store, job_id)
        with store.begin() as conn:
            protocol.reap(conn)
    else:
        with store.begin() as conn:
            end = PAUSED if how == "paused" else FAILED
            protocol.finish(conn, lease, end, "stopped", error="boom")
    assert row(store, job_id)["attempt"] == 1
    assert ask(store, job_id, RESUME) is True
    job = row(store, job_id)
    assert (job["status"], job["attempt"], job["last_error"], job["finished_at"]) == (
        QUEUED,
        0,
        None,
        None,
    )
    last = events(store, job_id)[-1]
    assert (last["kind"], last["message"]) == ("requeued", "resumed by request")
    again = claimed(store, W2)  # a worker takes it: its budget is whole again
    assert (again.job_id, again.epoch, again.attempt) == (job_id, 2, 1)


REFUSED = [
    (QUEUED, RESUME, "paused or failed"),
    (RUNNING, RESUME, "paused or failed"),
    (COMPLETED, RESUME, "paused or failed"),
    (CANCELLED, RESUME, "paused or failed"),
    (PAUSED, PAUSE, "queued or running"),
    (FAILED, PAUSE, "queued or running"),
    (COMPLETED, PAUSE, "queued or running"),
    (COMPLETED, CANCEL, "queued or paused or failed or running"),
    (CANCELLED, CANCEL, "queued or paused or failed or running"),
]


@pytest.mark.parametrize(("status", "action", "allowed"), REFUSED)
def test_a_request_the_status_does_not_allow_is_refused_and_changes_nothing(
    store: Store, status: JobStatus, action: Request, allowed: str
) -> None:
    job_id, _ = job_in(store, status)
    before, history = row(store, job_id), events(store, job_id)
    message = f"Job {job_id} is {status}; it cannot be {action.done} (only a {allowed} job can)."
    with pytest.raises(InvalidTransition, match=re.escape(message)) as refused:
        ask(store, job_id, action)
    finished = action == RESUME and status in (COMPLETED, CANCELLED)
    assert refused.value.hint == (
        f"A {status} job is finished; start a new one with: syncbeat run p" if finished else None
    )
    assert (row(store, job_id), events(store, job_id)) == (before, history)


def test_a_request_for_a_job_that_does_not_exist(store: Store) -> None:
    with pytest.raises(JobNotFound, match="There is no job 999"):
        ask(store, 999, CANCEL)


# -- the compare-and-set ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "action", "change"),
    [
        pytest.param(QUEUED, PAUSE, "claimed", id="pause-of-a-queued-job-claimed-meanwhile"),
        pytest.param(QUEUED, CANCEL, "claimed", id="cancel-of-a-queued-job-claimed-meanwhile"),
        pytest.param(RUNNING, CANCEL, "taken-over", id="cancel-of-a-job-taken-over-meanwhile"),
        pytest.param(RUNNING, PAUSE, "completed", id="pause-of-a-job-completed-meanwhile"),
        pytest.param(PAUSED, RESUME, "cancelled", id="resume-of-a-job-cancelled-meanwhile"),
    ],
)
def test_a_request_returns_false_when_the_job_changed_since_it_was_read(
    store: Store, status: JobStatus, action: Request, change: str
) -> None:
    """Another writer between the request's read and its write (simulated on the
    request's own connection, since the store would not let one in): the write matches
    nothing, the request says False, and neither the job nor its events show it."""
    job_id, lease = job_in(store, status)
    if change == "taken-over":
        expire(store, job_id)
    before = kinds(store, job_id)

    def meddle(conn: sa.Connection) -> None:
        if change in ("claimed", "taken-over"):
            assert protocol.claim(conn, W2, TTL, job_id=job_id) is not None
        elif change == "completed":
            assert lease is not None
            protocol.finish(conn, lease, COMPLETED, "done")
        else:
            assert protocol.request(conn, job_id, CANCEL)

    prefix = "UPDATE jobs SET requested" if status == RUNNING else "UPDATE jobs SET status"
    with store.begin() as conn:
        with meanwhile(conn, prefix, meddle) as fired:
            assert protocol.request(conn, job_id, action) is False
        assert fired, "the request never reached its write"
        after = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one()
    assert after["requested"] is None
    expected = {"claimed": RUNNING, "taken-over": RUNNING, "completed": COMPLETED}
    assert after["status"] == expected.get(change, CANCELLED)
    meddled = {"claimed": "claimed", "taken-over": "claimed", "completed": "completed"}
    assert kinds(store, job_id)[len(before) :] == [meddled.get(change, "cancelled")]


# -- races ----------------------------------------------------------------------------------
def test_pause_and_cancel_requests_racing_on_a_queued_job(store: Store) -> None:
    job_id, _ = job_in(store, QUEUED)
    actions = [PAUSE, CANCEL] * 4
    results = race(*[lambda a=a: decide(store, job_id, a) for a in actions])
    assert not unexpected(results, InvalidTransition)
    done = [a for a, r in zip(actions, results, strict=True) if r is True]
    # A cancel is allowed from queued and paused: one cancels; a pause only before it.
    assert done.count(CANCEL) == 1 and done.count(PAUSE) <= 1, results
    assert row(store, job_id)["status"] == CANCELLED
    ends = [k for k in kinds(store, job_id) if k in ("paused", "cancelled")]
    assert ends == (["paused", "cancelled"] if PAUSE in done else ["cancelled"])
    for action, result in zip(actions, results, strict=True):
        if isinstance(result, InvalidTransition):
            assert f"it cannot be {action.done}" in str(result)


@pytest.mark.parametrize("holder_honours", [False, True])
def test_cancel_requests_racing_the_holder_finishing(store: Store, holder_honours: bool) -> None:
    """The holder runs a few batches and completes the job, or (honouring requests)
    cancels it at the first batch that returns a cancel request; meanwhile others ask
    for a cancel. The job ends completed or cancelled with one event that says so, no
    request outlives the lease, and every request was either written while the job ran
    or refused after it ended."""
    job_id, lease = job_in(store, RUNNING)
    assert lease is not None

    def hold(lease: Lease = lease) -> JobStatus:
        end = COMPLETED
        for batch in range(1, 6):
            with store.begin() as conn:
                checkpoint = Checkpoint((batch,), batch, batch * 10)
                asked = protocol.save_checkpoint(conn, lease, checkpoint, rate=None)
            if holder_honours and asked == CANCEL:
                end = CANCELLED
                break
        with store.begin() as conn:
            protocol.finish(conn, lease, end, f"{end} by the holder")
        return end

    results = race(hold, *[lambda: decide(store, job_id, CANCEL)] * 6)
    assert not unexpected(results, InvalidTransition)
    end, *answers = results
    job = row(store, job_id)
    assert (job["status"], job["requested"], job["owner"]) == (end, None, None)
    history = events(store, job_id)
    finals = [e for e in history if e["kind"] in ("completed", "cancelled")]
    assert [(e["kind"], e["lease_epoch"], e["owner"]) for e in finals] == [(end, 1, W1)]
    requested = [e for e in history if e["kind"] == "requested"]
    assert len(requested) == answers.count(True)
    assert all(e["id"] < finals[0]["id"] for e in requested)
    for answer in answers:
        assert answer is True or f"Job {job_id} is {end}; it cannot be cancelled" in str(answer)
    if end == CANCELLED:
        assert True in answers  # the holder cancelled only because someone asked


# -- a request the lease it was written for did not live to honour --------------------------
@pytest.mark.parametrize(
    ("asked", "how"),
    [
        pytest.param(CANCEL, "failed-by-the-reaper", id="cancel-then-failed-then-resumed"),
        pytest.param(PAUSE, "requeued-then-paused", id="pause-then-requeued-paused-resumed"),
    ],
)
def test_a_request_left_by_an_expired_lease_does_not_undo_a_later_resume(
    store: Store, asked: Request, how: str
) -> None:
    """A pause or cancel asked of a running job whose holder then died: the reaper
    fails the job (its attempts used up) or requeues it, and the person pauses it while
    it is queued; then the person resumes it. The resume is the person's latest word,
    yet the old request still sits on the row, and the next holder honours it."""
    job_id = queue(store, max_attempts=1 if how == "failed-by-the-reaper" else 5)
    claimed(store, W1)
    assert ask(store, job_id, asked) is True
    expire(store, job_id)
    with store.begin() as conn:
        (reaped,) = protocol.reap(conn)
    assert reaped.status == (FAILED if how == "failed-by-the-reaper" else QUEUED)
    if how == "requeued-then-paused":
        assert ask(store, job_id, PAUSE) is True
    assert ask(store, job_id, RESUME) is True
    assert row(store, job_id)["status"] == QUEUED
    lease = claimed(store, W2)
    with store.begin() as conn:
        pending = protocol.renew(conn, lease)
    assert (pending, row(store, job_id)["requested"]) == (None, None)
