"""Prometheus metrics: the counters move by what really happened, the store gauges match
the store, the exposition parses and follows Prometheus's naming rules, and a
`syncbeat worker --metrics-port` serves all of it over HTTP.

Process counters are global to the test process, so each test compares them before and
after what it does, and gives its pipelines names of their own.
"""

from __future__ import annotations

import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec, RunHooks, Syncbeat, counters, exposition
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.store import protocol
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import LeaseLost
from syncbeat.vocabulary.lease import Lease
from tests.support import sql
from tests.support.cli import run_cli, spawn, worker_args
from tests.support.databases import FreshDatabases
from tests.support.polling import wait_for
from tests.support.servers import free_port
from tests.support.specs import table_copy

ROWS = 2_000
BATCH = 100
BATCHES = ROWS // BATCH
STATES = ("queued", "running", "paused", "completed", "failed", "cancelled")
# Every label a syncbeat metric may carry: bounded sets, never a job id or a URL.
ALLOWED_LABELS = {"pipeline", "outcome", "where", "result", "state", "le"}


def make_source(url: str, rows: int = ROWS) -> None:
    with sql.engine(url) as engine, engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE src (id INTEGER PRIMARY KEY, name VARCHAR(40))"))
        conn.execute(
            sa.text("INSERT INTO src VALUES (:id, :name)"),
            [{"id": i, "name": f"row {i}"} for i in range(1, rows + 1)],
        )


def spec_for(name: str, src: str, dst: str) -> PipelineSpec:
    return table_copy(name, src, dst, mode="upsert", batch_size=BATCH)


