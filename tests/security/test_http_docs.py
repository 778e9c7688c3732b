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
