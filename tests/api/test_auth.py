"""Every route the app has, found by walking it, refuses a request without the server's
token (or with a wrong one); only /health is open. The right token, or the dashboard's
session cookie, is let through."""

from __future__ import annotations

import re
from typing import Any

import fastapi.routing
import httpx
import pytest
from anyio.from_thread import BlockingPortal
from fastapi import FastAPI

from syncbeat.api import create_app
from syncbeat.api.auth import COOKIE_NAME, session_value
from syncbeat.vocabulary.errors import ConfigError

from .conftest import TOKEN, assert_error, make_client, sqlite_only

# Routes that answer without a token, and why.
OPEN = {
    ("GET", "/health"): "load balancers and orchestrators probe it",
    ("POST", "/logout"): "signing out only clears the dashboard's cookie",
}

# The JSON API's routes: the walk must find at least these.
API = {
    ("GET", "/pipelines"),
    ("POST", "/pipelines"),
    ("GET", "/pipelines/{name}"),
    ("PUT", "/pipelines/{name}"),
    ("DELETE", "/pipelines/{name}"),
    ("POST", "/pipelines/{name}/jobs"),
    ("POST", "/pipelines/{name}/verify"),
    ("POST", "/pipelines/{name}/repair"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{job_id}"),
    ("GET", "/jobs/{job_id}/events"),
    ("POST", "/jobs/{job_id}/pause"),
    ("POST", "/jobs/{job_id}/resume"),
    ("POST", "/jobs/{job_id}/cancel"),
    ("GET", "/workers"),
    ("GET", "/metrics"),
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
}


def routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route, included routers flattened (FastAPI 0.12x+ keeps
    them nested in app.routes)."""
    walk: Any = getattr(fastapi.routing, "iter_route_contexts", lambda found: found)
    found = set()
    for route in walk(app.routes):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":  # HEAD is GET's twin
                found.add((method, route.path))
    return sorted(found)


def concrete(path: str) -> str:
    """A path template with its parameters filled: a job id, a pipeline or file name."""
    return re.sub(r"\{(\w+)\}", lambda m: "1" if m.group(1).endswith("id") else "p", path)


@sqlite_only
def test_the_walk_finds_every_api_route(app: FastAPI) -> None:
    assert set(routes(app)) >= API


@sqlite_only
def test_every_route_but_health_refuses_a_missing_or_wrong_token(
    app: FastAPI, portal: BlockingPortal
) -> None:
    wrong_credentials: list[dict[str, str | bytes]] = [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},  # the right secret, the wrong scheme
        {"Authorization": "Bearer ünïcode".encode()},  # compare_digest refuses non-ASCII str
        {"Cookie": f"{COOKIE_NAME}={session_value('another-token')}"},
        {"Cookie": f"{COOKIE_NAME}={TOKEN}"},  # the raw token is not a session
    ]
    refused = set()
    for method, path in routes(app):
        if (method, path) in OPEN:
            continue
        for headers in wrong_credentials:
            with make_client(app, portal, headers) as client:
                answer = client.request(method, concrete(path))
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert TOKEN not in answer.text
            if answer.headers["content-type"].startswith("application/json"):
                assert_error(answer, 401, "unauthorized")
                assert answer.headers["www-authenticate"] == "Bearer"
        refused.add((method, path))
    assert refused >= API - OPEN.keys()


@sqlite_only
def test_the_token_or_the_session_cookie_lets_a_request_through(
    app: FastAPI, portal: BlockingPortal
) -> None:
    good = [
        {"Authorization": f"Bearer {TOKEN}"},
        {"Authorization": f"bearer {TOKEN}"},
        {"Cookie": f"{COOKIE_NAME}={session_value(TOKEN)}"},
    ]
    for method, path in sorted(API):
        for headers in good:
            with make_client(app, portal, headers) as client:
                answer = client.request(method, concrete(path))
            assert answer.status_code != 401, (method, path, headers, answer.text)


@sqlite_only
def test_health_needs_no_token(anonymous: httpx.Client) -> None:
    answer = anonymous.get("/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_the_session_cookie_is_not_the_token() -> None:
    value = session_value(TOKEN)
    assert TOKEN not in value
    assert value == session_value(TOKEN) != session_value(TOKEN + "x")
    assert re.fullmatch(r"[0-9a-f]{64}", value)


def test_there_is_no_api_without_a_token(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNCBEAT_API_TOKEN", raising=False)
    for token in (None, "", "   "):
        with pytest.raises(ConfigError, match="needs a token"):
            create_app(store_url, token=token)
    monkeypatch.setenv("SYNCBEAT_API_TOKEN", "from-the-environment")
    app = create_app(store_url)
    assert app.state.api_token == "from-the-environment"
    app.state.syncbeat.close()
