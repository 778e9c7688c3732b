"""The job store."""

from __future__ import annotations

from .schema import job_events, jobs, metadata, pipelines, workers
from .store import Store

__all__ = ["Store", "job_events", "jobs", "metadata", "pipelines", "workers"]
