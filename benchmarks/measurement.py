"""Measuring one variant's run: a process, or a pipeline of them, timed and its RSS taken.

The measured commands are started by spawn.py, not by this process (see there why), and
the numbers come back through a JSON file it writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from progress import log

SPAWN = str(Path(__file__).resolve().parent / "spawn.py")


@dataclasses.dataclass
class Sample:
    seconds: float | None = None  # wall time (naive: the extrapolated full-table time)
    rss_kb: list[int] = dataclasses.field(default_factory=list)  # ru_maxrss per process
    result: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None
    na: str | None = None

    @property
    def rss_mb(self) -> float | None:
        # Processes of a pipeline run at the same time: their peaks add up.
        return sum(self.rss_kb) / 1024 if self.rss_kb else None


def measure(
    commands: list[list[str]],
    *,
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float,
) -> Sample:
    """Run one command, or several piped into each other, through spawn.py (see there why)
    and return the wall time from the first spawn to the last reap plus each process's
    ru_maxrss from os.wait4."""
    spec = {
        "commands": commands,
        "stdout": str(workdir / "stdout"),
        "stderr": [str(workdir / f"stderr{i}") for i in range(len(commands))],
    }
    result_file = workdir / "spawn.json"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SYNCBEAT_STORE", None)
    # As installed: an installed package has its bytecode; recompiling every module on
    # every run (this variable set, as on some CI machines) would bill ~0.1 s to start-up.
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    launcher = subprocess.Popen(
        [sys.executable, "-I", "-S", SPAWN, str(result_file), json.dumps(spec)],
        cwd=workdir,
        env=full_env,
        start_new_session=True,  # its own process group: a timeout kills the whole run
    )
    sample = Sample()
    try:
        launcher.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        sample.error = f"timed out after {timeout:.0f} s"
        return sample
    if launcher.returncode or not result_file.exists():
        sample.error = f"spawn.py failed (exit {launcher.returncode})"
        return sample
    spawned = json.loads(result_file.read_text())
    sample.seconds, sample.rss_kb, codes = spawned["seconds"], spawned["rss_kb"], spawned["codes"]
    if any(codes):
        tails = []
        for i, code in enumerate(codes):
            if code:
                text = (workdir / f"stderr{i}").read_text(errors="replace").strip()
                log(f"--- stderr of {commands[i][:3]} (exit {code}):\n{text[-3000:]}")
                tails.append(f"exit {code}: {text.splitlines()[-1] if text else ''}")
        sample.error = "; ".join(tails)
        return sample
    stdout = (workdir / "stdout").read_text(errors="replace")
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if lines:
        with contextlib.suppress(json.JSONDecodeError):
            sample.result = json.loads(lines[-1])
    sample.na = sample.result.get("na")
    return sample
