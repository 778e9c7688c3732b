"""What the CLI's start-up imports, checked in a fresh interpreter (never timed: the
machine's speed would make a timed test flaky). `syncbeat sync` must not pay for the
REST API, the migrations tool, the verify engine or the metrics' library: together they
cost a few tenths of a second on every run, and a 100k-row sync takes about a second."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import syncbeat
from syncbeat import Syncbeat, counters

SRC = str(Path(syncbeat.__file__).resolve().parents[1])

NEVER = ("fastapi", "uvicorn", "starlette", "jinja2", "alembic", "hypothesis", "syncbeat.api")
"""Imported by no CLI start-up: `syncbeat serve` imports the API when it serves, and the
store imports Alembic only when its schema is not the newest."""

NOT_FOR_A_SYNC = (
    *NEVER,
    "syncbeat.engine.verify",
    "syncbeat.engine.repair",
    "syncbeat.connectors.checksums",
    "syncbeat.service.worker",
    "prometheus_client",
)
"""A sync (without --verify) neither verifies, repairs nor runs a worker loop, and shows
no metrics (its counts wait in syncbeat.counters until someone reads them)."""

_REPORT = """
import json, sys
report = sys.argv.pop(1)
{before}
with open(report, "w") as out:
    json.dump({{"result": result, "modules": sorted(sys.modules)}}, out)
"""


def _modules_after(tmp_path: Path, before: str, *args: str) -> tuple[object, set[str]]:
    """Run ``before`` (which sets ``result``) in a new interpreter with ``args`` as its
    command line; the result it set and every module it had imported."""
    report = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200", "NO_COLOR": "1"}
    subprocess.run(
        [sys.executable, "-c", _REPORT.format(before=before), str(report), *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    found = json.loads(report.read_text())
    return found["result"], set(found["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_importing_the_cli_imports_no_api_and_no_alembic(tmp_path: Path) -> None:
    _, modules = _modules_after(tmp_path, "import syncbeat.cli\nresult = None")
    assert "syncbeat.cli" in modules, "the check ran nothing"
    assert not _loaded(modules, NEVER)


def test_a_sync_on_an_up_to_date_store_imports_only_what_it_runs(tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(50)])
    conn.close()
    store = f"sqlite:///{tmp_path / 'store.db'}"
    Syncbeat(store).close()  # a store at the newest schema: opening it needs no migration
    run = (
        "from syncbeat.cli import main\n"
        "sys.argv[0] = 'syncbeat'\n"
        "try:\n    main()\n    result = 0\n"
        "except SystemExit as exc:\n    result = exc.code\n"
    )
    args = ["--store", store, "sync", "--from", f"sqlite:///{source}", "--table", "t"]
    code, modules = _modules_after(tmp_path, run, *args, "--to", f"sqlite:///{tmp_path / 'd.db'}")
    assert code == 0
    assert "syncbeat.engine.runner" in modules, "the sync did not run"
    assert not _loaded(modules, NOT_FOR_A_SYNC)


def test_counts_made_before_the_metrics_exist_are_all_in_them(tmp_path: Path) -> None:
    """The counters wait for the first read of REGISTRY to import prometheus_client;
    nothing counted before (in order, past the records they keep) is lost."""
    count = (
        "from syncbeat import counters\n"
        "for _ in range(3):\n    counters.batch_committed('p', 10, 0.2)\n"
        "counters.job_run_ended('completed')\n"
        "early = 'prometheus_client' in sys.modules\n"
        "for _ in range(counters.EARLY_RECORDS):\n    counters.batch_committed('p', 1, 2.5)\n"
        "counters.batch_ended('failed')\n"
        "values = {(s.name, tuple(sorted(s.labels.items()))): s.value\n"
        "          for f in counters.REGISTRY.collect() for s in f.samples}\n"
        "result = [early, values[('syncbeat_rows_synced_total', (('pipeline', 'p'),))],\n"
        "        values[('syncbeat_batches_total', (('outcome', 'committed'),))],\n"
        "        values[('syncbeat_batches_total', (('outcome', 'failed'),))],\n"
        "        values[('syncbeat_batch_duration_seconds_bucket', (('le', '0.25'),))],\n"
        "        values[('syncbeat_job_runs_total', (('outcome', 'completed'),))]]\n"
    )
    found, _ = _modules_after(tmp_path, count)
    early = counters.EARLY_RECORDS
    assert found == [False, 30 + early, 3 + early, 1, 3, 1]
