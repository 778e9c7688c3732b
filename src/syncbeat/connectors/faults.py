"""Fault injection for the chaos tests. For tests only: OFF unless a test enables it.

The chaos suite (``tests/chaos``) starts real ``syncbeat worker`` processes and needs
failures inside them that no outside action can cause at a chosen point: a source read
or a destination write that fails with a transient error, a commit whose answer is lost,
a batch that hangs, a process that freezes in the middle of a batch. The engine calls
:func:`strike` at those points; unless the environment variable ``SYNCBEAT_FAULTS`` is
set, that call is one global check and returns.

``SYNCBEAT_FAULTS`` holds a JSON object, or the path of a file holding one, read at
the first strike (worker subprocesses inherit the variable)::

    {"seed": 7,                # the process's sequence of draws: give each its own
     "source_read": 0.02,      # chance that a source batch read raises InjectedFault
     "dest_write": 0.02,       # ... that a destination write fails before its commit
     "dest_ack": 0.01,         # ... that it fails after its commit (the answer is lost)
     "hang": 0.005,            # chance that a source batch read hangs
     "hang_seconds": 6.0,      # for that long: set it past the batch timeout
     "freeze": 0.002,          # chance, at any point, that the process SIGSTOPs itself
     "kill_at": "swap.rename", # SIGKILL the process at this named point (see below)
     "log": "/tmp/faults.log"} # optional: one line per fault struck ("<point> <pid>")

:class:`InjectedFault` is a :class:`~syncbeat.vocabulary.errors.TransientError`, so it takes the
engine's real retry path. A hang is a plain sleep: the progress watchdog cannot cancel
it as it cancels a statement, so it abandons the batch and gives the job back, and the
sleeping thread finds its lease gone when it wakes (see ``engine.liveness.Watchdog``).
A freeze stops the whole process (heartbeat included) in the middle of a batch, as a
long GC pause would; the test must send it SIGCONT, or it stays stopped.

Besides :data:`POINTS`, the engine strikes named points that are only ever a place to
crash: ``kill_at`` names one, and the process SIGKILLs itself there, so a test can
crash a run after any one statement of a multi-statement step (replace mode's swap:
``swap.POINTS``). Striking those points draws nothing from the plan's random sequence,
so seeded chaos runs replay as before.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from syncbeat.vocabulary.errors import ConfigError, TransientError

ENV = "SYNCBEAT_FAULTS"


class Point(StrEnum):
    """Every place the engine calls :func:`strike`: the production code names a point
    here and nothing else, so what a test can break is all in this list."""

    SOURCE_READ = "source_read"
    DEST_WRITE = "dest_write"
    DEST_ACK = "dest_ack"
    # replace mode's swap, after each of its statements (swap.POINTS gives their order)
    SWAP_SWAPPING = "swap.swapping"
    SWAP_LOCK_TIMEOUT = "swap.lock_timeout"
    SWAP_DROP_TARGET = "swap.drop_target"
    SWAP_DROP_OLD = "swap.drop_old"
    SWAP_RENAME = "swap.rename"
    SWAP_DROP_RENAMED = "swap.drop_renamed"
    SWAP_COMMITTED = "swap.committed"
    SWAP_DONE = "swap.done"


POINTS = (Point.SOURCE_READ, Point.DEST_WRITE, Point.DEST_ACK)
"""The points where a plan's chances draw faults; the others are only places to crash."""


class InjectedFault(TransientError):
    """A fault injected by a test (SYNCBEAT_FAULTS); retrying is expected to help."""


@dataclass
class _Plan:
    chances: dict[str, float]
    hang: float = 0.0
    hang_seconds: float = 0.0
    freeze: float = 0.0
    kill_at: str | None = None
    log: str | None = None
    rng: random.Random = field(default_factory=random.Random)


def _load(text: str | None) -> _Plan | None:
    """The plan in ``text``; a bad one is a ConfigError, which fails the job that
    struck it with this message (never silently no faults)."""
    if not text:
        return None
    try:
        raw = Path(text).read_text() if not text.lstrip().startswith("{") else text
        config: dict[str, Any] = json.loads(raw)
        seed = config.get("seed")
        return _Plan(
            chances={point: float(config.get(point, 0.0)) for point in POINTS},
            hang=float(config.get("hang", 0.0)),
            hang_seconds=float(config.get("hang_seconds", 0.0)),
            freeze=float(config.get("freeze", 0.0)),
            kill_at=config.get("kill_at"),
            log=config.get("log"),
            rng=random.Random(seed),  # noqa: S311 (a seeded fault schedule, not a secret)
        )
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{ENV} is set but unreadable ({type(exc).__name__}: {exc}).",
            hint=f"It is for tests only: unset {ENV}, or give it a JSON object.",
        ) from None


_enabled = bool(os.environ.get(ENV))
_plan: _Plan | None = None
_lock = threading.Lock()


def strike(point: Point) -> None:
    """Maybe fail, freeze (or, at a source read, hang) here, as the test asked. Off:
    a no-op."""
    if not _enabled:
        return
    _strike(_current(), point)


def _current() -> _Plan:
    global _plan
    with _lock:
        if _plan is None:
            _plan = _load(os.environ.get(ENV))
        assert _plan is not None
        return _plan


def _strike(plan: _Plan, point: Point) -> None:
    if point == plan.kill_at:
        _record(plan, f"kill {point}")
        os.kill(os.getpid(), signal.SIGKILL)
    if point not in POINTS:
        return
    if point == Point.SOURCE_READ and plan.rng.random() < plan.hang:
        _record(plan, "hang")
        time.sleep(plan.hang_seconds)
        return
    if plan.rng.random() < plan.freeze:
        _record(plan, "freeze")
        os.kill(os.getpid(), signal.SIGSTOP)  # until the test sends SIGCONT
    if plan.rng.random() < plan.chances.get(point, 0.0):
        _record(plan, point)
        raise InjectedFault(f"injected fault at {point}")


def _record(plan: _Plan, what: str) -> None:
    if plan.log:
        # One short O_APPEND write per line: lines of concurrent processes never mix.
        with open(plan.log, "a") as out:
            out.write(f"{what} {os.getpid()}\n")
