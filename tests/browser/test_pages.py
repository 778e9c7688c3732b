"""What the dashboard's routes answer a browser, without one: the sign-in, the session
cookie, escaping of stored text, and the pages' status codes.

The app runs in-process over a real SQLite store (the API tests' transport); the browser
test next door covers what the page's script does with it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.api import create_app
from syncbeat.api.auth import COOKIE_NAME
from syncbeat.api.dashboard import STATES, stale
from syncbeat.service.models import JobView
from syncbeat.store import jobs, protocol
from tests.api.conftest import make_client

TOKEN = "pages-test-token-4d2"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal() as running:
        yield running


@pytest.fixture
def sb(store_url: str) -> Iterator[Syncbeat]:
    handle = Syncbeat(store_url)
    yield handle
    handle.close()


@pytest.fixture
def browser(sb: Syncbeat, portal: BlockingPortal) -> Iterator[httpx.Client]:
    """A client with no credentials; like a browser, it keeps the cookies it is given."""
    with make_client(create_app(sb, token=TOKEN), portal, {}) as client:
        yield client


def sign_in(browser: httpx.Client, token: str = TOKEN, next_url: str = "/") -> httpx.Response:
    return browser.post("/login", data={"token": token, "next": next_url})


def failed_job(sb: Syncbeat, tmp_path: Path, table: str) -> int:
    """A job that failed on a missing source table, whose name lands in its error."""
    url = f"sqlite:///{tmp_path / 'source.db'}"
    with contextlib.closing(sqlite3.connect(tmp_path / "source.db")) as db:
        db.execute("CREATE TABLE IF NOT EXISTS other (id INTEGER PRIMARY KEY)")
    spec = PipelineSpec(
        name="broken", source_url=url, source_table=table, dest_url=url, dest_table="copy"
    )
    job, outcome = sb.sync(spec)
    assert outcome.status == "failed"
    return job.id


@pytest.mark.parametrize("path", ["/", "/?status=running", "/ui/jobs/1", "/ui/jobs/nope"])
def test_a_page_without_a_session_is_the_sign_in_form(browser: httpx.Client, path: str) -> None:
    answer = browser.get(path)
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/login">' in answer.text
    assert 'name="token"' in answer.text
    assert f'name="next" value="{path}"' in answer.text, "signing in returns to the page"
    assert "<link" not in answer.text, "the form must need no other route"


@pytest.mark.parametrize("path", ["/ui/counts", "/ui/static/dashboard.js"])
def test_the_pages_resources_need_a_session(browser: httpx.Client, path: str) -> None:
    assert browser.get(path).status_code == 401


def test_signing_out_needs_a_session(browser: httpx.Client) -> None:
    assert browser.post("/logout").status_code == 401


def test_a_wrong_token_is_refused_and_sets_no_cookie(browser: httpx.Client) -> None:
    for token in ("wrong", "", TOKEN + "x", "é"):
        answer = sign_in(browser, token)
        assert answer.status_code == 401
        assert "set-cookie" not in answer.headers
        assert 'role="alert"' in answer.text
    assert browser.get("/").status_code == 401


def test_sign_in_keeps_a_session_cookie_until_the_browser_closes(browser: httpx.Client) -> None:
    answer = sign_in(browser)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert attributes == {"httponly", "path", "samesite"}, cookie  # no expiry, no Secure
    assert "SameSite=strict" in cookie and "Path=/" in cookie
    assert TOKEN not in cookie

    page = browser.get("/")
    assert page.status_code == 200
    assert "<h1>Jobs</h1>" in page.text
    assert browser.get("/ui/static/dashboard.css").status_code == 200
    assert browser.get("/ui/counts").json() == {"counts": dict.fromkeys(STATES, 0)}

    out = browser.post("/logout")
    assert out.status_code == 303
    assert COOKIE_NAME not in browser.cookies
    assert browser.get("/").status_code == 401


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("/ui/jobs/7", "/ui/jobs/7"),
        ("/?status=failed", "/?status=failed"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
    ],
)
def test_sign_in_returns_to_a_page_of_this_server_only(
    browser: httpx.Client, asked: str, lands: str
) -> None:
    assert sign_in(browser, next_url=asked).headers["location"] == lands


def test_stored_text_is_shown_as_text(browser: httpx.Client, sb: Syncbeat, tmp_path: Path) -> None:
    job_id = failed_job(sb, tmp_path, HOSTILE)
    sign_in(browser)
    for path in ("/", f"/ui/jobs/{job_id}"):
        page = browser.get(path)
        assert page.status_code == 200
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert HOSTILE not in page.text


def test_the_counts_and_the_job_page_show_the_stores_figures(
    browser: httpx.Client, sb: Syncbeat, tmp_path: Path
) -> None:
    job_id = failed_job(sb, tmp_path, "missing")
    sign_in(browser)
    assert browser.get("/ui/counts").json()["counts"]["failed"] == 1
    table = browser.get("/").text
    assert re.search(r'data-count="failed">1<', table)
    assert f'data-job-id="{job_id}"' in table

    page = browser.get(f"/ui/jobs/{job_id}")
    assert 'id="job-status" data-f="status">failed<' in page.text
    # A failed job can be resumed or cancelled, not paused.
    assert re.search(r'id="pause" data-action="pause" disabled', page.text)
    assert re.search(r'id="resume" data-action="resume">', page.text)
    assert "The source table" in page.text

    assert browser.get("/ui/jobs/999").status_code == 404
    assert browser.get("/ui/jobs/0").status_code == 404
    assert browser.get("/ui/jobs/1_000").status_code == 404


def _running(age: float | None, left: float | None) -> JobView:
    """A running job whose heartbeat is ``age`` seconds old, with ``left`` seconds of lease
    (stale reads only those two; the other fields are a plausible running job's)."""
    started = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return JobView(
        id=1,
        pipeline="p",
        kind="full",
        status="running",
        requested=None,
        owner="worker",
        lease_epoch=1,
        attempt=1,
        max_attempts=3,
        heartbeat_age_seconds=age,
        lease_expires_in_seconds=left,
        rows_done=0,
        rows_total=None,
        percent=None,
        rows_per_second=None,
        eta_seconds=None,
        checkpoint=None,
        last_error=None,
        source="source",
        destination="destination",
        created_at=started,
        started_at=started,
        finished_at=None,
    )


@pytest.mark.parametrize(
    ("age", "left", "is_stale"),
    [
        (None, None, False),  # not running
        (0.5, 299.5, False),  # just renewed
        (149.0, 151.0, False),  # half the lease left
        (151.0, 149.0, True),  # more than half the lease without a renewal
        (301.0, -1.0, True),  # the lease expired
    ],
)
def test_a_heartbeat_is_stale_after_half_its_lease(
    age: float | None, left: float | None, is_stale: bool
) -> None:
    assert stale(_running(age, left)) is is_stale


def test_a_job_whose_lease_expired_shows_as_stale(sb: Syncbeat, browser: httpx.Client) -> None:
    spec = PipelineSpec(
        name="items",
        source_url="sqlite:///s.db",
        source_table="items",
        dest_url="sqlite:///d.db",
        dest_table="items",
    )
    sb.save_pipeline(spec)
    job_id = sb.enqueue("items").id
    with sb.store.begin() as conn:
        assert protocol.claim(conn, "gone@elsewhere:1", 300, job_id=job_id) is not None
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(rate=900.0, lease_expires_at=jobs.c.heartbeat_at - 1)
        )
    sign_in(browser)
    for page in ("/", f"/ui/jobs/{job_id}"):
        html = browser.get(page).text
        assert re.search(r'class="badge[^"]*stale"[^>]*>stale<', html), page
        assert "900 rows/s" not in html, page
