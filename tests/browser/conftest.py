"""What the browser tests share: Debian's Chromium (never a browser Playwright
downloads), the `syncbeat` processes they start, and the token those serve under."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import syncbeat_command
from tests.support.databases import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "dashboard-test-token-7c1f"


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{reason}; in CI the browser test must run", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


# -- processes ------------------------------------------------------------------------------


class Processes:
    """Long-running `syncbeat` subprocesses with their output in files; stopped at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                [*syncbeat_command(), *args], stdout=log, stderr=subprocess.STDOUT, env=self.env
            )

    def diagnostics(self) -> str:
        return "\n".join(
            f"--- {name} (exit {proc.poll()}):\n"
            + (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
            for name, proc in self.procs.items()
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def store_env(store_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SYNCBEAT_STORE": store_url,
        "SYNCBEAT_API_TOKEN": TOKEN,
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }


@pytest.fixture
def processes(store_env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(store_env, tmp_path)
    try:
        yield procs
    finally:
        procs.stop()
        print(procs.diagnostics())  # shown by pytest when the test failed
