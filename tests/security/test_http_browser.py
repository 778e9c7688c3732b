"""What a web page in the user's browser can make a real `syncbeat serve` do: not
change jobs with the dashboard's cookie from another origin, not reach it under a DNS
name of its own, not frame it or run scripts in it. And a public server needs a token
that cannot be guessed."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from syncbeat.api.auth import COOKIE_NAME
from tests.support.servers import free_port

from .http_server import AUTH, Served, request, serve, start, stop

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = tmp_path_factory.mktemp("browser-store") / "store.db"
    served = start(f"sqlite:///{store}", "--allowed-host", "Syncbeat.Internal")
    yield served
    stop(served)


@pytest.fixture(scope="module")
def cookie(server: Served) -> str:
    """The session cookie a browser gets by signing in."""
    signed_in = httpx.post(
        f"{server.url}/login", data={"token": AUTH["Authorization"].split()[1], "next": "/"}
    )
    assert signed_in.status_code == 303
    value = signed_in.cookies[COOKIE_NAME]
    return f"{COOKIE_NAME}={value}"


def _queued_job(server: Served, name: str) -> int:
    body = {
        "name": name,
        "source_url": "postgresql://app@db.example/shop",  # never opened: jobs stay queued
        "source_table": "items",
        "dest_url": "postgresql://app@warehouse.example/dw",
        "dest_table": "items",
    }
    assert httpx.post(f"{server.url}/pipelines", json=body, headers=AUTH).status_code == 201
    job = httpx.post(f"{server.url}/pipelines/{name}/jobs", headers=AUTH)
    assert job.status_code == 201, job.text
    return int(job.json()["id"])


def _status(server: Served, job_id: int) -> str:
    return str(httpx.get(f"{server.url}/jobs/{job_id}", headers=AUTH).json()["status"])


@pytest.mark.parametrize(
    "where",
    [
        {"Origin": "http://127.0.0.1:9999"},  # another port of this machine: same site
        {"Origin": "http://evil.example"},
        {"Origin": "null"},  # a sandboxed frame, a data: page
        {"Referer": "http://127.0.0.1:9999/attack.html"},
        {"Sec-Fetch-Site": "same-site"},
        {},  # says nothing: a cookie alone proves no page of ours sent it
    ],
    ids=["other-port", "other-site", "null", "referer", "fetch-site", "nothing"],
)
def test_a_cookie_signed_pause_from_another_page_is_refused(
    server: Served, cookie: str, where: dict[str, str]
) -> None:
    job_id = _queued_job(server, f"csrf-{len(where)}-{abs(hash(str(where))) % 10**6}")
    headers = {**FORM, "Cookie": cookie, **where}
    answer = request(server.port, "POST", f"/jobs/{job_id}/pause", headers, [b"x=1"])
    assert answer.status == 403, answer.body
    error = json.loads(answer.body)["error"]
    assert error["code"] == "cross_origin"
    assert "Authorization: Bearer" in error["hint"]
    assert _status(server, job_id) == "queued"  # nothing changed


@pytest.mark.parametrize(
    "where",
    [
        lambda port: {"Origin": f"http://127.0.0.1:{port}"},
        lambda port: {"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # our own form
        lambda port: {"Referer": f"http://127.0.0.1:{port}/ui/jobs/1"},
    ],
    ids=["origin", "own-form", "referer"],
)
def test_a_cookie_signed_pause_from_the_dashboard_itself_works(
    server: Served, cookie: str, where: object
) -> None:
    job_id = _queued_job(server, f"own-{abs(hash(str(where))) % 10**6}")
    assert callable(where)
    headers = {"Cookie": cookie, **where(server.port)}
    answer = request(server.port, "POST", f"/jobs/{job_id}/pause", headers)
    assert answer.status == 200, answer.body
    assert _status(server, job_id) == "paused"


def test_a_bearer_token_works_whatever_the_origin(server: Served) -> None:
    job_id = _queued_job(server, "bearer")
    headers = {**AUTH, "Origin": "http://evil.example"}
    answer = request(server.port, "POST", f"/jobs/{job_id}/pause", headers)
    assert answer.status == 200, answer.body
    assert _status(server, job_id) == "paused"


def test_sign_in_from_another_origin_is_refused(server: Served) -> None:
    token = AUTH["Authorization"].split()[1].encode()
    headers = {**FORM, "Origin": "http://evil.example"}
    answer = request(server.port, "POST", "/login", headers, [b"token=" + token], chunked=True)
    assert answer.status == 403
    assert "set-cookie" not in answer.headers


def _with_host(server: Served, host: str, path: str, headers: dict[str, str]) -> int:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        raw = b""
        while piece := sock.recv(65536):
            raw += piece
    return int(raw.split(b" ", 2)[1])


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/health", {}), ("/jobs", AUTH), ("/", {}), ("/docs", AUTH)],
)
def test_a_request_for_a_foreign_host_name_is_refused(
    server: Served, cookie: str, path: str, headers: dict[str, str]
) -> None:
    port = server.port
    for rebound in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{port + 1}", "a:b:c"):
        assert _with_host(server, rebound, path, headers) == 400, rebound
    answer = request(port, "GET", path, headers)  # its own name
    assert answer.status in (200, 401)
    for own in (f"localhost:{port}", f"[::1]:{port}", "127.0.0.1", f"syncbeat.internal:{port}"):
        assert _with_host(server, own, path, headers) in (200, 401), own


def test_the_foreign_host_answer_says_what_to_do(server: Served) -> None:
    answer = httpx.get(f"{server.url}/jobs", headers={**AUTH, "Host": "evil.example"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "unknown_host"
    assert "'evil.example'" in error["message"]
    assert "--allowed-host" in error["hint"]


def test_every_answer_carries_the_security_headers(server: Served, cookie: str) -> None:
    asked = [
        httpx.get(f"{server.url}/health"),
        httpx.get(f"{server.url}/"),  # the sign-in form
        httpx.get(f"{server.url}/", headers={"Cookie": cookie}),
        httpx.get(f"{server.url}/jobs"),  # 401
        httpx.get(f"{server.url}/jobs", headers=AUTH),
        httpx.get(f"{server.url}/no-such-route", headers=AUTH),
        httpx.get(f"{server.url}/docs", headers=AUTH),
        httpx.get(f"{server.url}/ui/static/dashboard.js", headers=AUTH),
        httpx.get(f"{server.url}/health", headers={"Host": "evil.example"}),  # 400
    ]
    for answer in asked:
        where = (answer.request.url.path, answer.status_code)
        assert answer.headers.get("x-frame-options") == "DENY", where
        assert answer.headers.get("x-content-type-options") == "nosniff", where
        assert answer.headers.get("referrer-policy") == "no-referrer", where
        policy = answer.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy, where
        assert "frame-ancestors 'none'" in policy, where
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, where
        assert "http" not in policy, where  # no other origin may serve anything


@pytest.mark.parametrize("token", ["x", "a" * 31], ids=["1-char", "31-chars"])
def test_a_short_token_is_refused_on_a_public_address(tmp_path: Path, token: str) -> None:
    store = tmp_path / "store.db"
    port = str(free_port())
    proc = serve(f"sqlite:///{store}", "--host", "0.0.0.0", "--port", port, token=token)
    try:
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # it served: the refusal is missing
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2, err
    assert f"Refusing to serve on 0.0.0.0 with a {len(token)}-character SYNCBEAT_API_TOKEN" in err
    assert "32 characters" in err
    assert "secrets.token_urlsafe(32)" in err  # how to make one
    assert "Traceback" not in err
    assert len(token) == 1 or token not in err  # its length is said, never its value
    assert not store.exists()  # it stopped before opening anything


def test_the_dashboard_works_in_chromium_under_its_csp(server: Served) -> None:
    """Signing in, the jobs page and a job's page, in Chromium: the sign-in page's one
    inline style is allowed by its hash, the progress bars get their widths from the
    script, and the browser reports no Content-Security-Policy violation."""
    from playwright.sync_api import expect, sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.support.databases import IN_CI

    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{reason}; in CI the browser tests must run", pytrace=False)
        pytest.skip(reason)
    job_id = _queued_job(server, "in-chromium")
    complaints: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: complaints.append(str(exc)))
            page.goto(f"{server.url}/")
            form = page.locator("form")
            assert form.evaluate("f => getComputedStyle(f).borderRadius") == "12px"
            page.fill("#token", AUTH["Authorization"].split()[1])
            page.click("button[type=submit]")  # a form post: Origin null, Sec-Fetch-Site
            row = page.locator(f'tr[data-job-id="{job_id}"]')
            expect(row).to_be_visible()
            page.goto(f"{server.url}/ui/jobs/{job_id}")
            expect(page.locator("#job-card")).to_be_visible()
            page.locator("form[action='/logout'] button").click()
            expect(page.locator("#token")).to_be_visible()
        finally:
            browser.close()
    # The sign-in page answers 401 and there is no favicon: Chromium logs both as
    # failed loads, which are no violation.
    violations = [c for c in complaints if "Content Security Policy" in c]
    assert violations == [], violations
    assert all(c.startswith("Failed to load resource") for c in complaints), complaints
