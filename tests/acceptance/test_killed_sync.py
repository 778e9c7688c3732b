"""A foreground run killed with SIGKILL, as a user meets it afterwards: the job shows as
stale (not running at full speed with an ETA) once its lease expired, and rerunning it by
hand after the attempts are used up gets a fresh attempt budget, never "attempt 4 of 3"."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

from syncbeat import PipelineSpec, Syncbeat
from tests.support.cli import run_args, run_cli, spawn
from tests.support.polling import wait_for
from tests.support.sql import execute

ROWS = 20_000
MAX_ATTEMPTS = 3
LEASE_TTL = 2.0


def _kill_after_progress(store: str, job_rows: int) -> int:
    """Start `syncbeat run orders --wait`, SIGKILL it once it committed a batch beyond
    ``job_rows``; returns the job's rows done then."""
    process = spawn(
        *run_args("orders", wait=True),
        store=store,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sb = Syncbeat(store)
    try:

        def committed() -> bool:
            jobs = sb.jobs()
            if jobs and jobs[0].status == "running" and jobs[0].rows_done > job_rows:
                return True
            assert process.poll() is None, "the run ended before it was killed"
            return False

        wait_for(f"a batch committed past row {job_rows}", committed, 60)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        return sb.jobs()[0].rows_done
    finally:
        sb.close()


def test_a_killed_run_is_stale_and_a_rerun_by_hand_gets_fresh_attempts(
    tmp_path: Path, store_url: str
) -> None:
    source = f"sqlite:///{tmp_path / 'shop.db'}"
    execute(
        source,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < "
        f"{ROWS}) INSERT INTO orders SELECT i, 'order ' || i FROM n",
    )
    sb = Syncbeat(store_url)
    sb.save_pipeline(
        PipelineSpec(
            name="orders",
            source_url=source,
            source_table="orders",
            dest_url=f"sqlite:///{tmp_path / 'warehouse.db'}",
            dest_table="orders",
            batch_size=1,
            max_attempts=MAX_ATTEMPTS,
            heartbeat_interval=0.2,
            lease_ttl=LEASE_TTL,
        )
    )
    job_id = sb.enqueue("orders").id
    sb.close()

    rows = 0
    for _ in range(MAX_ATTEMPTS):
        rows = _kill_after_progress(store_url, rows)

    # Killed: within one lease the job must stop claiming to run, with no rate or ETA.
    sb = Syncbeat(store_url)
    job = wait_for(
        "the killed run's job to show as stale",
        lambda: found if (found := sb.job(job_id, events=0)).stale else None,
        LEASE_TTL + 10,
        lambda: f"still not stale: {sb.job(job_id, events=0)}",
        interval=0.1,
    )
    assert job.status == "running"  # stored as it was: stale is how it is shown
    assert job.rows_per_second is None and job.eta_seconds is None
    assert job.attempt == MAX_ATTEMPTS
    assert job.heartbeat_age_seconds is not None and job.heartbeat_age_seconds >= 0
    sb.close()

    listed = run_cli("jobs", store=store_url, check=True).stdout
    line = next(line for line in listed.splitlines() if line.lstrip("│ ").startswith(str(job_id)))
    assert "stale" in line and "running" not in line, listed
    assert "rows/s" not in line
    shown = run_cli("job", "show", str(job_id), store=store_url, check=True).stdout
    assert "stale" in shown and "ETA  –" in shown and "rate  –" in shown, shown
    as_json = json.loads(run_cli("jobs", "--json", store=store_url, check=True).stdout)[0]
    assert (as_json["status"], as_json["stale"], as_json["eta_seconds"]) == (
        "running",
        True,
        None,
    )

    # Every attempt is used; running it again by hand (after fixing what killed it) is
    # a deliberate new try: the count starts over, and an event says so.
    _kill_after_progress(store_url, rows)
    sb = Syncbeat(store_url)
    job = sb.job(job_id, events=50)
    assert (job.attempt, job.max_attempts) == (1, MAX_ATTEMPTS)
    assert job.events is not None
    reset = [e for e in job.events if e.kind == "attempts_reset"]
    assert len(reset) == 1 and f"all {MAX_ATTEMPTS} attempts were used" in reset[0].message
    claims = [e.message for e in job.events if e.kind == "claimed"]
    assert claims[-1] == f"attempt 1 of {MAX_ATTEMPTS}"
    assert all(int(m.split()[1]) <= MAX_ATTEMPTS for m in claims), claims
    sb.close()
    shown = run_cli("job", "show", str(job_id), store=store_url, check=True).stdout
    assert re.search(rf"attempt\s+1 of {MAX_ATTEMPTS}\n", shown), shown
