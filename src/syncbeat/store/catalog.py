"""The store's catalogue of pipelines: saving one, finding one, and the checks a
definition must pass before it is saved.

Every check runs before the write, in the write's transaction: a refused command leaves
the stored pipeline as it was.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from syncbeat.store import clock, events, job_events, jobs, owners, pipelines
from syncbeat.vocabulary import urls
from syncbeat.vocabulary.errors import (
    ConfigError,
    InvalidTransition,
    JobBusy,
    PipelineExists,
    PipelineNotFound,
)
from syncbeat.vocabulary.pipeline import IDENTITY, Origin, PipelineSpec, legacy_default_name
from syncbeat.vocabulary.status import OPEN, RUNNING


class LiteralPassword(ConfigError):
    """A saved pipeline would hold a password that is never stored."""


def refuse_literal_passwords(spec: PipelineSpec) -> None:
    """A literal password is masked before a definition is stored, so a saved pipeline
    with one could never run (every job would fail on ``***``): refuse it now."""
    for field in ("source_url", "dest_url"):
        url = getattr(spec, field)
        # A URL shown masked and sent back (``app:***@``) is no better: *** is no password.
        if urls.has_literal_password(url) or urls.is_masked(url):
            raise LiteralPassword(
                f"The {field.replace('_', ' ')} {urls.mask(url)!r} holds a literal "
                "password; syncbeat never stores passwords, so no job of this pipeline "
                "could connect.",
                hint="Put the password in an environment variable and write it as ${VAR} "
                "in the URL, e.g. postgresql://app:${PGPASS}@db/shop (workers read it from "
                "their environment); or run it once in the foreground with `syncbeat sync`.",
            )


def exists_error(name: str) -> PipelineExists:
    return PipelineExists(
        f"There is already a pipeline named {name!r}.",
        hint="Choose another name, or change that pipeline instead.",
    )


def changed_identity(was: PipelineSpec, now: PipelineSpec) -> list[str]:
    """The fields that make ``was``'s checkpoint mean something and that ``now`` changes
    (both as stored: passwords masked)."""
    stored_was, stored_now = was.stored(), now.stored()
    return [f for f in IDENTITY if getattr(stored_was, f) != getattr(stored_now, f)]


def never_committed(conn: sa.Connection, job_id: int) -> bool:
    batches = conn.execute(
        sa.select(sa.func.count())
        .select_from(job_events)
        .where(job_events.c.job_id == job_id, job_events.c.kind == events.BATCH)
    ).scalar_one()
    return int(batches) == 0


def refuse_if_unrunnable(conn: sa.Connection, spec: PipelineSpec) -> None:
    """What a foreground run of ``spec`` would be refused for, raised before anything is
    written: an unfinished job with progress that copies other data, or a job running in
    another live process."""
    row = (
        conn.execute(
            sa.select(jobs, clock.now().label("store_now")).where(
                jobs.c.pipeline == spec.name, jobs.c.status.in_(OPEN)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return
    changed = changed_identity(PipelineSpec(**row["spec"]), spec)
    if changed and not never_committed(conn, row["id"]):
        raise unfinished_job_differs(spec.name, row["id"], changed)
    owner = owners.Owner.parse(row["owner"] or "")
    alive = owner is not None and not owner.is_dead_here()
    if (
        row["status"] == RUNNING
        and alive
        and row["lease_expires_at"] is not None
        and row["lease_expires_at"] > row["store_now"]
    ):
        raise JobBusy(
            f"Job {row['id']} of pipeline {spec.name!r} is running in {row['owner']}.",
            hint="Wait for it, or stop that process; a dead process's job is taken over "
            "once its lease expires.",
        )


def identity_change(conn: sa.Connection, job_id: int, spec: PipelineSpec) -> list[str]:
    """The fields the unfinished job copies with that ``spec`` changes (none: the job
    copies what ``spec`` describes, and may be resumed under it)."""
    job_spec = conn.execute(sa.select(jobs.c.spec).where(jobs.c.id == job_id)).scalar_one()
    return changed_identity(PipelineSpec(**job_spec), spec)


def unfinished_job_differs(name: str, job_id: int, changed: list[str]) -> InvalidTransition:
    return InvalidTransition(
        f"Pipeline {name!r} has an unfinished job {job_id} that copies with a "
        f"different {', '.join(changed)}; resuming it with these options would "
        "apply its checkpoint to other data.",
        hint=f"Run it with its original options, or cancel it first "
        f"(syncbeat job cancel {job_id}) to start afresh.",
    )


def write(conn: sa.Connection, spec: PipelineSpec, exists: bool | None, origin: str) -> None:
    """Create or update the pipeline; ``exists`` and ``origin`` as in
    :meth:`Syncbeat.save_pipeline`."""
    now = clock.now()
    found = conn.execute(sa.select(pipelines.c.name).where(pipelines.c.name == spec.name)).first()
    if exists is False and found:
        raise exists_error(spec.name)
    if exists is True and not found:
        raise PipelineNotFound(
            f"There is no pipeline named {spec.name!r}.", hint="Create it first."
        )
    stored = spec.stored().model_dump()
    if found:
        conn.execute(
            pipelines.update()
            .where(pipelines.c.name == spec.name)
            .values(spec=stored, updated_at=now, origin=origin)
        )
    else:
        conn.execute(
            pipelines.insert().values(
                name=spec.name, spec=stored, created_at=now, updated_at=now, origin=origin
            )
        )


def remove(conn: sa.Connection, name: str) -> None:
    conn.execute(pipelines.delete().where(pipelines.c.name == name))


def stored_spec(conn: sa.Connection, name: str) -> dict[str, Any] | None:
    found = conn.execute(sa.select(pipelines.c.spec).where(pipelines.c.name == name)).first()
    return None if found is None else dict(found.spec)


def name_by_default(conn: sa.Connection, spec: PipelineSpec) -> str:
    """The name a `sync` without ``--name`` uses: ``spec.name`` (the default name), or
    the older default name (``<dialect>.<table>``) when no pipeline has the new one and
    the pipeline under the old name copies exactly this source into exactly this
    destination (same URLs, table or query, key, destination table and mode). So a store
    written by an earlier version keeps resuming its pipelines; one whose old-named
    pipeline copies something else gets a pipeline of its own instead of sharing it."""
    if stored_spec(conn, spec.name) is not None:
        return spec.name
    legacy = legacy_default_name(spec.source_url, spec.source_table, spec.dest_table)
    old = stored_spec(conn, legacy)
    if old is None:
        return spec.name
    same = not changed_identity(PipelineSpec(**{**old, "name": legacy}), spec)
    return legacy if same else spec.name


def origin_of(conn: sa.Connection, pipeline: str, job_spec: dict[str, Any]) -> str:
    """Who wrote the URLs the job copies with. The job's definition was copied when it
    was queued, and the pipeline may have been saved since, by someone else: it is the
    operator's only while the operator's pipeline still names exactly these URLs, else
    the API's (the safe side), so re-saving a pipeline never vouches for a queued job."""
    found = conn.execute(
        sa.select(pipelines.c.origin, pipelines.c.spec).where(pipelines.c.name == pipeline)
    ).first()
    if found is None or found.origin != Origin.OPERATOR:
        return Origin.API
    same = all(found.spec.get(url) == job_spec.get(url) for url in ("source_url", "dest_url"))
    return Origin.OPERATOR if same else Origin.API
