"""Jobs: list (filtered, paged), show, events, and pause, resume, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from syncbeat.api.auth import require_auth
from syncbeat.api.deps import SyncbeatDep, reject_unknown_query
from syncbeat.api.errors import AUTHED, responses
from syncbeat.service.models import EventView, JobView
from syncbeat.vocabulary.pipeline import NAME_PATTERN
from syncbeat.vocabulary.status import JobStatus

router = APIRouter(
    tags=["jobs"], dependencies=[Depends(require_auth), Depends(reject_unknown_query)]
)

# Ids are 32-bit in the store; a larger one cannot name a job (and some drivers would
# fail to bind it rather than find nothing).
MAX_ID = 2**31 - 1

JobId = Annotated[int, Path(ge=1, le=MAX_ID, description="The job's id.")]


class JobPage(BaseModel):
    """One page of jobs, newest first, and how many match in all."""

    items: list[JobView]
    limit: int
    offset: int
    total: int = Field(description="Jobs matching the filters, on every page.")


@router.get("/jobs", responses=responses(*AUTHED))
def list_jobs(
    sb: SyncbeatDep,
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status.")] = None,
    pipeline: Annotated[
        str | None,
        Query(pattern=NAME_PATTERN, max_length=200, description="Only this pipeline's jobs."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Jobs per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Jobs to skip.")] = 0,
) -> JobPage:
    """Jobs, newest first, with their progress (no events; GET /jobs/{id} has them)."""
    return JobPage(
        items=sb.jobs(status=status, pipeline=pipeline, limit=limit, offset=offset),
        limit=limit,
        offset=offset,
        total=sb.count_jobs(status=status, pipeline=pipeline),
    )


@router.get("/jobs/{job_id}", responses=responses(*AUTHED, 404))
def show_job(
    job_id: JobId,
    sb: SyncbeatDep,
    events: Annotated[
        int, Query(ge=0, le=1000, description="Recent events to include (0: none).")
    ] = 20,
) -> JobView:
    """Status, owner, heartbeat age, attempt and max, rows done and total, percent,
    rows/s, ETA, checkpoint, last error, and the most recent events."""
    return sb.job(job_id, events=events)


@router.get("/jobs/{job_id}/events", responses=responses(*AUTHED, 404))
def job_events(
    job_id: JobId,
    sb: SyncbeatDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
    after_id: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_ID,
            description="Only events after this event id, the oldest first: to follow a "
            "job, pass the last id you have. Without it: the most recent events.",
        ),
    ] = None,
) -> list[EventView]:
    """The job's events, oldest first."""
    return sb.events(job_id, limit=limit, after_id=after_id)


_CONTROL = responses(*AUTHED, 404, 409)


@router.post("/jobs/{job_id}/pause", responses=_CONTROL)
def pause_job(job_id: JobId, sb: SyncbeatDep) -> JobView:
    """Pause a job, keeping its checkpoint. A running job stops at its next batch
    boundary (``requested`` says so until then). 409 if it cannot be paused."""
    return sb.pause(job_id)


@router.post("/jobs/{job_id}/resume", responses=_CONTROL)
def resume_job(job_id: JobId, sb: SyncbeatDep) -> JobView:
    """Put a paused or failed job back in the queue, keeping its checkpoint."""
    return sb.resume(job_id)


@router.post("/jobs/{job_id}/cancel", responses=_CONTROL)
def cancel_job(job_id: JobId, sb: SyncbeatDep) -> JobView:
    """Cancel a job for good; a running one stops at its next batch boundary."""
    return sb.cancel(job_id)
