"""A process whose wall clock is off by hours (libfaketime), for the clock-skew tests."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.support.cli import syncbeat_command
from tests.support.databases import missing

FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def faketime_env(offset: str) -> dict[str, str]:
    """Environment that shifts a process's wall clock by ``offset`` (libfaketime).

    The monotonic clock stays real (FAKETIME_DONT_FAKE_MONOTONIC): with it faked,
    Python's timed waits (sem_clockwait on CLOCK_MONOTONIC) never return. Wall-clock
    skew is what differs between machines anyway.
    """
    if not FAKETIME_LIB.exists():
        missing(f"libfaketime is not installed ({FAKETIME_LIB}; apt-get install libfaketime)")
    env = {"LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    # The skew must be real, and the database driver must still work under it.
    probe = subprocess.run(
        [
            str(Path(syncbeat_command()[0]).with_name("python")),
            "-c",
            "import time, sqlalchemy as sa, threading\n"
            "threading.Event().wait(0.05)\n"
            "print(time.time())\n",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert probe.returncode == 0, probe.stderr
    skew = float(probe.stdout.strip()) - time.time()
    expected = {"+": 1, "-": -1}[offset[0]] * int(offset[1:-1]) * 3600
    assert abs(skew - expected) < 60, f"libfaketime did not shift the clock ({skew:.0f}s)"
    return env
