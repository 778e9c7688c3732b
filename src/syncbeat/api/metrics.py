"""``/metrics``: the Prometheus exposition of the store's jobs and workers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from syncbeat import exposition
from syncbeat.api.auth import require_auth
from syncbeat.api.deps import SyncbeatDep, reject_unknown_query
from syncbeat.api.errors import AUTHED, responses

router = APIRouter(
    tags=["server"], dependencies=[Depends(require_auth), Depends(reject_unknown_query)]
)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **responses(*AUTHED),
    },
)
def metrics(sb: SyncbeatDep) -> Response:
    """Jobs by status, rows copied, rates, heartbeat ages and workers, for Prometheus to
    scrape (with the bearer token: `authorization` in the scrape config)."""
    body, content_type = exposition.exposition(sb)
    return Response(content=body, media_type=content_type)
