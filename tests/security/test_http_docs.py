"""`/docs` works without internet: Swagger UI's files come from this server (behind the
token, like the page), and the page asks for nothing elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin

import httpx
import pytest

from .http_server import AUTH, Served, start, stop


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    store = tmp_path_factory.mktemp("docs-store") / "store.db"
    served = start(f"sqlite:///{store}")
    yield served
    stop(served)


def _referenced(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)


def test_the_docs_page_references_only_this_servers_files(server: Served) -> None:
    page = httpx.get(f"{server.url}/docs", headers=AUTH)
    assert page.status_code == 200
    urls = _referenced(page.text)
    assert any(u.endswith("swagger-ui-bundle.js") for u in urls), urls
    assert any(u.endswith("swagger-ui.css") for u in urls), urls
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url


def test_every_file_the_docs_page_uses_answers_with_the_token_only(server: Served) -> None:
    page = httpx.get(f"{server.url}/docs", headers=AUTH)
    for url in _referenced(page.text):
        asset = httpx.get(urljoin(server.url, url), headers=AUTH)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0, url
        if url.endswith(".js"):
            assert "SwaggerUIBundle" in asset.text, url
        assert httpx.get(urljoin(server.url, url)).status_code == 401, url
    # What the page's own script asks for: the schema, from here too.
    assert httpx.get(f"{server.url}/openapi.json", headers=AUTH).json()["info"]["title"]


def test_no_other_file_is_reachable_through_the_docs_assets(server: Served) -> None:
    for name in ("../app.py", "..%2Fapp.py", "redoc.standalone.js", "index.html"):
        answer = httpx.get(f"{server.url}/docs/assets/{name}", headers=AUTH)
        assert answer.status_code == 404, name


def test_swagger_ui_renders_offline_under_the_servers_csp(server: Served) -> None:
    """In Chromium, with every request off this server refused: the page renders the
    API's operations, and the browser reports no Content-Security-Policy violation."""
    from playwright.sync_api import Request, Route, expect, sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
    from tests.support.databases import IN_CI

    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{reason}; in CI the browser tests must run", pytrace=False)
        pytest.skip(reason)
    elsewhere: list[str] = []
    complaints: list[str] = []

    def only_here(route: Route, request: Request) -> None:
        if request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_extra_http_headers(AUTH)
            page.route("**/*", only_here)
            page.on("console", lambda m: complaints.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: complaints.append(str(exc)))
            page.goto(f"{server.url}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("syncbeat")
            expect(page.locator(".opblock").first).to_be_visible()
        finally:
            browser.close()
    assert elsewhere == []
    assert complaints == []
