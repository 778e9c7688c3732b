"""Reading the job store: the rows behind every view of jobs, pipelines, events and
workers. Reads only; every write of a job is :mod:`syncbeat.store.protocol`'s, of a
pipeline :mod:`syncbeat.store.catalog`'s, of a worker :mod:`syncbeat.store.registry`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from syncbeat.store import clock
from syncbeat.store.schema import job_events, jobs, pipelines, workers
from syncbeat.vocabulary.errors import JobNotFound
from syncbeat.vocabulary.status import OPEN, RUNNING, WATCH_ORDER

Row = sa.RowMapping


def store_now(conn: sa.Connection) -> float:
    """The store's clock, which times every lease and heartbeat age."""
    return float(conn.execute(sa.select(clock.now())).scalar_one())


def pipeline(conn: sa.Connection, name: str) -> Row | None:
    return conn.execute(sa.select(pipelines).where(pipelines.c.name == name)).mappings().first()


def all_pipelines(conn: sa.Connection) -> Sequence[Row]:
    return conn.execute(sa.select(pipelines).order_by(pipelines.c.name)).mappings().all()


def job(conn: sa.Connection, job_id: int) -> Row:
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise JobNotFound(f"There is no job {job_id}.", hint="`syncbeat jobs` lists the jobs.")
    return row


def running_job(conn: sa.Connection, pipeline: str) -> int | None:
    return conn.execute(
        sa.select(jobs.c.id).where(jobs.c.pipeline == pipeline, jobs.c.status == RUNNING)
    ).scalar()


def open_job(conn: sa.Connection, pipeline: str) -> int | None:
    """The pipeline's unfinished job (queued, running, paused or failed), if any."""
    return conn.execute(
        sa.select(jobs.c.id).where(jobs.c.pipeline == pipeline, jobs.c.status.in_(OPEN))
    ).scalar()


def _job_filter(status: str | None, pipeline: str | None) -> list[sa.ColumnElement[bool]]:
    where = []
    if status:
        where.append(jobs.c.status == status)
    if pipeline:
        where.append(jobs.c.pipeline == pipeline)
    return where


def jobs_page(
    conn: sa.Connection, status: str | None, pipeline: str | None, limit: int, offset: int
) -> Sequence[Row]:
    """Jobs, newest first."""
    query = (
        sa.select(jobs)
        .where(*_job_filter(status, pipeline))
        .order_by(jobs.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return conn.execute(query).mappings().all()


def count_jobs(conn: sa.Connection, status: str | None, pipeline: str | None) -> int:
    query = sa.select(sa.func.count()).select_from(jobs).where(*_job_filter(status, pipeline))
    return int(conn.execute(query).scalar_one())


def job_counts(conn: sa.Connection, pipeline: str | None) -> dict[str, int]:
    """How many jobs are in each status: every status, 0 included, in watch order."""
    query = (
        sa.select(jobs.c.status, sa.func.count())
        .where(*_job_filter(None, pipeline))
        .group_by(jobs.c.status)
    )
    found = {status: int(n) for status, n in conn.execute(query).all()}
    return {status: found.get(status, 0) for status in WATCH_ORDER}


def events(
    conn: sa.Connection, job_id: int, limit: int, after_id: int | None
) -> list[dict[str, Any]]:
    """The job's events, oldest first: its most recent ``limit``, or the first ``limit``
    after the event ``after_id``. An unknown job is an error."""
    job(conn, job_id)
    query = sa.select(job_events).where(job_events.c.job_id == job_id)
    if after_id is None:
        query = query.order_by(job_events.c.id.desc())
    else:
        query = query.where(job_events.c.id > after_id).order_by(job_events.c.id)
    rows = conn.execute(query.limit(limit)).mappings().all()
    return [dict(r) for r in (reversed(rows) if after_id is None else rows)]


def all_workers(conn: sa.Connection, include_stopped: bool) -> Sequence[Row]:
    query = sa.select(workers).order_by(workers.c.started_at)
    if not include_stopped:
        query = query.where(workers.c.stopped_at.is_(None))
    return conn.execute(query).mappings().all()


def lease_health(conn: sa.Connection) -> tuple[float, int]:
    """The oldest heartbeat age among running jobs (0 if none runs), and how many of
    them hold an expired lease, by the store's clock."""
    age, expired = conn.execute(
        sa.select(
            sa.func.max(clock.now() - jobs.c.heartbeat_at),
            sa.func.count().filter(jobs.c.lease_expires_at < clock.now()),
        ).where(jobs.c.status == RUNNING)
    ).one()
    return max(0.0, float(age or 0.0)), int(expired or 0)
