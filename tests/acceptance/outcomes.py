"""What the bad-input catalogue checks after a command: how it ended, what it said, and
what it left in the store and the destination."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import Syncbeat
from tests.conftest import syncbeat_command


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


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


def sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def has_table(url: str, table: str) -> bool:
    if url.startswith("sqlite") and not sqlite_path(url).exists():
        return False  # not even the file was created
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).has_table(table)
    finally:
        engine.dispose()


def count_rows(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def store_contents(store: str) -> tuple[list[Any], list[Any]]:
    """(pipelines, jobs) of a store, read through the library."""
    sb = Syncbeat(store)
    try:
        return sb.pipelines(), sb.jobs()
    finally:
        sb.close()


def job_of(store: str, job_id: int) -> dict[str, Any]:
    sb = Syncbeat(store)
    try:
        return sb.job(job_id, events=0).model_dump(mode="json")
    finally:
        sb.close()


def only_job(store: str) -> dict[str, Any]:
    _, jobs = store_contents(store)
    assert len(jobs) == 1, jobs
    return jobs[0].model_dump(mode="json")


def nothing_saved(store: str) -> None:
    pipelines, jobs = store_contents(store)
    assert pipelines == [] and jobs == []


def run_all(
    commands: list[list[str]], store: str, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Run commands at once (each CLI start costs about a second of CPU); each must
    succeed."""
    full_env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "SYNCBEAT_STORE": store}
    full_env.update(env or {})
    running = [
        (
            args,
            subprocess.Popen(
                [*syncbeat_command(), *args],
                env=full_env,
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
