"""`syncbeat serve`: the REST API (and dashboard) under uvicorn."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import socket
from types import FrameType
from typing import Annotated

import typer

from syncbeat.cli import render
from syncbeat.cli.app import app, client
from syncbeat.cli.options import DataDirOpt, SecretPrefixOpt, SecretVarOpt, allowlist
from syncbeat.vocabulary.defaults import BODY_TIMEOUT, MAX_BODY_BYTES, MIN_PUBLIC_TOKEN_LENGTH
from syncbeat.vocabulary.errors import ConfigError

# The API's auth.TOKEN_ENV, without importing FastAPI here; a variable's name, no secret.
_TOKEN_ENV = "SYNCBEAT_API_TOKEN"  # noqa: S105
_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")  # api.hosts', likewise
_MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _url(host: str, port: int) -> str:
    return f"http://[{host.strip('[]')}]:{port}" if ":" in host else f"http://{host}:{port}"


def _token(host: str) -> str:
    """The token from the environment; on a loopback address, a fresh one if none is set.
    Elsewhere, no token is a usage error: an open API would let anyone on the network
    read pipelines and cancel jobs."""
    token = (os.environ.get(_TOKEN_ENV) or "").strip()
    if token and not _is_loopback(host) and len(token) < MIN_PUBLIC_TOKEN_LENGTH:
        # Say how long it is, never what it is.
        raise ConfigError(
            f"Refusing to serve on {host} with a {len(token)}-character {_TOKEN_ENV}: "
            f"anyone who can reach it could guess a token shorter than "
            f"{MIN_PUBLIC_TOKEN_LENGTH} characters.",
            hint=f"Set {_TOKEN_ENV} to a long random secret, for example the output of "
            f"{_MAKE_TOKEN}, or serve on 127.0.0.1.",
        )
    if token:
        return token
    if not _is_loopback(host):
        raise ConfigError(
            f"Refusing to serve on {host} without a token: anyone who can reach it could "
            "read and change your pipelines and jobs.",
            hint=f"Set {_TOKEN_ENV} to a long random secret (for example the output of "
            f"{_MAKE_TOKEN}), or serve on 127.0.0.1.",
        )
    token = secrets.token_urlsafe(32)
    # Shown once, here, and nowhere else (no log, no page).
    render.err.print(
        f"{_TOKEN_ENV} is not set, so this server made up a token. Send it as "
        f"'Authorization: Bearer <token>' (the dashboard asks for it once):",
        soft_wrap=True,
    )
    render.err.print(f"  {token}", soft_wrap=True, markup=False)
    render.err.print(f"To choose the token, set {_TOKEN_ENV} before `syncbeat serve`.")
    return token


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler that was
    # there before: this one, so the command exits 0 instead of dying of the signal.
    raise KeyboardInterrupt


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Address to listen on. Anything but a loopback address needs "
            f"{_TOKEN_ENV} to be set, to at least {MIN_PUBLIC_TOKEN_LENGTH} characters.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on.")
    ] = 8000,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help="A host name the server answers to, besides localhost, 127.0.0.1, [::1] "
            "and the --host address (repeatable). A request for any other Host is refused "
            "(400), so a web page cannot reach the API through a name of its own (DNS "
            "rebinding): name the server's DNS names here when serving on 0.0.0.0.",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int,
        typer.Option(
            "--max-body-bytes",
            metavar="BYTES",
            min=1,
            help="Largest request body read, in bytes; a larger one is refused (413) "
            "before it is read.",
        ),
    ] = MAX_BODY_BYTES,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            metavar="SECONDS",
            min=0.1,
            help="Seconds a request body may take to arrive in full; a slower one is "
            "cut off (408).",
        ),
    ] = BODY_TIMEOUT,
    secret_prefix: SecretPrefixOpt = None,
    secret_var: SecretVarOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Serve the live dashboard (at /) and the REST API over the job store (OpenAPI
    docs at /docs, Prometheus metrics at /metrics).

    Every endpoint but /health needs the bearer token from SYNCBEAT_API_TOKEN (the
    dashboard asks for it once and keeps a session cookie); on a loopback address
    without one, a token is made up and printed once; on any other address it must
    be set and at least 32 characters long. Only requests for the server's own host
    names are answered, and a change made with the dashboard's cookie must come from
    the dashboard's own pages. The API only queues and controls jobs: run
    `syncbeat worker` to run them. Ctrl-C or SIGTERM stops it.
    Pipelines saved through it may use only the ${VAR} and SQLite files that
    --secret-prefix, --secret-var and --data-dir allow (give the workers the same).
    """
    token = _token(host)
    import uvicorn

    from syncbeat.api import create_app

    sb = client()
    url = _url(host, port)
    application = create_app(
        sb,
        token,
        allowed_hosts=[*_LOOPBACK_NAMES, host, *(allowed_host or [])],
        port=port,
        max_body_bytes=max_body_bytes,
        body_timeout=body_timeout,
        allowlist=allowlist(secret_prefix, secret_var, data_dir),
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:  # said once the port is bound, not before
                render.err.print(
                    f"Serving the syncbeat API on {url} (docs: {url}/docs) over the job "
                    f"store {sb.store.masked_url}. Ctrl-C stops it.",
                    soft_wrap=True,
                    markup=False,
                )

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server = Server(
            uvicorn.Config(
                application,
                host=host,
                port=port,
                # No access log: nothing about requests (URLs, headers) is ever logged.
                access_log=False,
                log_config=None,  # the CLI's logging setup applies to uvicorn's loggers
                server_header=False,
            )
        )
        # SystemExit: uvicorn could not start (it said why); KeyboardInterrupt: stopped.
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        sb.close()
    if not server.started:
        raise ConfigError(
            f"Could not serve on {url} (the reason is above).",
            hint="Is the port in use, or the address not this machine's? Choose another "
            "--port or --host.",
        )
    render.err.print("Stopped.")
