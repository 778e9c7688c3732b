"""The FastAPI application: one :class:`Syncbeat` handle, one token, the routers.

Every route calls one library method and returns its pydantic view (the shapes of the
CLI's ``--json``); nothing is decided here. OpenAPI is at ``/openapi.json``, interactive
docs at ``/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from syncbeat import __version__
from syncbeat.api import (
    dashboard,
    docs,
    errors,
    health,
    jobs,
    metrics,
    pipelines,
    verify,
    workers,
)
from syncbeat.api.auth import TOKEN_ENV, resolve_token
from syncbeat.api.guard import RequestGuard
from syncbeat.api.hosts import HostPolicy
from syncbeat.api.throttle import SignInThrottle
from syncbeat.connectors.allowlist import Allowlist
from syncbeat.service.facade import Syncbeat
from syncbeat.vocabulary.defaults import BODY_TIMEOUT, MAX_BODY_BYTES

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


def create_app(
    store: str | Syncbeat | None = None,
    token: str | None = None,
    *,
    allowed_hosts: Iterable[str] | None = None,
    port: int | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    body_timeout: float = BODY_TIMEOUT,
    allowlist: Allowlist | None = None,
) -> FastAPI:
    """The API over ``store`` (a URL, an open :class:`Syncbeat`, or None for
    ``$SYNCBEAT_STORE`` / the default), guarded by ``token`` (None: ``$SYNCBEAT_API_TOKEN``;
    without either, ConfigError: the API is never served open).

    It answers requests whose ``Host`` is one of ``allowed_hosts`` (None: localhost,
    127.0.0.1 and [::1]) on ``port`` (None: any), and reads a request body of at most
    ``max_body_bytes`` that arrives within ``body_timeout`` seconds. Pipelines saved
    through it may reach only what ``allowlist`` allows (None: this process's
    environment, :meth:`Allowlist.configured`).

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
    app.state.sign_in_throttle = SignInThrottle()
    app.state.allowlist = allowlist
    errors.install(app)
    # Added last, so outermost: its refusals come before any body is read, and its
    # headers go on every answer, a 500 included.
    app.add_middleware(
        RequestGuard,
        token=token,
        hosts=HostPolicy.of(allowed_hosts, port),
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout,
    )
    for module in (pipelines, verify, jobs, workers, health, metrics):
        app.include_router(module.router)
    app.include_router(docs.router(app))
    app.include_router(dashboard.router)  # HTML pages; they answer 401 with a sign-in form
    return app
