"""Pipelines, jobs with their lease, and job events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("updated_at", sa.Double, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_pipelines"),
    )
    op.create_table(
        "jobs",
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
    )
    op.create_index("ix_jobs_pipeline", "jobs", ["pipeline"])
    op.create_index("ix_jobs_status", "jobs", ["status"])
    open_jobs = "status IN ('queued', 'running', 'paused', 'failed')"
    op.create_index(
        "uq_jobs_open_pipeline",
        "jobs",
        ["pipeline"],
        unique=True,
        sqlite_where=sa.text(open_jobs),
        postgresql_where=sa.text(open_jobs),
    )
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
    )
    op.create_index("ix_job_events_job_id_id", "job_events", ["job_id", "id"])
