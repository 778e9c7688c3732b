"""How a caller follows and steers a run: the CLI's progress bar and Ctrl-C, a
worker's drain, a library user's callbacks."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from syncbeat.connectors.allowlist import Allowlist
from syncbeat.engine.progress import Snapshot

log = logging.getLogger(__name__)


def log_message(message: str) -> None:
    """Where a run's messages go when no caller shows them (a worker): the log. Only
    warnings are worth a line there; the rest is in the job's events."""
    if message.startswith("warning: "):
        log.warning(message.removeprefix("warning: "), extra={"action": "source_warning"})


@dataclass
class RunHooks:
    """How a caller follows and steers a run (the CLI's progress bar and Ctrl-C)."""

    should_stop: Callable[[], bool] = lambda: False
    on_progress: Callable[[Snapshot], None] = lambda snapshot: None
    on_message: Callable[[str], None] = log_message
    """Messages for the person watching (a warning about the source, a resume). A caller
    that shows them replaces it, so each is shown once; by default warnings are logged."""
    checkpoints: bool = True
    """Benchmark only: False skips the per-batch checkpoint (store and destination state
    row) and the heartbeat, to measure what they cost. Not exactly-once; never use it."""
    allowlist: Allowlist | None = None
    """What a job of a pipeline saved through the API may reach; None: this process's
    environment (Allowlist.configured())."""
