"""syncbeat: copy tables between databases in checkpointed, crash-safe batches.

The names below are imported on first use (module ``__getattr__``), not here: every
``import syncbeat.<anything>`` runs this file first, and importing the engine, the store,
pydantic's models and the package metadata would make ``syncbeat --help`` (and the CLI's
start-up) pay for all of them before it decides what it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

    __version__: str

_EXPORTS = {
    "syncbeat.engine.hooks": ("RunHooks",),
    "syncbeat.engine.progress": ("Snapshot",),
    "syncbeat.engine.runner": ("Outcome",),
    "syncbeat.service.facade": ("Syncbeat",),
    "syncbeat.service.models": ("EventView", "JobView", "PipelineView"),
    "syncbeat.store": ("Store",),
    "syncbeat.store.owners": ("Owner",),
    "syncbeat.vocabulary.checkpoint": ("Checkpoint",),
    "syncbeat.vocabulary.errors": (
        "ConfigError",
        "DestinationError",
        "InvalidTransition",
        "JobBusy",
        "JobNotFound",
        "KeyColumnError",
        "LeaseLost",
        "NotFoundError",
        "PipelineExists",
        "PipelineNotFound",
        "SourceError",
        "StoreError",
        "SyncbeatError",
        "TransientError",
    ),
    "syncbeat.vocabulary.lease": ("Lease",),
    "syncbeat.vocabulary.pipeline": ("Mode", "PipelineSpec"),
    "syncbeat.vocabulary.status": ("JobStatus", "RunEnd"),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("syncbeat")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
    else:
        raise AttributeError(f"module 'syncbeat' has no attribute {name!r}")
    globals()[name] = value  # asked once: later lookups find it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
