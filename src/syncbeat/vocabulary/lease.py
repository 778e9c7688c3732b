"""A lease as its holder sees it: which job, under which fencing token, for how long."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.pipeline import Origin
from syncbeat.vocabulary.status import JobKind, JobStatus


@dataclass(frozen=True)
class Lease:
    """A claimed job as its runner sees it (Temporal's ``activity.info()``)."""

    job_id: int
    uid: str
    epoch: int
    owner: str
    attempt: int
    max_attempts: int
    ttl: float
    checkpoint: Checkpoint
    spec: dict[str, Any]
    origin: str = Origin.API  # who wrote the job's URLs, judged at the claim
    kind: str = JobKind.FULL

    @classmethod
    def from_row(cls, row: Mapping[Any, Any], owner: str, ttl: float, origin: str) -> Lease:
        """The lease a claim just wrote into the job's row."""
        return cls(
            job_id=row["id"],
            uid=row["uid"],
            epoch=row["lease_epoch"],
            owner=owner,
            attempt=row["attempt"],
            max_attempts=row["max_attempts"],
            ttl=ttl,
            checkpoint=Checkpoint.from_json(row["checkpoint"]),
            spec=row["spec"],
            origin=origin,
            kind=row["kind"],
        )

    def trusted(self, silent_seconds: float) -> bool:
        """Whether this lease, last renewed ``silent_seconds`` ago, is certainly still
        held. Past :data:`~syncbeat.vocabulary.defaults.LEASE_TRUST` of its TTL the store
        may expire it at any moment (renewals are failing), so its holder stops writing."""
        return silent_seconds <= defaults.LEASE_TRUST * self.ttl


@dataclass(frozen=True)
class Reaped:
    job_id: int
    epoch: int
    owner: str | None
    status: JobStatus  # queued (to be claimed again) or failed (attempts used up)
