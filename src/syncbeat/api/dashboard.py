"""The live dashboard: server-rendered pages over the same library calls as the JSON API.

``/`` lists the jobs with their progress and the counts per status; ``/ui/jobs/{id}``
shows one job, its checkpoint, events and throughput, with pause, resume and cancel,
and a Verify button that compares its pipeline (``POST /pipelines/{name}/verify``).
A small script (``static/dashboard.js``, no build step) polls the JSON routes every
second and updates the page in place.

A browser signs in once with the server's token (``POST /login``) and then holds a
session cookie derived from it (see :mod:`.auth`). A page asked for without one answers
401 with the sign-in form, so the dashboard is never shown open.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from syncbeat.api.auth import (
    COOKIE_NAME,
    is_authorized,
    is_server_token,
    require_auth,
    server_token,
    session_value,
)
from syncbeat.api.deps import SyncbeatDep
from syncbeat.api.jobs import MAX_ID
from syncbeat.api.policy import inline_hash, page_policy
from syncbeat.api.throttle import SignInThrottle
from syncbeat.service.models import JobView
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.errors import JobNotFound
from syncbeat.vocabulary.status import RUNNING, WATCH_ORDER

router = APIRouter(include_in_schema=False)

_HERE = Path(__file__).parent
_STATIC = {name: _HERE / "static" / name for name in ("dashboard.css", "dashboard.js")}
# The sign-in page is what answers when no credentials came, so it leans on no other
# route: its stylesheet is inline, allowed by the page's own CSP through its hash.
_LOGIN_CSS = (_HERE / "static" / "login.css").read_text()
_LOGIN_CSP = page_policy(style_sources=[inline_hash(_LOGIN_CSS)])
templates = Jinja2Templates(directory=_HERE / "templates")

STATES = WATCH_ORDER
"""The statuses in the order the counts show them: what needs watching first."""


_EVENTS_SHOWN = 50
_CHART_EVENTS = 1000
_MAX_FORM_BYTES = 8192


# -- formatting: dashboard.js mirrors each of these for its live updates ---------------


def _duration(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _percent(value: float | None) -> str:
    if value is None:
        return "–"
    return "100%" if value >= 100 else f"{value:.1f}%"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 10:
        return f"{max(0.0, seconds):.1f} s"
    if seconds < 60:
        return f"{round(seconds)} s"
    return _duration(seconds)


def _rows(job: JobView) -> str:
    if job.rows_total is None:
        return f"{job.rows_done:,} rows"
    return f"{job.rows_done:,} / {job.rows_total:,} rows"


def _eta(job: JobView) -> str:
    if job.status != RUNNING or job.stale:
        return "–"
    return "unknown" if job.eta_seconds is None else _duration(job.eta_seconds)


def _attempt(job: JobView) -> str:
    return f"{job.attempt} of {job.max_attempts}"


def stale(job: JobView) -> bool:
    """Whether a running job's heartbeat is late: its lease expired, or more than half of
    the lease went by without a renewal (a healthy worker renews several times per lease;
    heartbeat age + time left is the lease's TTL)."""
    age, left = job.heartbeat_age_seconds, job.lease_expires_in_seconds
    if age is None or left is None:
        return False
    return left < 0 or age > (age + left) / 2


def _when(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "–"


def _clock(value: dt.datetime) -> str:
    return value.astimezone().strftime("%H:%M:%S")


def _job_ids(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids) or "idle"


def _pretty(value: Any) -> str:
    return "–" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


templates.env.filters.update(
    percent=_percent,
    rate=_rate,
    age=_age,
    rows=_rows,
    eta=_eta,
    attempt=_attempt,
    stale=stale,
    when=_when,
    clock=_clock,
    pretty=_pretty,
    job_ids=_job_ids,
)


# -- signing in ---------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only, never another site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    return target


def _login_page(
    request: Request,
    *,
    next_url: str,
    error: str | None = None,
    status_code: int = 401,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "login.html",
        {"next": _safe_next(next_url), "error": error, "css": _LOGIN_CSS},
        status_code=status_code,
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": _LOGIN_CSP,
            **(headers or {}),
        },
    )


async def _form_body(request: Request) -> bytes | None:
    """The sign-in form's bytes, or None once they pass ``_MAX_FORM_BYTES`` (the rest is
    never read)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return None
    return bytes(body)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@router.post("/login", name="dashboard_login")
async def login(request: Request) -> Response:
    """Check the token from the sign-in form; on success keep a session cookie (for the
    browser session only: no expiry) and go to the dashboard.

    Anyone may post here, so the form is read only up to a few kilobytes, and an address
    that keeps getting the token wrong is made to wait before it may try again."""
    throttle: SignInThrottle = request.app.state.sign_in_throttle
    client = request.client.host if request.client else ""
    body = await _form_body(request)
    # No await from here to the failure's count: many forms sent at once would all pass
    # a limit judged before each was read.
    wait = throttle.retry_after(client)
    if wait is not None:
        return _login_page(
            request,
            next_url="/",
            error=f"Too many wrong tokens from this address. Try again in {wait} s.",
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    if body is None:
        return _login_page(
            request, next_url="/", error="That sign-in form is too large.", status_code=413
        )
    # Parse the urlencoded form by hand: it has two small fields, and FastAPI's Form()
    # would need python-multipart for nothing more.
    form = parse_qs(body.decode("utf-8", "replace"))
    token = form.get("token", [""])[0]
    next_url = form.get("next", ["/"])[0]
    if not token:
        return _login_page(request, next_url=next_url, error="Enter the API token.")
    if not is_server_token(request, token):
        throttle.failed(client)
        return _login_page(
            request, next_url=next_url, error="That is not this server's token. Try again."
        )
    throttle.succeeded(client)
    response = RedirectResponse(_safe_next(next_url), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        session_value(server_token(request)),
        httponly=True,
        samesite="strict",
        path="/",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout", name="dashboard_logout")
def logout(request: Request) -> Response:
    """Forget the session cookie and show the sign-in form again."""
    response: Response = RedirectResponse("/", status_code=303)
    if not is_authorized(request):
        response = _login_page(request, next_url="/")
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


# -- pages --------------------------------------------------------------------------------


@router.get("/", name="dashboard_jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    sb: SyncbeatDep,
    status: Annotated[str | None, Query()] = None,
) -> Response:
    """The jobs table, the counts per status and the workers."""
    if not is_authorized(request):
        return _login_page(request, next_url=_here(request))
    shown = status if status in STATES else None
    jobs = sb.jobs(status=shown, limit=defaults.DASHBOARD_PAGE_SIZE)
    total = sb.count_jobs(status=shown)
    return templates.TemplateResponse(
        request,
        "jobs.html",
        {
            "jobs": jobs,
            "counts": sb.job_counts(),
            "states": STATES,
            "status": shown,
            "limit": defaults.DASHBOARD_PAGE_SIZE,
            "summary": f"newest {len(jobs)} of {total:,}" if total > len(jobs) else "",
            "workers": sb.workers(),
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/ui/jobs/{job_id}", name="dashboard_job", response_class=HTMLResponse)
def job_page(request: Request, job_id: str, sb: SyncbeatDep) -> Response:
    """One job: progress, checkpoint, definition, throughput, events, and the buttons."""
    # The id is parsed here, not by FastAPI, so that a visitor without a session gets
    # the sign-in form whatever the URL holds.
    if not is_authorized(request):
        return _login_page(request, next_url=_here(request))
    number = int(job_id) if re.fullmatch(r"[0-9]{1,10}", job_id) else 0
    try:
        if not 1 <= number <= MAX_ID:
            raise JobNotFound(job_id)
        job = sb.job(number, events=0)
    except JobNotFound:
        return templates.TemplateResponse(
            request,
            "missing.html",
            {"message": f"There is no job {job_id}."},
            status_code=404,
            headers={"Cache-Control": "no-store"},
        )
    events = sb.events(number, limit=_CHART_EVENTS)
    samples = [
        [e.id, e.at.timestamp(), e.data["rows_done"]]
        for e in events
        if e.kind == "batch" and e.data and isinstance(e.data.get("rows_done"), int)
    ]
    return templates.TemplateResponse(
        request,
        "job.html",
        {"job": job, "events": events[-_EVENTS_SHOWN:][::-1], "samples": samples},
        headers={"Cache-Control": "no-store"},
    )


# -- what the pages' script fetches -----------------------------------------------------------


@router.get("/ui/counts", dependencies=[Depends(require_auth)])
def counts(sb: SyncbeatDep) -> dict[str, dict[str, int]]:
    """How many jobs are in each status, for the live counts."""
    return {"counts": sb.job_counts()}


@router.get("/ui/static/{name}", name="dashboard_static", dependencies=[Depends(require_auth)])
def static(name: str) -> Response:
    """The dashboard's stylesheet and script (a fixed list: no path reaches other files)."""
    path = _STATIC.get(name)
    if path is None:
        return Response(status_code=404)
    return FileResponse(path, headers={"Cache-Control": "no-cache"})


__all__ = ["STATES", "router", "stale"]
