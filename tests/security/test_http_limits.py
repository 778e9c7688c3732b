"""What a request may cost a real `syncbeat serve` before it is answered: a huge body is
refused unread (the token is checked first), a body that trickles is cut off, and the
sign-in form is bounded and cannot be used to guess the token at network speed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from syncbeat import Syncbeat
from syncbeat.api.throttle import SignInThrottle

from .http_server import AUTH, MIB, TOKEN, Served, pieces, request, start, stop

HUGE = 300 * MIB
ALLOWED_GROWTH = 50 * MIB
PIPELINE = json.dumps(
    {
        "name": "orders",
        "source_url": "postgresql://app@db.example/shop",  # never opened: jobs stay queued
        "source_table": "items",
        "dest_url": "postgresql://app@warehouse.example/dw",
        "dest_table": "items",
    }
).encode()


@pytest.fixture
def server(store_url: str) -> Iterator[Served]:
    served = start(store_url, "--body-timeout", "2")
    yield served
    stop(served)


def _pipelines(store_url: str) -> list[str]:
    sb = Syncbeat(store_url)
    try:
        return [p.name for p in sb.pipelines()]
    finally:
        sb.close()


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [
        ("/pipelines", {}, 401, "unauthorized"),
        ("/pipelines", {"Authorization": "Bearer wrong"}, 401, "unauthorized"),
        ("/pipelines", AUTH, 413, "body_too_large"),
        ("/login", {}, 413, None),  # the sign-in form answers with its HTML page
    ],
    ids=["no-token", "wrong-token", "token", "login"],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_body_is_refused_without_being_read(
    server: Served,
    store_url: str,
    path: str,
    headers: dict[str, str],
    status: int,
    code: str | None,
    chunked: bool,
) -> None:
    sent_headers = {"Content-Type": "application/json", **headers}
    if not chunked:
        sent_headers["Content-Length"] = str(HUGE)
    request(server.port, "GET", "/health", {})  # the server has answered once already
    before = server.peak_rss_bytes()

    answer = request(server.port, "POST", path, sent_headers, pieces(HUGE), chunked=chunked)

    grew = server.peak_rss_bytes() - before
    assert grew < ALLOWED_GROWTH, f"peak RSS grew by {grew / MIB:.0f} MiB"
    assert answer.body_bytes_sent < HUGE // 2, "the server read most of the body"
    assert answer.status == status, answer.body[:500]
    if code is not None:
        assert json.loads(answer.body)["error"]["code"] == code
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert _pipelines(store_url) == []


def test_a_body_over_the_configured_limit_is_413_and_one_under_it_is_read(
    store_url: str,
) -> None:
    served = start(store_url, "--max-body-bytes", str(len(PIPELINE)))
    try:
        headers = {**AUTH, "Content-Type": "application/json"}
        over = request(served.port, "POST", "/pipelines", headers, [PIPELINE + b" "], chunked=True)
        assert over.status == 413, over.body
        error = json.loads(over.body)["error"]
        assert f"{len(PIPELINE):,} bytes" in error["message"]
        assert "--max-body-bytes" in error["hint"]
        assert _pipelines(store_url) == []
        fits = {**headers, "Content-Length": str(len(PIPELINE))}
        assert request(served.port, "POST", "/pipelines", fits, [PIPELINE]).status == 201
        assert _pipelines(store_url) == ["orders"]
    finally:
        stop(served)


def _trickle(every: float) -> Iterator[bytes]:
    """One byte every ``every`` seconds, for far longer than any test waits."""
    for _ in range(10_000):
        yield b"x"
        time.sleep(every)


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/login", {}), ("/pipelines", AUTH)],
    ids=["login", "api"],
)
def test_a_body_that_never_ends_is_cut_off_after_the_timeout(
    server: Served, store_url: str, path: str, headers: dict[str, str]
) -> None:
    sent = {**headers, "Content-Type": "application/json", "Content-Length": "100000"}
    answer = request(server.port, "POST", path, sent, _trickle(0.2), timeout=30)
    assert answer.status == 408, answer.body
    assert json.loads(answer.body)["error"]["code"] == "body_timeout"
    assert answer.headers.get("connection") == "close"
    assert 2 <= answer.seconds < 6, answer.seconds  # --body-timeout 2, plus slack
    assert _pipelines(store_url) == []


def _sign_in(url: str, token: str, address: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport) as client:
        return client.post(f"{url}/login", data={"token": token, "next": "/"})


def test_wrong_tokens_from_one_address_are_limited_to_five_a_minute(server: Served) -> None:
    for _ in range(5):
        assert _sign_in(server.url, "guess").status_code == 401
    limited = _sign_in(server.url, "guess")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "Too many wrong tokens" in limited.text
    # While limited, not even the right token is checked: guessing gains nothing.
    right = _sign_in(server.url, TOKEN)
    assert right.status_code == 429
    assert "set-cookie" not in right.headers
    # Another address is not held back by this one's failures.
    other = _sign_in(server.url, TOKEN, address="127.0.0.2")
    assert other.status_code == 303
    assert "syncbeat_session=" in other.headers["set-cookie"]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_sign_in_limit_lifts_after_its_window_and_remembers_boundedly() -> None:
    clock = _Clock()
    throttle = SignInThrottle(failures=5, window=60, max_clients=100, clock=clock)
    for _ in range(5):
        assert throttle.retry_after("10.0.0.1") is None
        throttle.failed("10.0.0.1")
        clock.now += 1
    assert throttle.retry_after("10.0.0.1") == 55  # the oldest failure is 5 s old
    clock.now += 55
    assert throttle.retry_after("10.0.0.1") is None  # a minute after the first failure
    # A flood of addresses: memory stays bounded; the ones seen last are remembered.
    for n in range(10_000):
        throttle.failed(f"10.1.{n // 256}.{n % 256}")
    assert len(throttle._failed) <= 100
    for _ in range(4):
        throttle.failed("10.1.39.15")  # the last address of the flood, now at 5
    assert throttle.retry_after("10.1.39.15") is not None


def test_wrong_tokens_sent_at_once_are_limited_too(server: Served) -> None:
    """Twenty sign-ins whose forms all arrive after each has been let in: had the limit
    been judged before the form was read, every one of them would be a guess."""
    form = b"token=guess&next=%2F"
    head = (
        f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(form)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(20)]
    try:
        for sock in sockets:
            sock.sendall(head + form[:-1])
        time.sleep(0.5)  # not a wait for a result: each request must be in the server first
        for sock in sockets:
            sock.sendall(form[-1:])
        statuses = []
        for sock in sockets:
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            statuses.append(int(answer.split(b" ", 2)[1]))
    finally:
        for sock in sockets:
            sock.close()
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 15, statuses
