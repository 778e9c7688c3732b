"""Real `syncbeat worker` processes of one test, each with its output in a log file.

A :class:`Fleet` starts workers by name with the test's timing options, finds a worker
by the pid a job's owner names, freezes (SIGSTOP), thaws (SIGCONT), kills (SIGKILL) or
drains (SIGTERM) one, and says what each printed when a test fails. Whatever is still
running at the end is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.cli import spawn, timing_options

HEARTBEAT = 0.3
LEASE_TTL = 2.0
POLL = 0.1
QUICK = tuple(timing_options(heartbeat=HEARTBEAT, lease_ttl=LEASE_TTL, poll=POLL))
"""The worker tests' timing: a dead owner's lease expires within seconds."""


class Fleet:
    """`syncbeat worker` processes on the job store ``store``, started as
    ``syncbeat worker --name NAME *options *extra``; logs in ``logs``/NAME.log."""

    def __init__(
        self,
        store: str,
        logs: Path,
        options: Sequence[str] = (),
        *,
        log_tail: int | None = 3000,
    ) -> None:
        self.store, self.logs, self.options = store, logs, tuple(options)
        self.log_tail = log_tail  # characters of each log in diagnostics(); None: all
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        *extra: str,
        store: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start worker ``name``; ``store`` instead of the fleet's, ``env`` added to its
        environment."""
        proc = spawn(
            "worker",
            "--name",
            name,
            *self.options,
            *extra,
            store=store or self.store,
            env=env,
            log=self.log_path(name),
        )
        self.procs[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.procs.items()}

    def by_pid(self, pid: int) -> str:
        """The name of the worker started here with that pid."""
        names = [n for n, p in self.procs.items() if p.pid == pid]
        assert names, f"pid {pid} is none of the workers started here {self.pids()}"
        return names[0]

    def diagnostics(self) -> str:
        """Every worker's pid, exit status and log (its last ``log_tail`` characters)."""
        return "\n".join(
            f"--- worker {n} (pid {p.pid}, exit {p.poll()}):\n"
            + (self.log(n) if self.log_tail is None else self.log(n)[-self.log_tail :])
            for n, p in self.procs.items()
        )

    def signal(self, name: str, sig: signal.Signals) -> None:
        os.kill(self.procs[name].pid, sig)

    def freeze(self, name: str) -> None:
        """SIGSTOP: the worker stops dead, its leases and connections held, until thawed."""
        self.signal(name, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        self.signal(name, signal.SIGCONT)

    def kill(self, name: str) -> None:
        """SIGKILL, and wait for the process to be gone."""
        self.procs[name].kill()
        self.procs[name].wait(timeout=10)

    def drain(self, name: str) -> None:
        """SIGTERM: finish the batch in flight, give the jobs back, exit."""
        self.signal(name, signal.SIGTERM)

    def wait_exit(self, name: str, timeout: float, what: str | None = None) -> int:
        """The worker's exit status, once it has exited; fails after ``timeout`` s."""
        return wait_exit(self.procs[name], timeout, what or name, self.diagnostics)

    def close(self) -> None:
        """Kill whatever is still running (a frozen one is sent SIGCONT first)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGCONT)
                    proc.kill()
                except ProcessLookupError:
                    pass
        for proc in self.procs.values():
            proc.wait(timeout=30)


@contextmanager
def fleet(
    store: str, logs: Path, options: Sequence[str] = (), *, log_tail: int | None = 3000
) -> Iterator[Fleet]:
    """A :class:`Fleet` whose workers are all killed at the end."""
    workers = Fleet(store, logs, options, log_tail=log_tail)
    try:
        yield workers
    finally:
        workers.close()


def wait_exit(
    proc: subprocess.Popen[bytes], timeout: float, what: str, diagnostics: Callable[[], str]
) -> int:
    """The exit status of ``proc``; fails if it has not exited within ``timeout`` s."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what} did not exit within {timeout:g}s\n{diagnostics()}")
