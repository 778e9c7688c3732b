"""Who holds a lease: a worker or a foreground run, by name, host and process id.

An owner's process on this machine can be seen to be gone, and then its lease is void
at once (:func:`syncbeat.store.protocol.claim` takes such a job over); a process on
another machine can only be outlived, by its lease expiring.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    """Who holds a lease: a readable name plus the host and process that run it."""

    name: str
    host: str
    pid: int

    @classmethod
    def here(cls, name: str | None = None) -> Owner:
        host = socket.gethostname()
        return cls(name or f"{host}-{os.getpid()}-{uuid.uuid4().hex[:6]}", host, os.getpid())

    def __str__(self) -> str:
        return f"{self.name}@{self.host}:{self.pid}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        name, _, rest = text.rpartition("@")
        host, _, pid = rest.rpartition(":")
        return cls(name, host, int(pid)) if name and host and pid.isdigit() else None

    def is_dead_here(self) -> bool:
        """True only when this owner ran on this host and its process is gone. Then its
        lease is void at once; anywhere else we must wait for the lease to expire."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return _is_zombie(self.pid)


def gone(owner: str) -> bool:
    """Whether the lease holder written as ``owner`` (``name@host:pid``) was a process on
    this machine that no longer runs."""
    parsed = Owner.parse(owner)
    return parsed is not None and parsed.is_dead_here()


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
