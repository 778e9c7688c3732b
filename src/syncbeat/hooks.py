"""How a caller follows and steers a run: :class:`RunHooks`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .allowlist import Allowlist
from .progress import Snapshot


@dataclass
class RunHooks:
    """How a caller follows and steers a run (the CLI's progress bar and Ctrl-C)."""

    should_stop: Callable[[], bool] = lambda: False
    on_progress: Callable[[Snapshot], None] = lambda snapshot: None
    on_message: Callable[[str], None] = lambda message: None
    checkpoints: bool = True
    """Benchmark only: False skips the per-batch checkpoint (store and destination state
    row) and the heartbeat, to measure what they cost. Not exactly-once; never use it."""
    allowlist: Allowlist | None = None
    """What a job of a pipeline saved through the API may reach; None: this process's
    environment (Allowlist.configured())."""
