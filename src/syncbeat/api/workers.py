"""Workers: the processes that claim and run queued jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from syncbeat.api.auth import require_auth
from syncbeat.api.deps import SyncbeatDep, reject_unknown_query
from syncbeat.api.errors import AUTHED, responses
from syncbeat.service.models import WorkerView

router = APIRouter(
    tags=["workers"], dependencies=[Depends(require_auth), Depends(reject_unknown_query)]
)


@router.get("/workers", responses=responses(*AUTHED))
def list_workers(
    sb: SyncbeatDep,
    all_: Annotated[bool, Query(alias="all", description="Include stopped workers.")] = False,
) -> list[WorkerView]:
    """Workers with their host, pid, current jobs, liveness and last heartbeat age."""
    return sb.workers(include_stopped=all_)
