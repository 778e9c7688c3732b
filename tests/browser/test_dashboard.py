"""The dashboard in a real browser, as a person uses it.

Real processes only: `syncbeat serve` and `syncbeat worker` on an embedded store, a
PostgreSQL source whose every page read sleeps (so the job is surely mid-way for
seconds, however fast the machine), and Debian's Chromium driven headless by
Playwright (never a browser Playwright downloads). The test signs in through the form,
watches the progress bar advance and the ETA appear without reloading, pauses the job
from its page, resumes it, sees it complete, and checks the copy row for row.

The screenshots in docs/ come from here: each run writes them to the test's tmp dir,
and ``SYNCBEAT_SCREENSHOTS=1`` copies them to docs/dashboard.png and
docs/dashboard-job.png (so a CI run on a clean clone never changes the tree).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from syncbeat import PipelineSpec, Syncbeat
from tests.support.cli import pipeline_add_args, run_cli
from tests.support.servers import free_port, wait_healthy
from tests.support.sql import execute, table_rows

from .conftest import CHROMIUM_ARGS, TOKEN, Processes

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DOCS = Path(__file__).resolve().parents[2] / "docs"

ROWS = 18_000
BATCH = 600  # 30 batches ...
PAGE_DELAY = 0.45  # ... each read sleeping this long: a job of about 15-20 s
WORKER_OPTIONS = ("--heartbeat-interval", "0.2", "--lease-ttl", "2", "--poll-interval", "0.1")
UI_TIMEOUT_MS = 15_000  # for anything the page should show within a few polls


def keep_screenshot(shot: Path) -> None:
    if os.environ.get("SYNCBEAT_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / shot.name)


# -- the test -------------------------------------------------------------------------------


def make_source(pg_url: str) -> None:
    execute(
        pg_url,
        "CREATE TABLE orders (id integer PRIMARY KEY, customer text NOT NULL, "
        "amount numeric(12,2), created timestamp)",
        "INSERT INTO orders SELECT g, 'customer ' || g || repeat(' é', mod(g, 3)), "
        "CASE WHEN mod(g, 11) = 0 THEN NULL ELSE (g * 0.25)::numeric(12,2) END, "
        f"timestamp '2024-01-01' + g * interval '1 minute' FROM generate_series(1, {ROWS}) g",
    )


def make_history(store: str, pg_url: str, sqlite_url: str) -> None:
    """Jobs for the counts and the screenshot, made with the library (quicker than more
    processes): one that failed with a message, one that completed."""
    sb = Syncbeat(store)
    try:
        missing = PipelineSpec(
            name="customers",
            source_url=pg_url,
            source_table="customers",
            dest_url=sqlite_url,
            dest_table="customers",
        )
        assert sb.sync(missing)[1].status == "failed"
        sample = PipelineSpec(
            name="orders-sample",
            source_url=pg_url,
            source_query="SELECT id, customer FROM orders WHERE id <= 1000",
            key=["id"],
            dest_url=sqlite_url,
            dest_table="orders_sample",
        )
        assert sb.sync(sample)[1].status == "completed"
    finally:
        sb.close()


def sign_in(page: Page, base: str) -> None:
    """Through the form, as a person does: a wrong token first, then the right one."""
    answer = page.goto(f"{base}/")
    assert answer is not None and answer.status == 401
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("not this server's token")
    assert page.context.cookies() == []

    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}/")
    # A session cookie the page's script cannot read, gone with the browser session,
    # holding no token.
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "syncbeat_session"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["expires"] == -1, "the session cookie must not outlive the browser"
    assert TOKEN not in cookie["value"]


def watch_the_table(page: Page, job_id: str) -> None:
    row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(row.locator('[data-f="status"]')).to_have_text("running", timeout=UI_TIMEOUT_MS)
    for state, count in (("running", "1"), ("failed", "1"), ("completed", "1"), ("all", "3")):
        expect(page.locator(f'[data-count="{state}"]')).to_have_text(count)

    # The bar advances twice with no reload: the page updates itself.
    bar = row.get_by_role("progressbar")
    for _ in range(2):
        before = float(bar.get_attribute("aria-valuenow") or 0)
        page.wait_for_function(
            "([el, before]) => parseFloat(el.getAttribute('aria-valuenow')) > before",
            arg=[bar.element_handle(), before],
            timeout=UI_TIMEOUT_MS,
        )
    expect(row.locator('[data-f="eta"]')).to_have_text(
        re.compile(r"^\d+:\d\d$"), timeout=UI_TIMEOUT_MS
    )
    expect(row.locator('[data-f="rate"]')).to_have_text(re.compile(r"^[\d,]+$"))
    expect(row.locator('[data-f="attempt"]')).to_have_text("1 of 5")
    expect(row.locator('[data-f="owner"]')).to_contain_text("worker-1")
    expect(row.locator('[data-f="heartbeat"]')).not_to_have_class(re.compile("stale"))
    failed = page.locator("tr", has=page.locator('[data-f="status"]', has_text="failed"))
    expect(failed.locator('[data-f="error"]')).to_contain_text("customers")


def pause_and_resume(page: Page, store: str, dest_url: str, job_id: str) -> None:
    status = page.locator("#job-status")
    page.click("#pause")
    expect(status).to_have_text("paused", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#resume")).to_be_enabled()
    expect(page.locator("#pause")).to_be_disabled()
    expect(page.locator('#job-card [data-f="owner"]')).to_have_text("–")
    expect(page.locator("#timeline")).to_contain_text("pause requested")
    # Paused mid-way at a batch boundary: the destination holds exactly the checkpoint.
    sb = Syncbeat(store)
    try:
        paused = sb.job(int(job_id), events=0)
    finally:
        sb.close()
    assert 0 < paused.rows_done < ROWS, "the job was not paused mid-way"
    assert len(table_rows(dest_url, "orders", ["id"])) == paused.rows_done

    page.click("#resume")
    expect(status).to_have_text("completed", timeout=45_000)
    expect(page.locator('#job-card [data-f="percent"]')).to_have_text("100%")
    expect(page.locator('[data-f="checkpoint"]')).to_contain_text(f'"rows_done": {ROWS}')
    expect(page.locator("#timeline")).to_contain_text("resumed")

    # A request the job can no longer take (a race the disabled button usually hides)
    # shows the API's message instead of failing silently.
    expect(page.locator("#cancel")).to_be_disabled()
    # Enabled and clicked in one task of the page, so that no poll disables it between.
    page.locator("#cancel").evaluate("button => { button.disabled = false; button.click(); }")
    expect(page.get_by_role("alert")).to_contain_text(
        f"Could not cancel the job: Job {job_id} is completed; it cannot be cancelled"
    )
    expect(status).to_have_text("completed")


def test_watch_pause_resume_a_running_sync(
    chromium: Path,
    pg_url: str,
    sqlite_url: str,
    store_env: dict[str, str],
    processes: Processes,
    tmp_path: Path,
) -> None:
    store = store_env["SYNCBEAT_STORE"]
    make_source(pg_url)
    make_history(store, pg_url, sqlite_url)
    # The job to watch: each page read sleeps once (an InitPlan), batches are pinned.
    slow = f"SELECT * FROM orders WHERE (SELECT pg_sleep({PAGE_DELAY})) IS NOT NULL"
    definition = pipeline_add_args(
        "orders", pg_url, sqlite_url, query=slow, key="id", to_table="orders", batch_size=BATCH
    )
    run_cli(*definition, store=store, check=True)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("serve", "serve", "--port", str(port))
    processes.start("worker", "worker", "--name", "worker-1", *WORKER_OPTIONS)
    wait_healthy(base, timeout=20, diagnostics=processes.diagnostics)
    job_id = run_cli("run", "orders", store=store, check=True).stdout.strip()
    assert job_id.isdigit(), job_id

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, base)
            watch_the_table(page, job_id)
            page.screenshot(path=tmp_path / "dashboard.png", full_page=True)

            page.locator(f'tr[data-job-id="{job_id}"] [data-f="link"]').click()
            expect(page).to_have_url(f"{base}/ui/jobs/{job_id}")
            expect(page.locator("#job-status")).to_have_text("running")
            expect(page.locator("dl.kv")).to_contain_text(pg_url.split("@")[-1])
            # The throughput chart draws from the batch events (a few seconds of them).
            expect(page.locator("#chart-span")).to_have_text(
                re.compile(r"last ([4-9]|\d\d+) s"), timeout=UI_TIMEOUT_MS
            )
            assert page.locator("#chart path.line").get_attribute("d")
            page.screenshot(path=tmp_path / "dashboard-job.png", full_page=True)

            pause_and_resume(page, store, sqlite_url, job_id)
            assert errors == [], f"the page's script failed: {errors}"
        finally:
            browser.close()

    assert table_rows(sqlite_url, "orders", ["id"]) == table_rows(pg_url, "orders", ["id"])
    assert len(table_rows(sqlite_url, "orders", ["id"])) == ROWS
    for shot in ("dashboard.png", "dashboard-job.png"):
        keep_screenshot(tmp_path / shot)
