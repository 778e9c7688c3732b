"""Servers the tests start (`syncbeat serve`, a worker's metrics): a free port to put
them on, and waiting until one answers."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.polling import wait_for


def free_port() -> int:
    """A TCP port on the loopback address that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def healthy(url: str) -> bool:
    """Whether ``url``/health answers 200 now."""
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_healthy(
    url: str,
    proc: subprocess.Popen[Any] | None = None,
    timeout: float = 30,
    diagnostics: Callable[[], str] = lambda: "",
) -> None:
    """Wait until ``url``/health answers 200; ``proc``, the server, must not exit
    meanwhile (its output is the failure's message)."""

    def up() -> bool:
        if proc is not None:
            assert proc.poll() is None, proc.communicate()
        return healthy(url)

    wait_for(f"{url}/health to answer", up, timeout, diagnostics, interval=0.1)
