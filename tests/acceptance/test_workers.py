"""Workers as a user runs them: real `syncbeat worker` processes on a PostgreSQL store.

Every test starts the installed CLI in subprocesses, copies real PostgreSQL tables in
append mode into destination tables without a primary key (so a row written twice
would show as a duplicate), and checks the job's events for the lease protocol: one
owner at a time over many jobs, `--once`, and `syncbeat workers`. What happens to a job
whose owner crashes, freezes or drains is in test_worker_takeover.py.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from syncbeat import Syncbeat
from tests.support import sql
from tests.support.cli import pipeline_add_args, run_args, run_cli
from tests.support.fleet import HEARTBEAT, QUICK, Fleet
from tests.support.jobs import events, finished, job_row
from tests.support.leases import assert_one_owner_at_a_time, claims, owner_pid
from tests.support.polling import wait_for
from tests.support.tables import assert_same_rows, make_dest, make_source, queue, slow_query

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


# -- 1. many workers, many jobs --------------------------------------------------------------


def test_three_workers_complete_ten_jobs_with_one_owner_at_a_time(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Fleet
) -> None:
    _store, source, dest = dbs
    sizes = {f"t{i}": 1500 + 173 * i for i in range(10)}
    for table, rows in sizes.items():
        make_source(source, table, rows)
        make_dest(dest, f"d_{table}")
    names = ["w1", "w2", "w3"]
    for name in names:
        workers.start(name, "--concurrency", "2")
    wait_for(
        "three workers to register",
        lambda: {w.name for w in sb.workers()} >= set(names),
        30,
        workers.diagnostics,
    )

    job_ids = {
        table: queue(
            sb, f"p_{table}", source, dest, table=table, dest_table=f"d_{table}", batch_size=97
        )
        for table in sizes
    }
    wait_for(
        "every job to complete",
        lambda: all(finished(sb, j) for j in job_ids.values()),
        90,
        workers.diagnostics,
    )

    owners: set[str] = set()
    for table, job_id in job_ids.items():
        history = events(sb, job_id)
        claimed = assert_one_owner_at_a_time(history)
        assert claimed, f"job {job_id} was never claimed"
        assert history[-1].kind == "completed"
        assert (history[-1].owner, history[-1].lease_epoch) == (
            claimed[-1].owner,
            claimed[-1].lease_epoch,
        )
        assert {workers.by_pid(owner_pid(c)) for c in claimed} <= set(names)
        owners.update(c.owner for c in claimed if c.owner)
        job = sb.job(job_id, events=0)
        assert job.rows_done == job.rows_total == sizes[table]
        assert_same_rows(source, dest, table, f"d_{table}", sizes[table])
    assert len(owners) >= 2, f"one worker did every job: {owners}"

    for name in names:
        workers.drain(name)
    for name in names:
        assert workers.wait_exit(name, 20) == 0


# -- 2. --once ---------------------------------------------------------------------------------


def test_worker_once_runs_exactly_one_job_and_exits_promptly_when_idle(
    dbs: tuple[str, str, str], sb: Syncbeat
) -> None:
    store, source, dest = dbs
    sizes = {"alpha": 1200, "beta": 800}
    ids = {}
    for table, count in sizes.items():
        make_source(source, table, count)
        make_dest(dest, table)
        run_cli(
            *pipeline_add_args(table, source, dest, table=table, mode="append", batch_size=250),
            store=store,
            check=True,
        )
        ids[table] = int(run_cli(*run_args(table), store=store, check=True).stdout.strip())

    once = run_cli("worker", "--once", *QUICK, store=store, timeout=60)
    assert once.returncode == 0, once.stdout + once.stderr
    assert f"claimed job {ids['alpha']} " in once.stderr
    assert "stopped after 1 job(s)" in once.stderr
    assert sb.job(ids["alpha"], events=0).status == "completed"
    assert_same_rows(source, dest, "alpha", "alpha", sizes["alpha"])
    untouched = job_row(sb, ids["beta"])
    assert (untouched["status"], untouched["attempt"], untouched["lease_epoch"]) == ("queued", 0, 0)
    assert not claims(sb, ids["beta"])
    assert sql.scalar(dest, "SELECT count(*) FROM beta") == 0

    once = run_cli("worker", "--once", *QUICK, store=store, timeout=60)
    assert once.returncode == 0, once.stdout + once.stderr
    assert sb.job(ids["beta"], events=0).status == "completed"
    assert_same_rows(source, dest, "beta", "beta", sizes["beta"])

    # Nothing queued: exit at once, without waiting even one (long) poll interval.
    started = time.monotonic()
    idle = run_cli("worker", "--once", "--poll-interval", "60", store=store, timeout=60)
    elapsed = time.monotonic() - started
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "stopped after 0 job(s)" in idle.stderr
    assert elapsed < 15, f"an idle --once worker took {elapsed:.1f}s to exit"
    assert [sb.job(i, events=0).status for i in ids.values()] == ["completed", "completed"]


# -- 3. syncbeat workers ------------------------------------------------------------------------


def test_workers_json_lists_a_running_worker_until_it_stops(
    dbs: tuple[str, str, str], sb: Syncbeat, workers: Fleet
) -> None:
    store, source, dest = dbs
    make_source(source, "lines", 3000)
    make_dest(dest, "lines")
    job_id = queue(
        sb, "lines", source, dest, query=slow_query("lines"), dest_table="lines", batch_size=100
    )
    proc = workers.start("watched")
    wait_for(
        "the worker to report its job",
        lambda: [w for w in sb.workers() if w.name == "watched" and w.jobs == [job_id]],
        30,
        workers.diagnostics,
    )

    listed = json.loads(run_cli("workers", "--json", store=store, check=True).stdout)
    mine = [w for w in listed if w["name"] == "watched"]
    assert len(mine) == 1, listed
    worker = mine[0]
    assert worker["host"] == socket.gethostname()
    assert worker["pid"] == proc.pid
    assert worker["jobs"] == [job_id]
    assert worker["alive"] is True
    assert worker["stopped_at"] is None
    assert 0 <= worker["heartbeat_age_seconds"] < 3 * HEARTBEAT

    workers.drain("watched")
    assert workers.wait_exit("watched", 10, "the worker") == 0
    listed = json.loads(run_cli("workers", "--json", store=store, check=True).stdout)
    assert [w for w in listed if w["name"] == "watched"] == []
    everyone = json.loads(run_cli("workers", "--json", "--all", store=store, check=True).stdout)
    stopped = [w for w in everyone if w["name"] == "watched"]
    assert len(stopped) == 1 and stopped[0]["stopped_at"] is not None
    assert stopped[0]["jobs"] == [] and stopped[0]["alive"] is False
