"""Pipelines: list, create, show, update, delete, and start a job of one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from syncbeat.api.auth import require_auth
from syncbeat.api.deps import SyncbeatDep, reject_unknown_query
from syncbeat.api.errors import AUTHED, responses
from syncbeat.connectors.allowlist import Allowlist
from syncbeat.service.facade import Syncbeat
from syncbeat.service.models import JobView, PipelineView
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.pipeline import NAME_PATTERN, Mode, Origin, parse_spec

router = APIRouter(
    tags=["pipelines"], dependencies=[Depends(require_auth), Depends(reject_unknown_query)]
)

PipelineName = Annotated[
    str,
    Path(pattern=NAME_PATTERN, max_length=200, description="The pipeline's name."),
]


class PipelineFields(BaseModel):
    """A pipeline's definition, as :class:`~syncbeat.PipelineSpec` has it, but its name.

    The constraints repeat PipelineSpec's so that OpenAPI shows them (a test keeps the
    two in step); the spec itself then checks the rest (exactly one of table and query,
    lease_ttl above heartbeat_interval) and a failure is a 422 with its message."""

    model_config = ConfigDict(extra="forbid")

    source_url: str = Field(
        description="Source connection URL, e.g. postgresql://app:${PGPASS}@db/shop. Write "
        "passwords as ${VAR}, read from the worker's environment; a literal password is "
        "never stored, so no job could use it: it is refused (422)."
    )
    source_table: str | None = Field(None, description="Source table ([schema.]name).")
    source_query: str | None = Field(None, description="Source SELECT, instead of a table.")
    key: list[str] = Field(
        default_factory=list,
        description="Key columns for paging and upserts. Empty: the table's primary key.",
    )
    dest_url: str = Field(description="Destination connection URL (same rules).")
    dest_table: str | None = Field(
        None,
        description="Destination table. Default: the source table's name, without its "
        "schema; needed with source_query.",
    )
    mode: Mode = Field(Mode(defaults.MODE), description="How rows are written.")
    batch_size: int | None = Field(
        None, ge=1, le=1_000_000, description="Rows per batch. None: adaptive."
    )
    batch_max_retries: int = Field(defaults.BATCH_MAX_RETRIES, ge=0, le=100)
    max_attempts: int = Field(defaults.MAX_ATTEMPTS, ge=1, le=1000)
    # JSON has no infinity, but Python's parser accepts one; no store could keep it.
    heartbeat_interval: float = Field(defaults.HEARTBEAT_INTERVAL, gt=0, allow_inf_nan=False)
    lease_ttl: float = Field(defaults.LEASE_TTL, gt=0, allow_inf_nan=False)
    batch_timeout: float = Field(defaults.BATCH_TIMEOUT, gt=0, allow_inf_nan=False)


class PipelineCreate(PipelineFields):
    name: str = Field(pattern=NAME_PATTERN, max_length=200, description="The pipeline's name.")


_STORED = "Saved; URLs come back as written (${VAR} references kept)."


def get_allowlist(request: Request) -> Allowlist:
    """What a pipeline saved here may reach on the workers: `syncbeat serve`'s options,
    else this process's environment (SYNCBEAT_SECRET_PREFIX, _VARS, SYNCBEAT_DATA_DIRS)."""
    configured = getattr(request.app.state, "allowlist", None)
    return configured if isinstance(configured, Allowlist) else Allowlist.configured()


AllowlistDep = Annotated[Allowlist, Depends(get_allowlist)]


def _save(sb: Syncbeat, allowed: Allowlist, fields: dict[str, Any], exists: bool) -> PipelineView:
    """A 422 naming any ${VAR} or file the operator did not allow, before anything is
    saved; the pipeline is then the API's, also when it replaces the operator's."""
    spec = parse_spec(fields)
    allowed.check_pipeline(spec.source_url, spec.dest_url)
    return sb.save_pipeline(spec, exists=exists, origin=Origin.API)


@router.get("/pipelines", responses=responses(*AUTHED))
def list_pipelines(sb: SyncbeatDep) -> list[PipelineView]:
    """Every pipeline, by name."""
    return sb.pipelines()


@router.post(
    "/pipelines",
    status_code=201,
    responses={201: {"description": _STORED}, **responses(*AUTHED, 400, 409)},
)
def create_pipeline(body: PipelineCreate, sb: SyncbeatDep, allowed: AllowlistDep) -> PipelineView:
    """Create a pipeline (409 if the name is taken; PUT changes one). Its URLs may use
    only the ${VAR} and data directories the operator allowed (422 otherwise)."""
    return _save(sb, allowed, body.model_dump(), exists=False)


@router.get("/pipelines/{name}", responses=responses(*AUTHED, 404))
def show_pipeline(name: PipelineName, sb: SyncbeatDep) -> PipelineView:
    """One pipeline's definition."""
    return sb.pipeline(name)


@router.put(
    "/pipelines/{name}",
    responses={200: {"description": _STORED}, **responses(*AUTHED, 400, 404)},
)
def update_pipeline(
    name: PipelineName, body: PipelineFields, sb: SyncbeatDep, allowed: AllowlistDep
) -> PipelineView:
    """Replace an existing pipeline's definition, under the same rules as a new one.
    Its unfinished job, if it copies other data now, is superseded or refused when the
    next job is started."""
    return _save(sb, allowed, {"name": name, **body.model_dump()}, exists=True)


@router.delete("/pipelines/{name}", status_code=204, responses=responses(*AUTHED, 404, 409))
def delete_pipeline(name: PipelineName, sb: SyncbeatDep) -> Response:
    """Remove a pipeline and its jobs' history, not its destination data (409 while one
    of its jobs is running)."""
    sb.remove_pipeline(name)
    return Response(status_code=204)


@router.post(
    "/pipelines/{name}/jobs",
    status_code=201,
    responses=responses(*AUTHED, 404, 409),
)
def start_job(name: PipelineName, sb: SyncbeatDep) -> JobView:
    """Queue a full sync of the pipeline, for a worker (`syncbeat worker`) to run. An
    unfinished job of the pipeline is requeued with its checkpoint instead."""
    return sb.enqueue(name)
