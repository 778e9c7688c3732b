"""The chaos suite's short mode, as CI runs it (1-3 minutes on two shared cores).

Five pipelines of 200,000 rows each (PostgreSQL to PostgreSQL in append and upsert mode,
PostgreSQL to MariaDB, MariaDB to PostgreSQL, SQLite to PostgreSQL) are synced at once
by three `syncbeat worker` processes on a PostgreSQL store, while at least 50 faults
strike: workers killed and frozen past their lease, connections cut on the store, the
sources and the destinations, transient errors and lost commit answers injected into
reads and writes, batches hung past the watchdog. Every job must complete, and every
destination must equal its source row by row, with no stale write accepted.

The seed is random unless SYNCBEAT_CHAOS_SEED is set; a failure names it and the
command that replays it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tests.chaos.runner import Config, run

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.mariadb]


def _seed() -> int:
    fixed = os.environ.get("SYNCBEAT_CHAOS_SEED")
    return int(fixed) if fixed else random.SystemRandom().randrange(2**31)


def test_every_row_arrives_once_through_a_storm_of_faults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = _seed()
    with capsys.disabled():  # the seed and the figures belong in every CI log
        print(f"\nchaos seed={seed} (replay: python -m tests.chaos.runner --seed {seed})")
    report = run(Config(seed=seed), tmp_path)  # its progress shows if it fails
    with capsys.disabled():
        print(report.summary())
    assert report.ok, report.failure_message()
    # What the run must have been to count: the figures of the short mode.
    assert report.faults >= 50 and report.rows >= 5 * 200_000, report.summary()
    assert report.diff.compared == report.rows, report.summary()
