"""The lease protocol, checked from the outside: who claimed a job, one owner at a
time, and a fenced-out owner's writes refused."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import Syncbeat
from syncbeat.connectors.destinations import state as dest_state
from syncbeat.service.models import EventView
from syncbeat.store import protocol
from syncbeat.store.owners import Owner
from syncbeat.store.schema import jobs
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import LeaseLost
from syncbeat.vocabulary.lease import Lease
from tests.support import sql
from tests.support.fleet import Fleet
from tests.support.jobs import events, job_row
from tests.support.polling import wait_for


def claims(sb: Syncbeat, job_id: int) -> list[EventView]:
    return events(sb, job_id, "claimed")


def first_claim(sb: Syncbeat, job_id: int, workers: Fleet) -> EventView:
    found = wait_for("the job to be claimed", lambda: claims(sb, job_id), 30, workers.diagnostics)
    return found[0]


def owner_pid(event: EventView) -> int:
    """The pid of the worker, on this machine, that an event's owner names."""
    assert event.owner is not None
    owner = Owner.parse(event.owner)
    assert owner is not None, f"unreadable owner {event.owner!r}"
    assert owner.host == socket.gethostname()
    return owner.pid


def assert_one_owner_at_a_time(
    history: list[EventView], *, stale_lease_lost: bool = False
) -> list[EventView]:
    """Walk a job's events in id order: every event written under a lease (it carries an
    epoch or an owner) after a `claimed` belongs to that claim's (owner, epoch) until
    the next `claimed`, and each claim's epoch is higher than the last. With
    ``stale_lease_lost``, a `lease_lost` of an earlier claim (a fenced-out owner telling
    what happened to it) is allowed. Returns the claims."""
    assert [e.id for e in history] == sorted(e.id for e in history)
    seen: list[EventView] = []
    for event in history:
        where = f"event {event.id} ({event.kind}, epoch {event.lease_epoch}, {event.owner})"
        if event.kind == "claimed":
            assert event.owner and event.lease_epoch is not None, where
            if seen:
                previous = seen[-1].lease_epoch
                assert previous is not None and event.lease_epoch > previous, (
                    f"{where}: epoch not above the previous claim's {previous}"
                )
            seen.append(event)
            continue
        if event.lease_epoch is None and event.owner is None:
            continue  # created, requested: not written under a lease
        assert seen, f"{where} before any claim"
        current = seen[-1]
        if (
            stale_lease_lost
            and event.kind == "lease_lost"
            and event.lease_epoch != current.lease_epoch
        ):
            earlier = [c for c in seen[:-1] if c.lease_epoch == event.lease_epoch]
            assert earlier and earlier[0].owner == event.owner, f"{where}: matches no earlier claim"
            continue
        assert event.lease_epoch == current.lease_epoch, (
            f"{where} while the lease is claim {current.id}'s (epoch {current.lease_epoch})"
        )
        if event.owner is not None:  # the reaper's `stalled` names no owner
            assert event.owner == current.owner, f"{where} while {current.owner} holds the lease"
    return seen


def assert_stale_writes_refused(
    sb: Syncbeat, dest: str, job_id: int, old: EventView, new: EventView, ttl: float
) -> None:
    """What a fenced-out owner would write next, its checkpoint in the store and its batch's
    state row in the destination, is refused while the new owner holds the job: both are
    fenced on the epoch. (Row locks hold the new owner still while we look.)"""
    assert old.owner is not None and old.lease_epoch is not None
    uid = job_row(sb, job_id)["uid"]
    stale = Lease(job_id, uid, old.lease_epoch, old.owner, 1, 5, ttl, Checkpoint(), {})
    with sb.store.begin() as conn:
        now = conn.execute(
            sa.select(jobs.c.status, jobs.c.lease_epoch)
            .where(jobs.c.id == job_id)
            .with_for_update()
        ).one()
        assert tuple(now) == ("running", new.lease_epoch), "the job ended too soon to look"
        with pytest.raises(LeaseLost):
            protocol.save_checkpoint(conn, stale, Checkpoint((10**9,), 10**6, 10**9), rate=None)
    with sql.engine(dest) as engine, engine.begin() as conn:
        table = dest_state.state_table
        row = conn.execute(sa.select(table).where(table.c.job_uid == uid).with_for_update()).one()
        assert row.lease_epoch == new.lease_epoch
        before = Checkpoint(None, row.batch_index, row.rows_done)
        with pytest.raises(LeaseLost):
            dest_state.advance(conn, uid, old.lease_epoch, before, before.advance((10**9,), 1, 0))


def store_transaction_open(store: str, older_than: float) -> bool:
    """Whether some session holds a transaction on the store open for ``older_than`` s
    (workers' own transactions last milliseconds: only a frozen process holds one)."""
    database = make_url(store).database
    count = sql.scalar(
        store,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = "
        f"'{database}' AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
        f"AND xact_start < clock_timestamp() - interval '{older_than} seconds'",
    )
    return bool(count)
