"""The shapes syncbeat answers with: the CLI's ``--json`` and the REST API share them.

Every URL in them is masked; nothing here can carry a secret.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from syncbeat.engine import progress
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.status import COMPLETED, RUNNING


def _time(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


class PipelineView(BaseModel):
    name: str
    source_url: str
    source_table: str | None
    source_query: str | None
    key: list[str]
    dest_url: str
    dest_table: str
    mode: str
    batch_size: int | None
    batch_max_retries: int
    max_attempts: int
    heartbeat_interval: float
    lease_ttl: float
    batch_timeout: float = defaults.BATCH_TIMEOUT
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    origin: str = Field(
        "operator",
        description="Who saved it: operator (the CLI) or api. An api pipeline's jobs "
        "expand only the ${VAR} and open only the files the workers allow.",
    )

    @classmethod
    def from_row(cls, row: Any) -> PipelineView:
        return cls(
            **row["spec"],
            created_at=_time(row["created_at"]),
            updated_at=_time(row["updated_at"]),
            origin=row["origin"],
        )


class EventView(BaseModel):
    id: int
    job_id: int
    at: dt.datetime
    kind: str
    message: str
    lease_epoch: int | None
    owner: str | None
    data: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> EventView:
        fields = dict(row)
        fields["at"] = _time(fields["at"])
        return cls(**fields)


class JobView(BaseModel):
    id: int
    pipeline: str
    kind: str
    status: str
    stale: bool = Field(
        False,
        description="A running job whose lease expired without a renewal: the process "
        "running it died or froze. Shown as stale, without rate or ETA, until a worker or "
        "a rerun takes it over; its stored status stays running.",
    )
    requested: str | None
    owner: str | None
    lease_epoch: int
    attempt: int
    max_attempts: int
    heartbeat_age_seconds: float | None
    lease_expires_in_seconds: float | None
    rows_done: int
    rows_total: int | None
    percent: float | None
    rows_per_second: float | None
    eta_seconds: float | None
    checkpoint: dict[str, Any] | None
    last_error: str | None
    source: str
    destination: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    events: list[EventView] | None = None

    @property
    def shown_status(self) -> str:
        """The status as people should read it: ``stale`` for a stale running job."""
        return "stale" if self.stale else self.status

    @classmethod
    def from_row(cls, row: Any, now: float, events: list[EventView] | None = None) -> JobView:
        spec = row["spec"]
        expires = row["lease_expires_at"]
        stale = row["status"] == RUNNING and expires is not None and expires < now
        running = row["status"] == RUNNING and not stale
        snap = progress.Snapshot(
            row["rows_done"],
            row["rows_total"],
            row["rate"] if running else None,
            progress.eta(row["rows_done"], row["rows_total"], row["rate"]) if running else None,
        )
        source = spec["source_url"] + " " + (spec.get("source_table") or "(query)")
        return cls(
            id=row["id"],
            pipeline=row["pipeline"],
            kind=row["kind"],
            status=row["status"],
            stale=stale,
            requested=row["requested"],
            owner=row["owner"],
            lease_epoch=row["lease_epoch"],
            attempt=row["attempt"],
            max_attempts=row["max_attempts"],
            # A heartbeat stamped ahead of now (a store clock that stepped back) is as
            # good as fresh, never a negative age.
            heartbeat_age_seconds=max(0.0, now - row["heartbeat_at"])
            if row["status"] == RUNNING and row["heartbeat_at"]
            else None,
            lease_expires_in_seconds=(expires - now)
            if row["status"] == RUNNING and expires
            else None,
            rows_done=row["rows_done"],
            rows_total=row["rows_total"],
            percent=100.0 if row["status"] == COMPLETED else snap.percent,
            rows_per_second=snap.rate,
            eta_seconds=snap.eta_seconds,
            checkpoint=row["checkpoint"],
            last_error=row["last_error"],
            source=source,
            destination=f"{spec['dest_url']} {spec['dest_table']}",
            created_at=_time(row["created_at"]),
            started_at=_time(row["started_at"]),
            finished_at=_time(row["finished_at"]),
            events=events,
        )


class WorkerView(BaseModel):
    name: str
    host: str
    pid: int
    concurrency: int
    jobs: list[int]
    alive: bool
    heartbeat_age_seconds: float
    started_at: dt.datetime
    stopped_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any, now: float) -> WorkerView:
        age = max(0.0, now - row["heartbeat_at"])
        return cls(
            name=row["name"],
            host=row["host"],
            pid=row["pid"],
            concurrency=row["concurrency"],
            jobs=list(row["jobs"] or []),
            # Three missed heartbeats: the worker is gone (or frozen).
            alive=row["stopped_at"] is None and age < 3 * row["heartbeat_interval"],
            heartbeat_age_seconds=age,
            started_at=_time(row["started_at"]),
            stopped_at=_time(row["stopped_at"]),
        )
