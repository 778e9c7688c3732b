"""Job and event ids are never handed out twice on SQLite (AUTOINCREMENT).

SQLite's plain INTEGER PRIMARY KEY gives a new row the largest id in use plus one, so
after `pipeline rm` the next job took the id of a removed one, and ``job show 3`` showed
another job than the one a log or an alert had named. AUTOINCREMENT never reuses an id.
The tables are rebuilt with their rows; ids of jobs removed before this migration ran
cannot be known, so the first new id follows the largest one kept. PostgreSQL's
sequences never reuse an id: nothing changes there.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_OPEN_JOBS = "status IN ('queued', 'running', 'paused', 'failed')"

_JOB_COLUMNS = (
    "id, uid, pipeline, kind, status, requested, spec, owner, lease_epoch, "
    "lease_expires_at, heartbeat_at, attempt, max_attempts, checkpoint, rows_done, "
    "rows_total, rate, last_error, created_at, started_at, finished_at, updated_at"
)
_EVENT_COLUMNS = "id, job_id, at, kind, lease_epoch, owner, message, data"


def _create_jobs(name: str) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), server_default="full", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested", sa.String(16)),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("owner", sa.String(300)),
        sa.Column("lease_epoch", sa.Integer, server_default="0", nullable=False),
        sa.Column("lease_expires_at", sa.Double),
        sa.Column("heartbeat_at", sa.Double),
        sa.Column("attempt", sa.Integer, server_default="0", nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("checkpoint", sa.JSON),
        sa.Column("rows_done", sa.BigInteger, server_default="0", nullable=False),
        sa.Column("rows_total", sa.BigInteger),
        sa.Column("rate", sa.Double),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("started_at", sa.Double),
        sa.Column("finished_at", sa.Double),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline"],
            ["pipelines.name"],
            name="fk_jobs_pipeline_pipelines",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("uid", name="uq_jobs_uid"),
        sqlite_autoincrement=True,
    )


def _create_events() -> None:
    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("at", sa.Double, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("lease_epoch", sa.Integer),
        sa.Column("owner", sa.String(300)),
        sa.Column("message", sa.Text, server_default="", nullable=False),
        sa.Column("data", sa.JSON),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_events_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_job_events"),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # The events go aside first, without their foreign key: with foreign keys on (the
    # store's sessions), dropping the old jobs table deletes its rows, and that would
    # cascade to every event still referring to it.
    op.execute(f"CREATE TABLE _job_events_0003 AS SELECT {_EVENT_COLUMNS} FROM job_events")
    op.drop_index("ix_job_events_job_id_id", "job_events")
    op.drop_table("job_events")

    _create_jobs("_jobs_0003")
    # Rows whose pipeline or job is gone (only a store written without foreign keys has
    # them) would fail the new tables' foreign keys: they are dropped, not copied.
    op.execute(
        f"INSERT INTO _jobs_0003 ({_JOB_COLUMNS}) SELECT {_JOB_COLUMNS} FROM jobs"
        " WHERE pipeline IN (SELECT name FROM pipelines)"
    )
    for index in ("uq_jobs_open_pipeline", "ix_jobs_status", "ix_jobs_pipeline"):
        op.drop_index(index, "jobs")
    op.drop_table("jobs")
    op.rename_table("_jobs_0003", "jobs")
    op.create_index("ix_jobs_pipeline", "jobs", ["pipeline"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_index(
        "uq_jobs_open_pipeline",
        "jobs",
        ["pipeline"],
        unique=True,
        sqlite_where=sa.text(_OPEN_JOBS),
    )

    _create_events()
    op.execute(
        f"INSERT INTO job_events ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM _job_events_0003"
        " WHERE job_id IN (SELECT id FROM jobs)"
    )
    op.drop_table("_job_events_0003")
    op.create_index("ix_job_events_job_id_id", "job_events", ["job_id", "id"])
