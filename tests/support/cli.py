"""The `syncbeat` command as a user runs it: its argument lists, and running it.

Argument lists: :func:`copy_options` are the options that say what a pipeline copies
(``--from``, ``--table``/``--query``, ``--key``, ``--to``, ``--to-table``, ``--mode``,
``--batch-size``, ``--name``), always in that order; :func:`sync_args`,
:func:`pipeline_add_args` put a command in front of them; :func:`run_args` is
``syncbeat run NAME`` and :func:`worker_args` ``syncbeat worker`` with its
:func:`timing_options`.

Running it: :func:`run_cli` runs the installed console script in a subprocess and waits,
:func:`run_all` runs several at once, :func:`spawn` starts one and returns at once, and
:func:`invoke` runs the Typer app in this process (Typer's ``CliRunner``), for what
needs no real process and would pay a second of start-up per command. Every run gets
a wide terminal without colour, so what the tests read is neither wrapped nor styled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from typer.testing import CliRunner, Result

TERMINAL = {"COLUMNS": "200", "NO_COLOR": "1"}
"""What every run's environment sets: wide lines, no colour codes."""


# -- argument lists -------------------------------------------------------------------------


def copy_options(
    source: str,
    dest: str,
    *extra: str,
    table: str | None = None,
    query: str | None = None,
    key: str | None = None,
    to_table: str | None = None,
    mode: str | None = None,
    batch_size: int | str | None = None,
    name: str | None = None,
) -> list[str]:
    """The options of `sync` and `pipeline add` that say what is copied, then ``extra``."""
    args = ["--from", source]
    for option, text in (("--table", table), ("--query", query), ("--key", key)):
        if text is not None:
            args += [option, text]
    args += ["--to", dest]
    for option, value in (
        ("--to-table", to_table),
        ("--mode", mode),
        ("--batch-size", batch_size),
        ("--name", name),
    ):
        if value is not None:
            args += [option, str(value)]
    return [*args, *extra]


def sync_args(source: str, dest: str, *extra: str, **options: Any) -> list[str]:
    """``syncbeat sync`` with :func:`copy_options`."""
    return ["sync", *copy_options(source, dest, *extra, **options)]


def pipeline_add_args(name: str, source: str, dest: str, *extra: str, **options: Any) -> list[str]:
    """``syncbeat pipeline add NAME`` with :func:`copy_options`."""
    return ["pipeline", "add", name, *copy_options(source, dest, *extra, **options)]


def run_args(name: str, *extra: str, wait: bool = False) -> list[str]:
    """``syncbeat run NAME`` (``--wait``: in the foreground, to the end)."""
    return ["run", name, *(["--wait"] if wait else []), *extra]


def timing_options(
    *, heartbeat: float | None = None, lease_ttl: float | None = None, poll: float | None = None
) -> list[str]:
    """A worker's ``--heartbeat-interval``, ``--lease-ttl`` and ``--poll-interval``."""
    args: list[str] = []
    for option, value in (
        ("--heartbeat-interval", heartbeat),
        ("--lease-ttl", lease_ttl),
        ("--poll-interval", poll),
    ):
        if value is not None:
            args += [option, str(value)]
    return args


def worker_args(
    *extra: str,
    name: str | None = None,
    heartbeat: float | None = None,
    lease_ttl: float | None = None,
    poll: float | None = None,
) -> list[str]:
    """``syncbeat worker`` with its name and :func:`timing_options`, then ``extra``."""
    named = ["--name", name] if name is not None else []
    timing = timing_options(heartbeat=heartbeat, lease_ttl=lease_ttl, poll=poll)
    return ["worker", *named, *timing, *extra]


# -- running it ---------------------------------------------------------------------------


def syncbeat_command() -> list[str]:
    """The installed `syncbeat` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("syncbeat")
    if script.exists():
        return [str(script)]
    found = shutil.which("syncbeat")
    assert found, "the syncbeat command is not installed (pip install -e .)"
    return [found]


def cli_env(store: str | None = None, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, a wide colourless terminal, ``env``, and the store."""
    full = {**os.environ, **TERMINAL, **(env or {})}
    if store is not None:
        full["SYNCBEAT_STORE"] = store
    return full


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a run printed, stdout then stderr."""
    return result.stdout + result.stderr


def run_cli(
    *args: str,
    store: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI in a subprocess, as a user would."""
    result = subprocess.run(
        [*syncbeat_command(), *args],
        capture_output=True,
        text=True,
        env=cli_env(store, env),
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, output(result)
    return result


def run_all(
    commands: list[list[str]], store: str, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Run commands at once (each CLI start costs about a second of CPU); each must
    succeed."""
    running = [
        (
            args,
            subprocess.Popen(
                [*syncbeat_command(), *args],
                env=cli_env(store, env),
                text=True,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            ),
        )
        for args in commands
    ]
    done = []
    for args, proc in running:
        out, err = proc.communicate(timeout=120)
        done.append(
            subprocess.CompletedProcess([*syncbeat_command(), *args], proc.returncode, out, err)
        )
        assert proc.returncode == 0, f"{args}: {out}{err}"
    return done


def spawn(
    *args: str,
    store: str | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    text: bool = False,
) -> subprocess.Popen[Any]:
    """Start the installed CLI and return at once. With ``log``, stdout and stderr go
    together into that file; otherwise to ``stdout`` and ``stderr`` as given."""
    if log is not None:
        with log.open("wb") as out:
            return subprocess.Popen(
                [*syncbeat_command(), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=cli_env(store, env),
            )
    return subprocess.Popen(
        [*syncbeat_command(), *args],
        stdout=stdout,
        stderr=stderr,
        env=cli_env(store, env),
        text=text,
    )


def invoke(*args: str, store: str | None = None, env: Mapping[str, str] | None = None) -> Result:
    """Run the CLI in this process through Typer's ``CliRunner``: no console script, no
    start-up cost. The environment is only what is given here (and the terminal's)."""
    from syncbeat.cli.app import app

    full = {**TERMINAL, **(env or {})}
    if store is not None:
        full["SYNCBEAT_STORE"] = store
    return CliRunner().invoke(app, list(args), prog_name="syncbeat", env=full)


def fails(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """The command exited with ``code``, printed no traceback, and said every word
    (compared case-insensitively, whatever the terminal's line wrapping)."""
    text = output(result)
    assert result.returncode == code, f"exit {result.returncode}, wanted {code}:\n{text}"
    assert "Traceback" not in text, text
    assert "internal error" not in text.lower(), text
    flat = " ".join(text.lower().split())
    for word in words:
        assert " ".join(word.lower().split()) in flat, f"{word!r} not in the output:\n{text}"
    return text