class Counters:
    """Values of this process's metrics, and how much they moved since ``snapshot``."""

    def __init__(self) -> None:
        self.before = self.read()

    @staticmethod
    def read() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in counters.REGISTRY.collect()
            for s in family.samples
        }

    def moved(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return self.read().get(key, 0.0) - self.before.get(key, 0.0)


@pytest.fixture
def sb(store_url: str) -> Iterator[Syncbeat]:
    handle = Syncbeat(store_url)
    yield handle
    handle.close()


@pytest.fixture
def ends(sqlite_url: str, sqlite_url2: str) -> tuple[str, str]:
    make_source(sqlite_url)
    return sqlite_url, sqlite_url2


def parse(text: str) -> dict[str, Any]:
    """Metric families by name, from a text exposition."""
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no sample {sample}{labels or ''} in the exposition")


def claim_as_frozen_worker(sb: Syncbeat, job_id: int, ttl: float) -> Lease:
    """Claim the job as a worker on another machine that then stops answering."""
    with sb.store.begin() as conn:
        lease = protocol.claim(conn, "frozen@elsewhere:4242", ttl, job_id=job_id)
    assert lease is not None
    return lease


def lease_expired(sb: Syncbeat, job_id: int) -> bool:
    left = sb.job(job_id, events=0).lease_expires_in_seconds
    return left is not None and left < 0


def wait_lease_expired(sb: Syncbeat, job_id: int) -> None:
    wait_for(
        "the frozen worker's lease to expire", lambda: lease_expired(sb, job_id), 20, interval=0.02
    )


# -- counters of a run --------------------------------------------------------------------


def test_a_sync_counts_its_rows_and_committed_batches(sb: Syncbeat, ends: tuple[str, str]) -> None:
    counters = Counters()
    job, outcome = sb.sync(spec_for("metrics-rows", *ends))

    assert outcome.status == "completed", outcome.message
    assert job.rows_done == ROWS
    committed = [e for e in sb.events(job.id, limit=1_000) if e.kind == "batch"]
    assert job.checkpoint is not None and job.checkpoint["batch_index"] == BATCHES
    assert len(committed) == BATCHES
    assert counters.moved("syncbeat_rows_synced_total", pipeline="metrics-rows") == ROWS
    assert counters.moved("syncbeat_batches_total", outcome="committed") == BATCHES
    # One observation per committed batch, not for the read that found the end.
    assert counters.moved("syncbeat_batch_duration_seconds_count") == BATCHES
    assert counters.moved("syncbeat_batch_duration_seconds_sum") > 0
    assert counters.moved("syncbeat_job_runs_total", outcome="completed") == 1
    for outcome_ in ("failed", "fenced", "stuck"):
        assert counters.moved("syncbeat_batches_total", outcome=outcome_) == 0
    assert counters.moved("syncbeat_batch_retries_total") == 0
    assert counters.moved("syncbeat_lease_takeovers_total") == 0
    for where in ("store", "destination"):
        assert counters.moved("syncbeat_fenced_writes_rejected_total", where=where) == 0


@pytest.mark.postgres
def test_a_retried_batch_counts_one_retry_and_commits_once(
    sb: Syncbeat, sqlite_url: str, pg_url: str
) -> None:
    """A destination lock makes one try of batch 5 time out (SQLSTATE 55P03, transient);
    the lock goes as soon as the retry is announced, so the next try commits."""
    make_source(sqlite_url)
    database = make_url(pg_url).database
    sql.execute(pg_url, f"ALTER DATABASE {database} SET lock_timeout = '200ms'", autocommit=True)
    locker = sa.create_engine(pg_url)
    lock = locker.connect()
    locked = False

    def on_progress(snapshot: Any) -> None:
        nonlocal locked
        if not locked and snapshot.rows_done >= 4 * BATCH:
            locked = True
            lock.begin()
            lock.exec_driver_sql("LOCK TABLE dst IN ACCESS EXCLUSIVE MODE")

    def on_message(message: str) -> None:
        if "retrying" in message and lock.in_transaction():
            lock.rollback()

    counters = Counters()
    try:
        job, outcome = sb.sync(
            spec_for("metrics-retry", sqlite_url, pg_url),
            RunHooks(on_progress=on_progress, on_message=on_message),
        )
    finally:
        lock.close()
        locker.dispose()

    assert outcome.status == "completed", outcome.message
    retries = [e for e in sb.events(job.id, limit=1_000) if e.kind == "retry"]
    assert len(retries) == 1 and (retries[0].data or {}).get("batch") == 5
    assert counters.moved("syncbeat_batch_retries_total") == 1
    assert counters.moved("syncbeat_batches_total", outcome="committed") == BATCHES
    assert counters.moved("syncbeat_batches_total", outcome="failed") == 0
    assert counters.moved("syncbeat_rows_synced_total", pipeline="metrics-retry") == ROWS


# -- leases: takeovers, reaping, fenced writes ----------------------------------------------


def test_claiming_an_expired_lease_counts_a_takeover_and_stale_writes_are_counted(
    sb: Syncbeat, ends: tuple[str, str]
) -> None:
    spec = spec_for("metrics-takeover", *ends)
    sb.save_pipeline(spec)
    job = sb.enqueue(spec.name)
    counters = Counters()
    stale = claim_as_frozen_worker(sb, job.id, ttl=0.2)
    assert counters.moved("syncbeat_lease_takeovers_total") == 0  # it was queued
    wait_lease_expired(sb, job.id)

    done, outcome = sb.run_job(job.id, spec=spec)
    assert outcome.status == "completed", outcome.message
    assert done.lease_epoch == stale.epoch + 1
    assert counters.moved("syncbeat_lease_takeovers_total") == 1
    assert counters.moved("syncbeat_fenced_writes_rejected_total", where="store") == 0

    # The frozen worker wakes up and writes what it would write next: its checkpoint in
    # the store, its batch's state row in the destination. Both are refused and counted.
    with sb.store.begin() as conn, pytest.raises(LeaseLost):
        protocol.save_checkpoint(conn, stale, Checkpoint((10**9,), 10**6, 10**9), rate=None)
    assert counters.moved("syncbeat_fenced_writes_rejected_total", where="store") == 1
    engine = sa.create_engine(ends[1])
    try:
        with engine.begin() as conn:
            before = Checkpoint((ROWS,), BATCHES, ROWS)
            with pytest.raises(LeaseLost):
                dest_state.advance(
                    conn, stale.uid, stale.epoch, before, before.advance((ROWS + 1,), 1, 0)
                )
    finally:
        engine.dispose()
    assert counters.moved("syncbeat_fenced_writes_rejected_total", where="destination") == 1


def test_a_reaped_lease_is_counted_and_its_next_claim_is_no_takeover(
    sb: Syncbeat, ends: tuple[str, str]
) -> None:
    spec = spec_for("metrics-reaped", *ends)
    sb.save_pipeline(spec)
    job = sb.enqueue(spec.name)
    claim_as_frozen_worker(sb, job.id, ttl=0.2)
    wait_lease_expired(sb, job.id)
    counters = Counters()
    with sb.store.begin() as conn:
        reaped = protocol.reap(conn)
    assert [(r.job_id, r.status) for r in reaped] == [(job.id, "queued")]
    assert counters.moved("syncbeat_leases_reaped_total", result="requeued") == 1

    _, outcome = sb.run_job(job.id, spec=spec)
    assert outcome.status == "completed", outcome.message
    assert counters.moved("syncbeat_lease_takeovers_total") == 0  # the reaper had it


# -- the exposition -------------------------------------------------------------------------


def assert_prometheus_names(families: dict[str, Any]) -> None:
    """Prometheus's conventions: a prefix, base units, ``_total`` counters, bounded
    labels with no job id or URL."""
    assert families
    for name, family in families.items():
        assert name.startswith("syncbeat_"), name
        if family.type == "counter":
            assert all(s.name == f"{name}_total" for s in family.samples), name
        if family.type == "histogram":
            assert name.endswith("_seconds"), name
        assert not any(unit in name for unit in ("_ms", "milli", "_minutes")), name
        for s in family.samples:
            assert set(s.labels) <= ALLOWED_LABELS, f"{s.name} has labels {set(s.labels)}"
            for label, text in s.labels.items():
                assert "://" not in text, f"{s.name} carries a URL in {label}"
                assert label == "le" or not text.isdigit(), f"{s.name}{{{label}={text}}}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, store_url: str) -> Iterator[Syncbeat]:
    url = store_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    handle = Syncbeat(url)
    yield handle
    handle.close()


def test_exposition_has_every_job_state_and_the_store_gauges(
    any_store: Syncbeat, ends: tuple[str, str]
) -> None:
    sb = any_store
    done = f"gauge-completed-{sb.store.dialect}"  # counters add up over both stores
    completed, outcome = sb.sync(spec_for(done, *ends))
    assert outcome.status == "completed", outcome.message
    for name in ("gauge-queued", "gauge-paused", "gauge-stale"):
        sb.save_pipeline(spec_for(name, *ends))
        sb.enqueue(name)
    paused = sb.open_job("gauge-paused")
    stale = sb.open_job("gauge-stale")
    assert paused is not None and stale is not None
    sb.pause(paused)
    claimed_at = time.monotonic()
    claim_as_frozen_worker(sb, stale, ttl=0.2)
    wait_lease_expired(sb, stale)

    body, content_type = exposition.exposition(sb)
    waited = time.monotonic() - claimed_at

    assert content_type.startswith("text/plain; version=0.0.4")
    families = parse(body.decode())
    assert_prometheus_names(families)
    expected = {"queued": 1, "running": 1, "paused": 1, "completed": 1}
    for state in STATES:
        assert value(families, "syncbeat_jobs", state=state) == expected.get(state, 0), state
    assert value(families, "syncbeat_store_up") == 1
    assert value(families, "syncbeat_jobs_lease_expired") == 1
    age = value(families, "syncbeat_job_heartbeat_age_seconds_max")
    assert 0.2 <= age <= waited + 1.0
    assert value(families, "syncbeat_workers_alive") == 0
    # This process's counters are in the same exposition.
    assert value(families, "syncbeat_rows_synced_total", pipeline=done) == ROWS
    assert "syncbeat_batch_duration_seconds" in families
    assert completed.id not in {stale, paused}


@pytest.mark.postgres
def test_a_store_that_is_gone_reports_store_down_and_the_counters_still(
    pg_url: str, _pg_server: FreshDatabases
) -> None:
    sb = Syncbeat(pg_url)
    try:
        sb.close()
        _pg_server.drop(pg_url)
        body, _ = exposition.exposition(sb)
    finally:
        sb.close()
    families = parse(body.decode())
    assert value(families, "syncbeat_store_up") == 0
    assert "syncbeat_jobs" not in families
    assert "syncbeat_batches_total" in {s.name for f in families.values() for s in f.samples}


# -- `syncbeat worker --metrics-port` -----------------------------------------------------


def scrape(port: int) -> tuple[dict[str, Any], str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return parse(answer.read().decode()), answer.headers["Content-Type"]
    except OSError:  # not listening yet
        return None


def test_a_worker_serves_its_counters_and_the_store_gauges_over_http(
    store_url: str, ends: tuple[str, str], tmp_path: Path
) -> None:
    sb = Syncbeat(store_url)
    spec = spec_for("served", *ends)
    sb.save_pipeline(spec)
    job = sb.enqueue(spec.name)
    port = free_port()
    log_path = tmp_path / "worker.log"
    args = worker_args("--metrics-port", str(port), poll=0.1)
    worker = spawn(*args, store=store_url, log=log_path)
    try:

        def done() -> tuple[dict[str, Any], str] | None:
            assert worker.poll() is None, log_path.read_text()
            found = scrape(port)
            # Counted once the run has ended, after the store recorded it completed.
            if found and value(found[0], "syncbeat_job_runs_total", outcome="completed"):
                return found
            return None

        families, content_type = wait_for(
            "the worker to report the job done", done, 30, interval=0.02
        )
        assert content_type.startswith("text/plain")
        assert_prometheus_names(families)
        assert value(families, "syncbeat_rows_synced_total", pipeline="served") == ROWS
        assert value(families, "syncbeat_batches_total", outcome="committed") == BATCHES
        assert value(families, "syncbeat_job_runs_total", outcome="completed") == 1
        assert value(families, "syncbeat_jobs", state="completed") == 1
        assert value(families, "syncbeat_workers_alive") == 1
        assert value(families, "syncbeat_jobs", state="running") == 0
        assert sb.job(job.id).status == "completed"
        assert f"Metrics on http://127.0.0.1:{port}/metrics" in log_path.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
        sb.close()
    assert code == 0, log_path.read_text()


def test_a_metrics_port_in_use_stops_the_worker_with_a_clear_message(store_url: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_cli("worker", "--metrics-port", str(port), "--once", store=store_url)

    assert result.returncode == 2, result.stdout + result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "in use" in result.stderr
    assert "--metrics-port" in result.stderr  # what to do about it
    assert "Traceback" not in result.stdout + result.stderr
    sb = Syncbeat(store_url)
    try:
        assert sb.workers(include_stopped=True) == []  # no worker started
    finally:
        sb.close()
