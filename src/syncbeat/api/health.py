"""``/health``: whether this server can answer, which is whether its job store does.

The one route without auth, for load balancers and orchestrators; it says nothing a
stranger should not know (no URL, no counts)."""

from __future__ import annotations

import logging
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from syncbeat import __version__
from syncbeat.api.deps import SyncbeatDep, reject_unknown_query
from syncbeat.api.errors import ApiError, responses
from syncbeat.vocabulary.errors import SyncbeatError

log = logging.getLogger(__name__)

router = APIRouter(tags=["server"], dependencies=[Depends(reject_unknown_query)])


class Health(BaseModel):
    status: Literal["ok"]
    version: str = Field(description="syncbeat's version.")
    store: str = Field(description="The job store's kind: sqlite or postgresql.")


@router.get("/health", responses=responses(503))
def health(sb: SyncbeatDep) -> Health:
    """200 when the job store answers a query, 503 (error shape) when it does not."""
    try:
        sb.store.now()
    except (sa.exc.DBAPIError, SyncbeatError) as exc:
        log.warning(
            "health check: the job store does not answer (%s)",
            type(exc).__name__,
            extra={"action": "api_health_failed"},
        )
        raise ApiError(
            503,
            "store_unavailable",
            "The job store does not answer.",
            hint="Check the store's database server, and the server's --store.",
        ) from None
    return Health(status="ok", version=__version__, store=sb.store.dialect)
