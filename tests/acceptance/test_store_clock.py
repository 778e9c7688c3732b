"""A store whose clock stepped back: the leases it stamped before the step lie in its
future. A dead worker's job must still be taken over within about one TTL (not after the
size of the step), with an event that says what happened, and no heartbeat age is ever
shown negative.

The shared PostgreSQL server's clock cannot be moved, so the step is simulated the way
it shows in the store: the dead owner's heartbeat_at and lease_expires_at are moved one
hour ahead, as a store whose clock then went back one hour would have left them.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.service.models import WorkerView
from syncbeat.store import clock, jobs, protocol, workers
from tests.support.cli import run_cli, spawn, worker_args
from tests.support.polling import wait_for
from tests.support.sql import execute, table_rows

TTL = 2.0
STEP = 3600.0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, store_url: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield store_url
    else:
        yield request.getfixturevalue("pg_url")


def test_a_lease_stamped_before_the_store_clock_stepped_back_expires_within_a_ttl(
    tmp_path: Path, store: str
) -> None:
    source, dest = f"sqlite:///{tmp_path / 'shop.db'}", f"sqlite:///{tmp_path / 'dw.db'}"
    execute(
        source,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
        *(f"INSERT INTO orders VALUES ({i}, 'order {i}')" for i in range(1, 51)),
    )
    sb = Syncbeat(store)
    spec = PipelineSpec(
        name="orders",
        source_url=source,
        source_table="orders",
        dest_url=dest,
        dest_table="orders",
        heartbeat_interval=0.5,
        lease_ttl=TTL,
    )
    sb.save_pipeline(spec)
    job_id = sb.enqueue("orders").id
    with sb.store.begin() as conn:  # a worker on another machine claims it, then dies
        assert protocol.claim(conn, "dead@elsewhere.invalid:1", TTL, job_id=job_id)
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                heartbeat_at=jobs.c.heartbeat_at + STEP,
                lease_expires_at=jobs.c.lease_expires_at + STEP,
            )
        )

    shown = sb.job(job_id, events=0)
    assert shown.heartbeat_age_seconds == 0.0  # not -3600
    detail = run_cli("job", "show", str(job_id), store=store, check=True).stdout
    heartbeat = next(line for line in detail.splitlines() if "heartbeat" in line)
    assert "-" not in heartbeat.split("heartbeat", 1)[1].split("(")[0], heartbeat

    with sb.store.begin() as conn:  # and the dead worker's own row, stamped alike
        conn.execute(
            workers.insert().values(
                name="ghost",
                host="elsewhere.invalid",
                pid=1,
                concurrency=1,
                heartbeat_interval=0.5,
                jobs=[job_id],
                started_at=clock.now(),
                heartbeat_at=clock.now_plus(STEP),
            )
        )

    log = tmp_path / "worker.log"
    with log.open("w") as stderr:
        started = time.monotonic()
        args = worker_args(name="survivor", heartbeat=0.5, lease_ttl=TTL, poll=0.2)
        worker = spawn(*args, store=store, stdout=subprocess.DEVNULL, stderr=stderr)
        try:

            def completed() -> bool:
                if sb.job(job_id, events=0).status == "completed":
                    return True
                assert worker.poll() is None, log.read_text()
                return False

            # Worker start-up (a second or two on a busy machine), then at most one TTL.
            wait_for(
                "the dead worker's job to be taken over and completed",
                completed,
                started + TTL + 15 - time.monotonic(),
                lambda: f"not taken over: {sb.job(job_id, events=0)}",
                interval=0.1,
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=30)

    events = sb.events(job_id, limit=1000)
    stepped = [e for e in events if e.kind == "clock_stepped"]
    assert len(stepped) == 1, [e.kind for e in events]
    assert "dead@elsewhere.invalid:1" in stepped[0].message
    assert stepped[0].data is not None and STEP - 60 < stepped[0].data["seconds_ahead"] <= STEP
    stepped_at = stepped[0].at
    claimed = [e for e in events if e.kind == "claimed" and (e.owner or "").startswith("survivor")]
    assert claimed, [e.kind for e in events]
    # The takeover came one TTL after the step was noticed (plus a poll), not an hour.
    assert (claimed[0].at - stepped_at).total_seconds() < TTL + 1.5
    assert table_rows(dest, "orders", ["id"]) == table_rows(source, "orders", ["id"])

    # The dead worker stopped looking alive too (three of its intervals after the step
    # was noticed), with a heartbeat age that is never negative.
    def ghost() -> WorkerView:
        return next(w for w in sb.workers(include_stopped=True) if w.name == "ghost")

    dead = wait_for(
        "the dead worker to stop looking alive",
        lambda: None if (found := ghost()).alive else found,
        10,
        lambda: str(ghost()),
        interval=0.1,
    )
    assert dead.heartbeat_age_seconds >= 0
    sb.close()
