"""A real `syncbeat serve` process for the HTTP security tests, and a raw HTTP client
that can stream a body of any size (or trickle one) without holding it in memory.

The raw client speaks HTTP/1.1 over a socket itself: httpx would either buffer a body,
or stop at the first failed write and lose the answer a server sends before it closes."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import syncbeat_command
from tests.support.servers import free_port, wait_healthy

TOKEN = "http-security-test-token-0123456789abcdef"  # 41 characters: fine on any address
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MIB = 1024 * 1024


@dataclass
class Served:
    """A running `syncbeat serve`."""

    proc: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def peak_rss_bytes(self) -> int:
        """The process's peak resident memory so far (VmHWM): what a request that
        buffered a body would have raised, even if the memory was freed since."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        (line,) = [s for s in status.splitlines() if s.startswith("VmHWM:")]
        return int(line.split()[1]) * 1024


def serve(store: str, *args: str, token: str = TOKEN) -> subprocess.Popen[str]:
    """Start `syncbeat serve` (arguments ``args``) over ``store``."""
    env = {k: v for k, v in os.environ.items() if k != "SYNCBEAT_API_TOKEN"}
    env.update(SYNCBEAT_STORE=store, SYNCBEAT_API_TOKEN=token, COLUMNS="200", NO_COLOR="1")
    return subprocess.Popen(
        [*syncbeat_command(), "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start(store: str, *args: str) -> Served:
    """A server on a free port, once its /health answers."""
    port = free_port()
    served = Served(serve(store, "--port", str(port), *args), port)
    try:
        wait_healthy(served.url, served.proc)
    except pytest.fail.Exception:  # no answer in time: not left running
        stop(served)
        raise
    return served


def stop(served: Served) -> str:
    """Stop the server (SIGTERM, then SIGKILL); its stderr."""
    served.proc.terminate()
    try:
        return served.proc.communicate(timeout=30)[1]
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.communicate()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    body_bytes_sent: int
    seconds: float


def request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Iterable[bytes] = (),
    *,
    chunked: bool = False,
    timeout: float = 60,
) -> Answer:
    """Send a request whose body is ``body``'s pieces, framed by the caller's
    Content-Length or (``chunked``) by chunks, stopping as soon as the server answers
    or closes; then read the answer's status, headers and body."""
    started = time.monotonic()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            for piece in body:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered (or closed) before taking it all
                assert time.monotonic() - started < timeout, "the server never answered"
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
                sent += len(piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # it stopped reading: its answer is what counts
        raw = _read_answer(sock, started + timeout)
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    answer_headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    length = int(answer_headers.get("content-length", len(rest)))
    return Answer(
        int(status_line.split()[1]), answer_headers, rest[:length], sent, time.monotonic() - started
    )


def _read_answer(sock: socket.socket, deadline: float) -> bytes:
    raw = b""
    while True:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if sep:
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and len(rest) >= int(value):
                    return raw
        left = deadline - time.monotonic()
        assert left > 0, f"no complete answer in time; got {raw[:200]!r}"
        sock.settimeout(left)
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            piece = b""
        if not piece:
            assert raw, "the server closed the connection without an answer"
            return raw
        raw += piece


def pieces(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """``total`` bytes of JSON-ish filler, ``size`` at a time, made as they are sent."""
    piece = b"x" * size
    for _ in range(total // size):
        yield piece
