"""The FastAPI application: one :class:`Syncbeat` handle, one token, the routers.

Every route calls one library method and returns its pydantic view (the shapes of the
CLI's ``--json``); nothing is decided here. OpenAPI is at ``/openapi.json``, interactive
docs at ``/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from .. import __version__
from ..service import Syncbeat
from . import dashboard, errors, health, jobs, metrics, pipelines, workers
from .auth import TOKEN_ENV, require_auth, resolve_token

_DESCRIPTION = f"""\
Pipelines, jobs, their progress and events, and workers, over one job store: the same
library calls as the `syncbeat` command, and the same shapes as its `--json`.

Every endpoint but `/health` needs `Authorization: Bearer <token>`, the token being
`{TOKEN_ENV}` where `syncbeat serve` runs. Connection URLs are always shown with their
passwords masked. Every error answers `{{"error": {{"status", "code", "message", "hint"}}}}`.
"""

_TAGS = [
    {"name": "pipelines", "description": "Named definitions of what to copy where."},
    {"name": "jobs", "description": "Runs of a pipeline: progress, events, control."},
    {"name": "workers", "description": "The processes that run queued jobs."},
    {"name": "server", "description": "Health and Prometheus metrics."},
]


def create_app(store: str | Syncbeat | None = None, token: str | None = None) -> FastAPI:
    """The API over ``store`` (a URL, an open :class:`Syncbeat`, or None for
    ``$SYNCBEAT_STORE`` / the default), guarded by ``token`` (None: ``$SYNCBEAT_API_TOKEN``;
    without either, ConfigError: the API is never served open).

    A store given as a URL is opened (and migrated) now, so a wrong one fails here rather
    than on the first request, and is closed when the app shuts down."""
    token = resolve_token(token)
    owned = not isinstance(store, Syncbeat)
    sb = store if isinstance(store, Syncbeat) else Syncbeat(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            sb.close()

    app = FastAPI(
        title="syncbeat",
        version=__version__,
        description=_DESCRIPTION,
        openapi_tags=_TAGS,
        lifespan=lifespan,
        # Served below, behind the token like everything but /health.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.syncbeat = sb
    app.state.api_token = token
    errors.install(app)
    for module in (pipelines, jobs, workers, health, metrics):
        app.include_router(module.router)
    app.include_router(_docs_router(app))
    app.include_router(dashboard.router)  # HTML pages; they answer 401 with a sign-in form
    return app


def _docs_router(app: FastAPI) -> APIRouter:
    """``/openapi.json`` and ``/docs`` (Swagger UI). A browser reaches them with the
    dashboard's session cookie, a client with the bearer token."""
    router = APIRouter(include_in_schema=False, dependencies=[Depends(require_auth)])

    @router.get("/openapi.json")
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="syncbeat API")

    return router
