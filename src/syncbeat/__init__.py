"""syncbeat: copy tables between databases in checkpointed, crash-safe batches."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .checkpoint import Checkpoint
from .errors import (
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
from .hooks import RunHooks
from .lease import Lease, Owner
from .models import EventView, JobView, PipelineView
from .pipeline import PipelineSpec
from .progress import Snapshot
from .runner import Outcome
from .service import Syncbeat
from .store import Store

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
    "JobView",
    "KeyColumnError",
    "Lease",
    "LeaseLost",
    "NotFoundError",
    "Outcome",
    "Owner",
    "PipelineExists",
    "PipelineNotFound",
    "PipelineSpec",
    "PipelineView",
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
