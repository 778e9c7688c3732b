"""What the routes take from the app: the library handle, and a check of the query."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from syncbeat.api.errors import ApiError
from syncbeat.service.facade import Syncbeat


def get_syncbeat(request: Request) -> Syncbeat:
    """The :class:`Syncbeat` the app was created over (one per app, shared by requests:
    its store's engine is a thread-safe connection pool)."""
    sb = request.app.state.syncbeat
    assert isinstance(sb, Syncbeat)
    return sb


SyncbeatDep = Annotated[Syncbeat, Depends(get_syncbeat)]


def _query_names(dependant: Any) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_query(request: Request) -> None:
    """A dependency: 422 for a query parameter the route does not take. Ignored, a
    misspelt filter (``?statuss=failed``) would answer as if none had been given."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known = _query_names(dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ApiError(
            422,
            "invalid_request",
            f"Invalid request: unknown query parameter {', '.join(map(repr, unknown))}.",
            hint=f"This endpoint takes {', '.join(sorted(known))}."
            if known
            else "This endpoint takes no query parameters.",
        )
