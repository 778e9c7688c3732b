"""Who may call the API: the holder of the server's token.

A JSON client sends it as ``Authorization: Bearer <token>``. The dashboard logs a browser
in with the token and then keeps a session cookie whose value is derived from it
(:func:`session_value`), so the raw token is never stored in a cookie. Every route but
``/health`` depends on :func:`require_auth`.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from syncbeat.api.errors import ApiError
from syncbeat.vocabulary.errors import ConfigError

TOKEN_ENV = "SYNCBEAT_API_TOKEN"  # noqa: S105 (a variable's name, not a password)
"""The environment variable that holds the API's bearer token."""

COOKIE_NAME = "syncbeat_session"
"""The dashboard's session cookie."""

_SESSION_PURPOSE = b"syncbeat-dashboard-session"

Credential = Literal["bearer", "cookie"]
"""How a request proved it may call the API. A browser sends a cookie on its own, even
on a request another site made it send; a bearer token only when a script sets it."""

_bearer = HTTPBearer(
    auto_error=False,  # we answer 401 ourselves, in the API's error shape
    description=f"The server's token: the value of {TOKEN_ENV} where `syncbeat serve` runs.",
)


def resolve_token(token: str | None) -> str:
    """The token the API demands: the one given, else ``$SYNCBEAT_API_TOKEN``.

    There is no way to serve the API without one."""
    token = token if token is not None else os.environ.get(TOKEN_ENV)
    if not token or not token.strip():
        raise ConfigError(
            "The REST API needs a token, and none was given.",
            hint=f"export {TOKEN_ENV}=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')",
        )
    return token


def session_value(token: str) -> str:
    """The session cookie's value for a server token: an HMAC of a fixed purpose string
    keyed by the token. Changing the token logs every browser out."""
    return hmac.new(token.encode(), _SESSION_PURPOSE, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    # Bytes: compare_digest refuses str with non-ASCII characters, which a header may hold.
    return hmac.compare_digest(given.encode(), expected.encode())


def is_server_token(request: Request, given: str) -> bool:
    """Whether ``given`` (a header's or the sign-in form's) is this server's token."""
    return _same(given, server_token(request))


def server_token(request: Request) -> str:
    token = request.app.state.api_token
    assert isinstance(token, str)
    return token


def bearer_of(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header's value, else None."""
    scheme, _, credentials = (authorization or "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def credential(token: str, bearer: str | None, cookie: str | None) -> Credential | None:
    """What lets a request in: the server's ``token`` as ``bearer``, or the session
    ``cookie`` derived from it; None when neither is valid."""
    if bearer and _same(bearer, token):
        return "bearer"
    if cookie and _same(cookie, session_value(token)):
        return "cookie"
    return None


def is_authorized(request: Request, bearer: str | None = None) -> bool:
    """Whether the request carries the token (as ``bearer``, when the caller parsed the
    Authorization header already, else read from it) or a valid session cookie.

    The dashboard's HTML routes use this to decide between a page and the login form."""
    if bearer is None:
        bearer = bearer_of(request.headers.get("authorization"))
    cookie = request.cookies.get(COOKIE_NAME)
    return credential(server_token(request), bearer, cookie) is not None


def require_auth(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """A dependency: 401, in the API's error shape, unless the request is authorized."""
    if is_authorized(request, credentials.credentials if credentials else ""):
        return
    raise ApiError(
        401,
        "unauthorized",
        "This endpoint needs the server's token."
        if credentials is None
        else "The token is not this server's token.",
        hint=f"Send 'Authorization: Bearer <token>', the token being {TOKEN_ENV} where "
        "`syncbeat serve` runs.",
        headers={"WWW-Authenticate": "Bearer"},
    )
