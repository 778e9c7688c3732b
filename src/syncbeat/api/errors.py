"""The API's one error shape, and how every failure becomes it.

Every error answer, whatever raised it (a library error, a bad parameter, an unknown
route, a wrong method, a missing token, a store that went away, a bug) is::

    {"error": {"status": 404, "code": "job_not_found", "message": "...", "hint": "..."}}

Bad input is a 4xx with a message that says what was wrong; an internal error is a 500
whose message says nothing about its cause (the server's log has the exception).
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import fastapi.routing
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncbeat.api.limits import BodyRefused
from syncbeat.vocabulary.errors import (
    ConfigError,
    InvalidTransition,
    JobBusy,
    NotFoundError,
    PipelineExists,
    StoreError,
    SyncbeatError,
    TransientError,
)

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(description="A stable, machine-readable name, e.g. job_not_found.")
    message: str = Field(description="What went wrong, for a person.")
    hint: str | None = Field(description="What to do about it, when there is something.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """An error answer decided in the API layer itself (401, for one)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.hint, self.headers = hint, headers


# The status of each library error; the first matching class wins. Anything else the
# library raises about a request (a source it cannot read, say) is a 400.
_LIBRARY_STATUS: list[tuple[type[SyncbeatError], int]] = [
    (NotFoundError, 404),
    (InvalidTransition, 409),
    (JobBusy, 409),
    (PipelineExists, 409),
    (ConfigError, 422),
    (StoreError, 503),
    (TransientError, 503),
]

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    hint: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(status=status, code=code, message=message, hint=hint))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for a route's error answers, all in the error shape."""
    return {
        status: {"model": ErrorBody, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


AUTHED = (401, 422, 503)
"""Errors every authenticated route can answer: no token, bad parameters, no store."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SyncbeatError)
    status = next((s for cls, s in _LIBRARY_STATUS if isinstance(exc, cls)), 400)
    return error_response(status, _snake(type(exc).__name__), exc.message, exc.hint)


def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.hint, exc.headers)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors: an unknown route, a method the route lacks."""
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    hint = "GET /docs lists the endpoints." if exc.status_code in (404, 405) else None
    if exc.status_code == 404:
        message = f"There is no {where}."
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
    elif exc.status_code == 400 and "body" in str(exc.detail):
        message = "The request body cannot be read."  # FastAPI's words for bytes not UTF-8
        hint = "Send JSON, encoded as UTF-8."
    else:
        message = str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(sorted(_allowed_methods(request)))
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    return error_response(exc.status_code, code, message, hint, headers)


def _body_refused(request: Request, exc: Exception) -> JSONResponse:
    """A body over the size limit or past its deadline (see :mod:`.limits`)."""
    assert isinstance(exc, BodyRefused)
    return error_response(exc.status_code, exc.code, exc.message, exc.hint, dict(exc.headers or {}))


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route serves at this path. Starlette's own Allow header names
    only the first matching route's, so GET /pipelines' 405 would hide POST."""
    # FastAPI 0.12x+ nests included routers; iter_route_contexts flattens them.
    walk = getattr(fastapi.routing, "iter_route_contexts", None)
    methods: set[str] = set()
    for route in walk(request.app.routes) if walk else request.app.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad parameter. Only pydantic's messages are quoted, never the
    value sent (it may be a password)."""
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()))
        if error.get("type") == "json_invalid":
            problems.append("body: not valid JSON")
        else:
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
    message = "Invalid request: " + "; ".join(problems)
    return error_response(422, "invalid_request", message, "GET /docs describes each endpoint.")


def _store_unreachable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "job store unreachable: %s",
        type(exc).__name__,
        extra={"action": "api_store_error", "path": request.url.path},
    )
    return error_response(
        503,
        "store_unavailable",
        "The job store cannot be reached right now.",
        "Try again; if it lasts, check the store's database (GET /health).",
    )


def install(app: FastAPI) -> None:
    """Make every failure in ``app`` answer in the error shape."""
    app.add_exception_handler(SyncbeatError, _library_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(BodyRefused, _body_refused)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # Connection-level failures of the store; any other database error is a bug (500).
    app.add_exception_handler(sa.exc.OperationalError, _store_unreachable)
    app.add_exception_handler(sa.exc.InterfaceError, _store_unreachable)
    app.add_middleware(InternalErrors)


class InternalErrors:
    """A bug answers 500 in the error shape, with a message that reveals nothing.

    An ASGI middleware rather than an ``Exception`` handler: Starlette re-raises after
    calling that one, which would put the traceback in front of the client's server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception(
                "internal error answering %s %s",
                scope.get("method"),
                scope.get("path"),
                extra={"action": "api_internal_error"},
            )
            if started:  # too late to answer; the server closes the connection
                raise
            response = error_response(
                500,
                "internal_error",
                "syncbeat failed to answer this request (an internal error).",
                "The server's log has the details; please report it.",
            )
            await response(scope, receive, send)
