"""What the protocol tests share: jobs to start from, the store's view of them, threads
that start together, and a way to change a job between two statements of one protocol
call (as another transaction committing just then would)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from syncbeat.store import Store, clock, job_events, jobs, pipelines, protocol
from syncbeat.vocabulary.lease import Lease
from syncbeat.vocabulary.status import JobKind

T = TypeVar("T")

TTL = 60.0
"""Long enough never to run out by itself during a test: tests make a lease expire."""

SPEC: dict[str, Any] = {"source_url": "sqlite:///src.db", "dest_url": "sqlite:///dst.db"}


def owner(name: str) -> str:
    """A worker on another machine: only the expiry of its lease displaces it."""
    return f"{name}@elsewhere:4242"


def dead_local_owner(name: str) -> str:
    """An owner on this machine whose process is gone: no process id reaches pid_max."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    return f"{name}@{socket.gethostname()}:{pid_max}"


def live_local_owner(name: str) -> str:
    """An owner on this machine whose process runs (this one)."""
    return f"{name}@{socket.gethostname()}:{os.getpid()}"


# -- jobs to start from ---------------------------------------------------------------
def save_pipeline(store: Store, name: str) -> None:
    """Save the pipeline ``name`` (a job's pipeline must exist), if the store lacks it."""
    with store.begin() as conn:
        known = conn.execute(sa.select(pipelines.c.name).where(pipelines.c.name == name))
        if known.first() is None:
            conn.execute(
                pipelines.insert().values(
                    name=name,
                    spec=SPEC,
                    created_at=clock.now(),
                    updated_at=clock.now(),
                    origin="operator",
                )
            )


def queue(store: Store, pipeline: str = "p", *, max_attempts: int = 5) -> int:
    """Queue a job of ``pipeline``, saving the pipeline first if need be."""
    save_pipeline(store, pipeline)
    with store.begin() as conn:
        return protocol.enqueue(conn, pipeline, SPEC, max_attempts, JobKind.FULL)


def claim(
    store: Store,
    who: str,
    *,
    ttl: float = TTL,
    job_id: int | None = None,
    max_attempts: int | None = None,
) -> Lease | None:
    with store.begin() as conn:
        return protocol.claim(conn, who, ttl, job_id=job_id, max_attempts=max_attempts)


def claimed(store: Store, who: str, **kwargs: Any) -> Lease:
    lease = claim(store, who, **kwargs)
    assert lease is not None, f"{who} claimed nothing"
    return lease


def expire(conn_or_store: sa.Connection | Store, job_id: int) -> None:
    """Time passes: the job's lease ran out a moment ago (its last heartbeat one TTL
    before that). Stands for waiting out the TTL."""
    statement = (
        jobs.update()
        .where(jobs.c.id == job_id)
        .values(lease_expires_at=clock.now() - 1.0, heartbeat_at=clock.now() - 1.0 - TTL)
    )
    if isinstance(conn_or_store, Store):
        with conn_or_store.begin() as conn:
            conn.execute(statement)
    else:
        conn_or_store.execute(statement)


# -- the store's view -----------------------------------------------------------------
def row(store: Store, job_id: int) -> dict[str, Any]:
    with store.begin() as conn:
        return dict(conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).mappings().one())


def events(store: Store, job_id: int | None = None) -> list[dict[str, Any]]:
    """The job's events (every job's, without ``job_id``), oldest first."""
    query = sa.select(job_events).order_by(job_events.c.id)
    if job_id is not None:
        query = query.where(job_events.c.job_id == job_id)
    with store.begin() as conn:
        return [dict(e) for e in conn.execute(query).mappings()]


def kinds(store: Store, job_id: int) -> list[str]:
    return [e["kind"] for e in events(store, job_id)]


def store_now(store: Store) -> float:
    with store.begin() as conn:
        return float(conn.execute(sa.select(clock.now())).scalar_one())


# -- threads that start together ------------------------------------------------------
def race(*workers: Callable[[], T], timeout: float = 30.0) -> list[T | BaseException]:
    """Run each worker in a thread of its own, all released at once by a barrier; the
    result of each, or what it raised, in the workers' order."""
    barrier = threading.Barrier(len(workers))
    results: list[T | BaseException] = [RuntimeError("never ran")] * len(workers)

    def run(index: int, work: Callable[[], T]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = work()
        except BaseException as exc:
            results[index] = exc

    threads = [
        threading.Thread(target=run, args=(i, work), name=f"racer-{i}", daemon=True)
        for i, work in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    hung = [thread.name for thread in threads if thread.is_alive()]
    assert not hung, f"still running after {timeout:g}s: {hung}"
    return results


def unexpected(results: list[Any], *allowed: type[BaseException]) -> list[BaseException]:
    """The exceptions among ``results`` that are none of ``allowed``."""
    return [r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)]


def poll(what: str, probe: Callable[[], T | None], timeout: float = 10.0) -> T:
    """``probe()``'s first truthy result, tried until the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(0.01)


# -- a change between two statements of one call --------------------------------------
@contextmanager
def meanwhile(
    conn: sa.Connection, before: str, change: Callable[[sa.Connection], object]
) -> Iterator[list[str]]:
    """Run ``change`` on ``conn`` just before the first statement that starts with
    ``before``: what a protocol call then writes meets the job as another transaction,
    committed between the call's read and its write, would have left it (the row locks
    and SQLite's single writer keep that from happening on its own). Yields the
    statements it interfered with, to check that it did."""
    fired: list[str] = []

    def hook(
        connection: sa.Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if fired or not statement.startswith(before):
            return
        fired.append(statement)
        change(connection)

    sa.event.listen(conn, "before_cursor_execute", hook)
    try:
        yield fired
    finally:
        sa.event.remove(conn, "before_cursor_execute", hook)
