"""How much of a request body the server reads, and for how long.

uvicorn hands a body to the app in chunks as they arrive and stops reading the socket
while the app has not taken them, so memory is bounded by what the app accumulates:
:class:`BodyReader` stops that at a byte count and at a deadline, whatever the
``Content-Length`` said or whether there was one (a chunked body has none).
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive


class BodyRefused(HTTPException):
    """A request body the server will not read further: too large (413) or too slow
    (408). Raised from ``receive``; an ``HTTPException`` so that FastAPI's body parsing
    passes it on as it is instead of calling it a malformed body."""

    def __init__(self, status: int, code: str, message: str, hint: str) -> None:
        # The connection cannot be reused: the rest of the body is still on it, unread.
        super().__init__(status, message, headers={"Connection": "close"})
        self.code, self.message, self.hint = code, message, hint


def too_large(limit: int) -> BodyRefused:
    return BodyRefused(
        413,
        "body_too_large",
        f"The request body is larger than the {limit:,} bytes this server accepts.",
        "Send a smaller body. The limit is `syncbeat serve --max-body-bytes`.",
    )


def too_slow(timeout: float) -> BodyRefused:
    return BodyRefused(
        408,
        "body_timeout",
        f"The request body did not arrive in full within {timeout:g} s.",
        "Send the body at once, without pauses. The limit is `syncbeat serve --body-timeout`.",
    )


class BodyReader:
    """A ``receive`` that refuses a body over ``limit`` bytes, or one that is not in
    full ``timeout`` seconds after the app first asked for it."""

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self._receive = receive
        self.limit = limit
        self.timeout = timeout
        self._received = 0
        self._deadline: float | None = None
        self._complete = False

    async def __call__(self) -> Message:
        if self._complete:  # what comes after the body (a disconnect) is not bounded
            return await self._receive()
        now = asyncio.get_running_loop().time()
        if self._deadline is None:
            self._deadline = now + self.timeout
        try:
            message = await asyncio.wait_for(self._receive(), self._deadline - now)
        except TimeoutError:
            raise too_slow(self.timeout) from None
        if message["type"] != "http.request":
            self._complete = True
            return message
        self._received += len(message.get("body", b""))
        if self._received > self.limit:
            raise too_large(self.limit)
        self._complete = not message.get("more_body", False)
        return message
