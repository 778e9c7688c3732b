"""The job store's tables (SQLAlchemy Core).

Times are epoch seconds from the store's clock (see :mod:`syncbeat.store.clock`).
The lease lives on the job row: ``owner``, ``lease_epoch`` (the fencing token, bumped by
every claim), ``lease_expires_at``, ``heartbeat_at`` and ``attempt``.
"""

from __future__ import annotations

import sqlalchemy as sa

from syncbeat.vocabulary.status import OPEN

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

OPEN_CONDITION = "status IN (" + ", ".join(f"'{status}'" for status in OPEN) + ")"
"""The unfinished jobs, of which a pipeline has one at most (a partial unique index)."""

pipelines = sa.Table(
    "pipelines",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    # The pipeline definition (syncbeat.vocabulary.pipeline.PipelineSpec), URLs masked or ${VAR}.
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("updated_at", sa.Double, nullable=False),
    # Who saved it: "operator" (the CLI, the library) or "api" (a token holder, whose
    # ${VAR} and files are limited by the workers' allowlist: syncbeat.connectors.allowlist). A row
    # that says neither, or an older one, is treated as the API's: the safe side.
    sa.Column("origin", sa.String(16), nullable=False, server_default="api"),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Globally unique name of the job in destinations' state tables: job ids restart at 1
    # in a new store, the uid never repeats.
    sa.Column("uid", sa.String(32), nullable=False, unique=True),
    sa.Column(
        "pipeline",
        sa.String(200),
        sa.ForeignKey("pipelines.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("kind", sa.String(16), nullable=False, server_default="full"),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    # A pause or cancel asked for while the job runs, honoured at the next batch boundary.
    sa.Column("requested", sa.String(16)),
    # The pipeline as it was when the job was created.
    sa.Column("spec", sa.JSON, nullable=False),
    # The lease.
    sa.Column("owner", sa.String(300)),
    sa.Column("lease_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_expires_at", sa.Double),
    sa.Column("heartbeat_at", sa.Double),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    # Progress: the checkpoint of the last committed batch and the current run's rate.
    sa.Column("checkpoint", sa.JSON),
    sa.Column("rows_done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_total", sa.BigInteger),
    sa.Column("rate", sa.Double),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("started_at", sa.Double),
    sa.Column("finished_at", sa.Double),
    sa.Column("updated_at", sa.Double, nullable=False),
    # At most one unfinished job per pipeline, enforced by the database so that two
    # `syncbeat sync` started at the same moment cannot both create one.
    sa.Index(
        "uq_jobs_open_pipeline",
        "pipeline",
        unique=True,
        sqlite_where=sa.text(OPEN_CONDITION),
        postgresql_where=sa.text(OPEN_CONDITION),
    ),
    # Never hand out the id of a removed job again (SQLite's default reuses the largest
    # free one), so an id in a log or an alert always means one job.
    sqlite_autoincrement=True,
)

job_events = sa.Table(
    "job_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.Integer, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    # The fencing token of the writer, so a log shows which lease wrote what.
    sa.Column("lease_epoch", sa.Integer),
    sa.Column("owner", sa.String(300)),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("data", sa.JSON),
    sa.Index("ix_job_events_job_id_id", "job_id", "id"),
    sqlite_autoincrement=True,
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("heartbeat_interval", sa.Double, nullable=False),
    # Ids of the jobs the worker runs now, as last reported.
    sa.Column("jobs", sa.JSON, nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("stopped_at", sa.Double),
)
