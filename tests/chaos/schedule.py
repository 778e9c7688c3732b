"""The fault schedule: decided up front from the seed, so that a run can be replayed.

Outside faults (a signal to a worker, connections cut on a server) strike when the syncs
have reached a point of their progress, not at a wall-clock time: the same seed puts
the same fault at the same stage of the syncs on a fast machine and on a slow one, and
every fault lands while there is still work to hit. Faults inside the workers (transient
errors, lost commit answers, hangs) are drawn by each worker process from a seed of its
own, derived from the run's (see :mod:`syncbeat.connectors.faults`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

SIGKILL, SIGSTOP, CONN_KILL = "sigkill", "sigstop", "conn_kill"
ROLES = ("store", "pg_source", "pg_dest", "maria_source", "maria_dest")
_WEIGHTS = {SIGKILL: 3, SIGSTOP: 2, CONN_KILL: 5}

# Injected into the workers: what the fault log calls them, and the summary's names.
INJECTED = {
    "source_read": "injected_read",
    "dest_write": "injected_write",
    "dest_ack": "lost_ack",
    "hang": "hang",
    "freeze": "freeze",
}


@dataclass(frozen=True)
class Fault:
    """One outside fault: when (the fraction of all rows synced), what, and whom."""

    at: float
    kind: str
    target: str  # a worker slot (w1, w2, ...) or a server role (store, pg_source, ...)
    seconds: float = 0.0  # how long a SIGSTOP lasts

    def __str__(self) -> str:
        held = f"/{self.seconds:.1f}s" if self.kind == SIGSTOP else ""
        return f"{self.at:.3f}:{self.kind}:{self.target}{held}"


@dataclass(frozen=True)
class Timing:
    """The workers' liveness settings: short, so that takeovers take seconds."""

    heartbeat: float = 0.5
    lease_ttl: float = 3.0
    batch_timeout: float = 4.0
    poll: float = 0.2

    @property
    def watchdog_period(self) -> float:
        return self.batch_timeout / 4  # the runner checks for progress this often

    @property
    def hang_seconds(self) -> float:
        """Past the batch timeout and the watchdog's next look, with room to spare."""
        return self.batch_timeout + self.watchdog_period + 1.5

    def worker_options(self) -> list[str]:
        return [
            "--heartbeat-interval",
            str(self.heartbeat),
            "--lease-ttl",
            str(self.lease_ttl),
            "--batch-timeout",
            str(self.batch_timeout),
            "--poll-interval",
            str(self.poll),
        ]


def plan(rng: random.Random, count: int, slots: list[str], timing: Timing) -> list[Fault]:
    """``count`` outside faults spread over the syncs' progress, in order."""
    kinds = list(_WEIGHTS)
    weights = [_WEIGHTS[k] for k in kinds]
    # Evenly spread with jitter: never a long quiet stretch, never all at the end.
    step = 0.93 / count
    faults = []
    for i in range(count):
        at = 0.02 + step * (i + rng.random())
        kind = rng.choices(kinds, weights)[0]
        if kind == CONN_KILL:
            faults.append(Fault(at, kind, rng.choice(ROLES)))
        elif kind == SIGSTOP:
            # Longer than the lease: the worker wakes up after its jobs were taken over.
            held = timing.lease_ttl * rng.uniform(1.3, 2.2)
            faults.append(Fault(at, kind, rng.choice(slots), held))
        else:
            faults.append(Fault(at, kind, rng.choice(slots)))
    return faults


@dataclass(frozen=True)
class Injection:
    """Chances per batch of the faults each worker injects into itself."""

    source_read: float = 0.012
    dest_write: float = 0.012
    dest_ack: float = 0.008
    hang: float = 0.003
    freeze: float = 0.002  # at each of the three points of a batch

    def environment(self, seed: str, timing: Timing, log: str) -> str:
        """SYNCBEAT_FAULTS for one worker process."""
        return json.dumps(
            {
                "seed": seed,
                "source_read": self.source_read,
                "dest_write": self.dest_write,
                "dest_ack": self.dest_ack,
                "hang": self.hang,
                "hang_seconds": timing.hang_seconds,
                "freeze": self.freeze,
                "log": log,
            }
        )
