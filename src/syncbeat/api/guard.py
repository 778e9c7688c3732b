"""What every request passes before a route sees it, and what every answer carries.

:class:`RequestGuard` is a plain ASGI middleware, so it decides on the headers alone,
before a byte of the body is read (Starlette's ``BaseHTTPMiddleware`` would buffer it):

1. the ``Host`` must be one this server answers to (400: DNS rebinding);
2. a request that carries a body must carry the token or the session cookie (401), so a
   stranger's upload is refused unread; only the sign-in form takes a body without one;
3. a state-changing request signed in by the cookie must come from this server's own
   pages (403): a browser sends the cookie on a form another site submits, too;
4. a body may hold so many bytes and must arrive within so many seconds (413, 408).

Every answer, refusals included, carries the headers of :mod:`.policy`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncbeat.api.auth import COOKIE_NAME, TOKEN_ENV, Credential, bearer_of, credential
from syncbeat.api.errors import error_response
from syncbeat.api.hosts import HostPolicy, split_host
from syncbeat.api.limits import BodyReader, BodyRefused, too_large
from syncbeat.api.policy import SECURITY_HEADERS

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

SIGN_IN_PATHS = frozenset({"/login", "/logout"})
"""Routes a browser posts to without being signed in; they bound their own bodies."""


class RequestGuard:
    """The checks above, in that order, around ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str,
        hosts: HostPolicy,
        max_body_bytes: int,
        body_timeout: float,
    ) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, guarded_send)
            return
        reader = BodyReader(receive, self.max_body_bytes, self.body_timeout)
        try:
            await self.app(scope, reader, guarded_send)
        except BodyRefused as refused:  # raised where no exception handler answers it
            if started:
                raise
            await _answer(refused)(scope, receive, guarded_send)

    def _refusal(self, scope: Scope) -> ASGIApp | None:
        headers = Headers(scope=scope)
        host = headers.get("host")
        if not self.hosts.accepts(host):
            return _unknown_host(host or "")
        length_text = headers.get("content-length")
        if length_text is not None and not length_text.strip().isdigit():
            return error_response(
                400,
                "bad_request",
                "The Content-Length header is not a number of bytes.",
                "Send the body's length in bytes, or no Content-Length at all.",
            )
        length = int(length_text) if length_text is not None else 0
        has_body = length > 0 or "transfer-encoding" in headers
        proof = credential(
            self.token,
            bearer_of(headers.get("authorization")),
            cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME),
        )
        path = scope["path"]
        if has_body and proof is None and path not in SIGN_IN_PATHS:
            return _unauthorized(given="authorization" in headers)
        if scope["method"] in UNSAFE_METHODS and _cross_site(scope, headers, proof, path):
            return _cross_origin()
        if length > self.max_body_bytes:
            return _answer(too_large(self.max_body_bytes))
        return None


def _cross_site(scope: Scope, headers: Headers, proof: Credential | None, path: str) -> bool:
    """Whether a state-changing request must be refused as sent by another site.

    A bearer token is never sent by a browser on its own, so it needs no check. A cookie
    is, so a cookie-signed request must show it comes from this server's pages. Signing
    in and out changes no job: those routes take requests from clients that say nothing
    about their origin, but not from a page that says it is elsewhere."""
    if proof == "bearer":
        return False
    own = _own_pages(scope, headers)
    if path in SIGN_IN_PATHS:
        return own is False
    return proof == "cookie" and own is not True


def _own_pages(scope: Scope, headers: Headers) -> bool | None:
    """Whether the browser says the request comes from this server's own pages: True,
    False, or None when nothing says (a client that is not a browser).

    ``Origin`` first; ``Referer`` when the origin is hidden. Under this server's
    ``Referrer-Policy: no-referrer`` a browser sends neither on a form it submits (the
    origin becomes ``null``); ``Sec-Fetch-Site``, which no page can set, then tells."""
    own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}".lower()
    origin = headers.get("origin")
    if origin and origin != "null":
        return origin.lower() == own
    referer = headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        return f"{parts.scheme}://{parts.hostname or ''}{_port(parts.port)}".lower() == own
    site = headers.get("sec-fetch-site")
    if site:
        return site == "same-origin"
    return False if origin == "null" else None


def _port(port: int | None) -> str:
    return f":{port}" if port is not None else ""


def _answer(refused: BodyRefused) -> ASGIApp:
    return error_response(
        refused.status_code, refused.code, refused.message, refused.hint, {"Connection": "close"}
    )


def _unknown_host(host: str) -> ASGIApp:
    parsed = split_host(host)
    shown = parsed[0] if parsed else host
    return error_response(
        400,
        "unknown_host",
        f"This server does not answer to the host name {shown[:100]!r}.",
        "If that is this server's name, start `syncbeat serve` with --allowed-host "
        "NAME; otherwise use its address (127.0.0.1 by default).",
    )


def _unauthorized(*, given: bool) -> ASGIApp:
    return error_response(
        401,
        "unauthorized",
        "The token is not this server's token."
        if given
        else "This endpoint needs the server's token.",
        f"Send 'Authorization: Bearer <token>', the token being {TOKEN_ENV} where "
        "`syncbeat serve` runs.",
        {"WWW-Authenticate": "Bearer"},
    )


def _cross_origin() -> ASGIApp:
    return error_response(
        403,
        "cross_origin",
        "This request came with the dashboard's cookie from a page that is not this "
        "server's: a change signed in by the cookie must come from the dashboard itself.",
        "Use the dashboard's own buttons, or send 'Authorization: Bearer <token>' from a "
        "script instead of the cookie.",
    )
