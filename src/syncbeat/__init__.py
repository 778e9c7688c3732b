"""syncbeat: copy tables between databases in checkpointed, crash-safe batches."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from syncbeat.engine.hooks import RunHooks
from syncbeat.engine.progress import Snapshot
from syncbeat.engine.runner import Outcome
from syncbeat.service.facade import Syncbeat
from syncbeat.service.models import EventView, JobView, PipelineView
from syncbeat.store import Store
from syncbeat.store.owners import Owner
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import (
    ConfigError,
    DestinationError,
    InvalidTransition,
    JobBusy,
    JobNotFound,
    KeyColumnError,
    LeaseLost,
    NotFoundError,
    PipelineExists,
    PipelineNotFound,
    SourceError,
    StoreError,
    SyncbeatError,
    TransientError,
)
from syncbeat.vocabulary.lease import Lease
from syncbeat.vocabulary.pipeline import Mode, PipelineSpec
from syncbeat.vocabulary.status import JobStatus, RunEnd

try:
    __version__ = version("syncbeat")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Checkpoint",
    "ConfigError",
    "DestinationError",
    "EventView",
    "InvalidTransition",
    "JobBusy",
    "JobNotFound",
    "JobStatus",
    "JobView",
    "KeyColumnError",
    "Lease",
    "LeaseLost",
    "Mode",
    "NotFoundError",
    "Outcome",
    "Owner",
    "PipelineExists",
    "PipelineNotFound",
    "PipelineSpec",
    "PipelineView",
    "RunEnd",
    "RunHooks",
    "Snapshot",
    "SourceError",
    "Store",
    "StoreError",
    "Syncbeat",
    "SyncbeatError",
    "TransientError",
    "__version__",
]
