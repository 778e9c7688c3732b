"""Commands about jobs: list, show, pause, resume, cancel."""

from __future__ import annotations

from typing import Annotated

import typer

from syncbeat.cli import render
from syncbeat.cli.app import app, client, job_app
from syncbeat.cli.options import JobId, JsonOpt
from syncbeat.vocabulary.status import WATCH_ORDER


def _known_status(value: str | None) -> str | None:
    if value is not None and value not in WATCH_ORDER:
        raise typer.BadParameter(
            f"{value!r} is not a job status; use one of {', '.join(WATCH_ORDER)}."
        )
    return value


@app.command()
def jobs(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            "-s",
            help=f"Only jobs in this status: {', '.join(WATCH_ORDER)}.",
            callback=_known_status,
        ),
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-p", help="Only this pipeline's jobs.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many (newest first).", min=1)
    ] = 50,
    json_: JsonOpt = False,
) -> None:
    """List jobs, newest first, with their progress."""
    found = client().jobs(status=status, pipeline=pipeline, limit=limit)
    render.as_json(found) if json_ else render.jobs_table(found)


@job_app.command("show")
def job_show(
    job_id: JobId,
    json_: JsonOpt = False,
    events: Annotated[int, typer.Option("--events", help="Recent events to show.")] = 15,
) -> None:
    """Status, progress, rate, ETA, heartbeat, attempt, checkpoint, last error, events."""
    job = client().job(job_id, events=events)
    render.as_json(job) if json_ else render.job_detail(job)


def _act(action: str, job_id: int, json_: bool) -> None:
    job = getattr(client(), action)(job_id)
    if json_:
        render.as_json(job)
    elif job.requested:
        render.out.print(
            f"Job {job.id}: {action} requested; the job honours it at its next batch boundary."
        )
    else:
        render.out.print(f"Job {job.id} is now {job.status}.")


@job_app.command("pause")
def job_pause(job_id: JobId, json_: JsonOpt = False) -> None:
    """Pause a job; it keeps its checkpoint. A running job stops at its next batch."""
    _act("pause", job_id, json_)


@job_app.command("resume")
def job_resume(job_id: JobId, json_: JsonOpt = False) -> None:
    """Put a paused or failed job back in the queue, keeping its checkpoint."""
    _act("resume", job_id, json_)


@job_app.command("cancel")
def job_cancel(job_id: JobId, json_: JsonOpt = False) -> None:
    """Cancel a job for good. A running job stops at its next batch."""
    _act("cancel", job_id, json_)
