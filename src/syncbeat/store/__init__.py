"""The job store."""

from __future__ import annotations

from syncbeat.store.schema import job_events, jobs, metadata, pipelines, workers
from syncbeat.store.store import Store

__all__ = ["Store", "job_events", "jobs", "metadata", "pipelines", "workers"]
