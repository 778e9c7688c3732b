"""``/openapi.json`` and ``/docs`` (Swagger UI), served whole by this server.

FastAPI's default docs page loads Swagger UI from a CDN, which leaves ``/docs`` blank
without internet and would need the CDN in the Content-Security-Policy. Its files come
from the ``fastapi-offline`` package instead (Swagger UI's dist files, kept current by
its maintainer), and the page starts it with a script of ours rather than an inline one.
Everything here is behind the token, like every route but ``/health``; a browser signed
in to the dashboard gets in with its cookie.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from syncbeat.api.auth import require_auth

ASSET_PREFIX = "/docs/assets/"

_SWAGGER_DIST = files("fastapi_offline").joinpath("static")
_ASSETS: dict[str, tuple[Traversable, str]] = {
    "swagger-ui-bundle.js": (_SWAGGER_DIST / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_SWAGGER_DIST / "swagger-ui.css", "text/css"),
    "favicon.png": (_SWAGGER_DIST / "favicon.png", "image/png"),
    "docs.js": (Path(__file__).parent / "static" / "docs.js", "text/javascript"),
}

_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>syncbeat API</title>
  <link rel="stylesheet" href="{ASSET_PREFIX}swagger-ui.css">
  <link rel="icon" href="{ASSET_PREFIX}favicon.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSET_PREFIX}swagger-ui-bundle.js"></script>
  <script src="{ASSET_PREFIX}docs.js"></script>
</body>
</html>
"""


@cache
def _content(name: str) -> bytes:
    return _ASSETS[name][0].read_bytes()  # read once: a few MB, asked for by every visit


def router(app: FastAPI) -> APIRouter:
    """The docs routes of ``app`` (whose schema ``/openapi.json`` serves)."""
    docs = APIRouter(include_in_schema=False, dependencies=[Depends(require_auth)])

    @docs.get("/openapi.json")
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @docs.get("/docs")
    def page() -> HTMLResponse:
        return HTMLResponse(_PAGE)

    @docs.get(ASSET_PREFIX + "{name}")
    def asset(name: str) -> Response:
        """One of a fixed list of files: no name reaches any other."""
        found = _ASSETS.get(name)
        if found is None:
            return Response(status_code=404)
        return Response(_content(name), media_type=found[1])

    return docs
