"""Every command documents itself, and the README's CLI reference names every command.

The commands are found by walking the real Typer app, so a command added without help
text or without a line in the README fails here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main

from syncbeat.cli.app import app
from tests.support.cli import invoke, spawn

README = Path(__file__).resolve().parents[2] / "README.md"


def _walk(command: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """The command and, for a group, every command below it (click's ``commands``)."""
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        found += _walk(sub, (*path, name))
    return found


def _is_group(command: Any) -> bool:
    return bool(getattr(command, "commands", None))


ROOT = typer.main.get_command(app)
COMMANDS = _walk(ROOT, ())
SUBCOMMANDS = [(path, cmd) for path, cmd in COMMANDS if path]


def _ids(path: tuple[str, ...]) -> str:
    return " ".join(path) or "syncbeat"


def test_the_walk_finds_the_commands() -> None:
    paths = {" ".join(path) for path, _ in SUBCOMMANDS}
    # A few that must exist; the walk itself must not silently find nothing.
    assert {"sync", "run", "jobs", "job show", "pipeline add", "db upgrade"} <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[_ids(p) for p, _ in COMMANDS])
def test_every_command_has_help_text(path: tuple[str, ...], command: Any) -> None:
    text = (command.help or command.short_help or "").strip()
    assert len(text) >= 10, f"`syncbeat {' '.join(path)}` has no help text"
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        assert (getattr(param, "help", None) or "").strip(), (
            f"{param.param_type_name} {'/'.join(param.opts)} of `syncbeat {' '.join(path)}` "
            "has no help"
        )


def _help_problem(path: tuple[str, ...], code: int | None, out: str, err: str) -> str | None:
    name = f"syncbeat {' '.join(path)}".strip()
    if code != 0 or "Traceback" in out + err:
        return f"`{name} --help` exited {code}: {out}{err}"
    if "Usage:" not in out or name not in " ".join(out.split()):
        return f"`{name} --help` printed no usage of {name}: {out}"
    return None


def test_help_of_every_command_exits_zero(tmp_path: Path) -> None:
    """`<command> --help` for every command, in process (each CLI start costs a second)."""
    store = tmp_path / "store.db"
    problems = []
    for path, _ in COMMANDS:
        result = invoke(*path, "--help", store=f"sqlite:///{store}")
        problem = _help_problem(path, result.exit_code, result.stdout, result.stderr)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert not store.exists()  # asking for help opens no store


def test_help_through_the_installed_command(tmp_path: Path) -> None:
    """The same through the installed `syncbeat` script: the top, a group, a command in
    a group, and a top-level command, started at once."""
    store = tmp_path / "store.db"
    paths: list[tuple[str, ...]] = [(), ("job",), ("job", "show"), ("sync",)]
    running = {
        path: spawn(
            *path,
            "--help",
            store=f"sqlite:///{store}",
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for path in paths
    }
    problems = []
    for path, proc in running.items():
        out, err = proc.communicate(timeout=120)
        problem = _help_problem(path, proc.returncode, out, err)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert not store.exists()


@pytest.mark.parametrize("path", [p for p, _ in SUBCOMMANDS], ids=[_ids(p) for p, _ in SUBCOMMANDS])
def test_readme_mentions_every_command(path: tuple[str, ...]) -> None:
    assert README.exists(), "README.md is missing"
    text = " ".join(README.read_text(encoding="utf-8").split())
    wanted = "syncbeat " + " ".join(path)
    assert re.search(rf"`{re.escape(wanted)}(?:[ `])", text), (
        f"README.md does not document `{wanted}` (its CLI reference should list it)"
    )


def test_readme_cli_reference_has_no_unknown_commands() -> None:
    """The README's CLI reference lists only commands that exist."""
    text = README.read_text(encoding="utf-8")
    section = text.partition("## CLI reference")[2].partition("\n## ")[0]
    assert section, "README.md has no '## CLI reference' section"
    groups = {" ".join(p) for p, c in SUBCOMMANDS if _is_group(c)}
    known = {" ".join(p) for p, _ in SUBCOMMANDS}
    for listed in re.findall(r"`syncbeat ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", section):
        first = listed.split()[0]
        name = listed if first in groups else first
        assert name in known, (
            f"README's CLI reference lists `syncbeat {listed}`, which does not exist"
        )
