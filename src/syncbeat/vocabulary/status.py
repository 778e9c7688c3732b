"""The words of a job's life: its statuses, the requests a person makes of it, and how
one run of it ends. Every layer spells them from here (the store's SQL, the API's
schema, the CLI's choices), so a status cannot be misspelled in one place only.

The state machine (docs/design.md draws it)::

    queued ──claim──▶ running ──last batch──▶ completed
      ▲                │ │ │
      │   lease expired│ │ └─error, or attempts used up──▶ failed ──resume──▶ queued
      └──reap / drain──┘ └─pause / cancel request──▶ paused / cancelled

A queued, paused or failed job can be cancelled at once; a paused job resumes to queued.
"""

from __future__ import annotations

from enum import StrEnum

from syncbeat.vocabulary.errors import InvalidTransition


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobKind(StrEnum):
    """What a job does: a full sync copies every row; a repair copies again only the
    key ranges where verify finds the destination differs, and deletes its extra rows."""

    FULL = "full"
    REPAIR = "repair"


QUEUED, RUNNING, PAUSED = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED
COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED

FINAL = frozenset({COMPLETED, FAILED, CANCELLED})
"""Statuses a run leaves a job in for good (a failed job may still be resumed by hand)."""

OPEN = (QUEUED, RUNNING, PAUSED, FAILED)
"""An unfinished job: a pipeline has at most one (a partial unique index in the store)."""

WATCH_ORDER = (RUNNING, QUEUED, PAUSED, FAILED, COMPLETED, CANCELLED)
"""Every status, in the order people watch them: what needs attention first."""


class Request(StrEnum):
    """What a person asks of a job. A job that is not running changes status at once; a
    running one has the request written on its row and honours it at a batch boundary."""

    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"

    @property
    def done(self) -> str:
        """What the request makes of a job, in words: "job 7 cannot be resumed"."""
        return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[self.value]


class RunEnd(StrEnum):
    """How one run of a job in this process ended (:class:`syncbeat.Outcome`). The same
    word names the run's event and its ``syncbeat_job_runs_total`` outcome."""

    COMPLETED = "completed"
    FAILED = "failed"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    RELEASED = "released"
    """Given back on request (SIGTERM, Ctrl-C): the job is queued again, no attempt used."""
    LEASE_LOST = "lease_lost"
    """Another worker took the job over; this run's writes were refused."""
    STUCK = "stuck"
    """The progress watchdog abandoned a batch and gave the job back (or failed it)."""


def run_end(status: JobStatus) -> RunEnd:
    """How a run that leaves its job in ``status`` ended, the word of its event too: a
    job queued again by its holder was released."""
    return RunEnd.RELEASED if status == QUEUED else RunEnd(status)


TRANSITIONS: dict[Request, dict[JobStatus, JobStatus | None]] = {
    Request.PAUSE: {QUEUED: PAUSED, RUNNING: None},
    Request.CANCEL: {QUEUED: CANCELLED, PAUSED: CANCELLED, FAILED: CANCELLED, RUNNING: None},
    Request.RESUME: {PAUSED: QUEUED, FAILED: QUEUED},
}
"""For each request: the status a job can be in -> the status it goes to (None: the job is
running, so the request is left on its row for its runner, at the next batch boundary)."""


def not_allowed(
    job_id: int, status: JobStatus, action: Request, pipeline: str
) -> InvalidTransition:
    """The refusal of a request the job's status does not allow."""
    allowed = " or ".join(TRANSITIONS[action])
    finished = action == Request.RESUME and status in FINAL
    return InvalidTransition(
        f"Job {job_id} is {status}; it cannot be {action.done} (only a {allowed} job can).",
        hint=f"A {status} job is finished; start a new one with: syncbeat run {pipeline}"
        if finished
        else None,
    )
