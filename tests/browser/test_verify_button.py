"""The job page's Verify button in a real browser, against a real `syncbeat serve`: it
compares the job's pipeline and shows the verdict in the page, the differences with
their first keys, or the API's message when verify cannot run. The jobs table and the
job page say each job's kind (a full sync, a repair)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from syncbeat import Syncbeat
from tests.support.servers import free_port, wait_healthy
from tests.support.specs import table_copy
from tests.support.sql import execute

from .conftest import CHROMIUM_ARGS, TOKEN, Processes

pytestmark = pytest.mark.slow

ROWS = 500
UI_TIMEOUT_MS = 15_000


def sign_in(page: Page, base: str, path: str) -> None:
    page.goto(f"{base}{path}")  # the sign-in form, which returns to the page
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{base}{path}")


def test_verify_from_the_job_page(
    chromium: Path,
    sqlite_url: str,
    sqlite_url2: str,
    store_env: dict[str, str],
    processes: Processes,
) -> None:
    execute(
        sqlite_url,
        "CREATE TABLE src (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, amount INTEGER)",
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < "
        f"{ROWS}) INSERT INTO src SELECT n, 'customer ' || n, n * 3 FROM g",
    )
    sb = Syncbeat(store_env["SYNCBEAT_STORE"])
    try:
        full = sb.sync(table_copy("orders", sqlite_url, sqlite_url2))[0]
    finally:
        sb.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("serve", "serve", "--port", str(port))
    wait_healthy(base, timeout=20, diagnostics=processes.diagnostics)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, base, "/")
            row = page.locator(f'tr[data-job-id="{full.id}"]')
            expect(row.locator('[data-f="kind"]')).to_have_text("full")

            row.locator('[data-f="link"]').click()
            expect(page).to_have_url(f"{base}/ui/jobs/{full.id}")
            verdict = page.locator("#verify-verdict")
            expect(page.locator("#verify-card")).to_be_hidden()

            page.click("#verify")
            expect(verdict).to_have_text("Equal", timeout=UI_TIMEOUT_MS)
            expect(page.locator("#verify-rows")).to_contain_text(
                f"{ROWS} source rows, {ROWS} destination rows"
            )
            expect(page.locator("#verify-details")).to_be_hidden()

            execute(
                sqlite_url2,
                "DELETE FROM dst WHERE id = 17",
                "UPDATE dst SET amount = -1 WHERE id IN (120, 121)",
                f"INSERT INTO dst VALUES ({ROWS + 5}, 'stray', 0)",
            )
            page.click("#verify")
            expect(verdict).to_have_text("Different", timeout=UI_TIMEOUT_MS)
            expect(page.locator("#verify-missing")).to_have_text("1 (first keys: 17)")
            expect(page.locator("#verify-extra")).to_have_text(f"1 (first keys: {ROWS + 5})")
            expect(page.locator("#verify-changed")).to_have_text("2 (first keys: 120, 121)")
            expect(page.locator("#verify-columns")).to_have_text("amount (2)")
            expect(page.locator("#verify")).to_be_enabled()

            # What verify cannot compare is the API's message, in the page.
            execute(sqlite_url2, "DROP TABLE dst")
            page.click("#verify")
            expect(page.get_by_role("alert")).to_contain_text(
                "Could not verify pipeline orders: The destination table 'dst' does not exist",
                timeout=UI_TIMEOUT_MS,
            )
            expect(page.locator("#verify-card")).to_be_hidden()
            assert errors == [], f"the page's script failed: {errors}"
        finally:
            browser.close()


def test_a_repair_job_shows_its_kind(
    chromium: Path,
    sqlite_url: str,
    sqlite_url2: str,
    store_env: dict[str, str],
    processes: Processes,
) -> None:
    execute(sqlite_url, "CREATE TABLE src (id INTEGER PRIMARY KEY)", "INSERT INTO src VALUES (1)")
    sb = Syncbeat(store_env["SYNCBEAT_STORE"])
    try:
        sb.sync(table_copy("orders", sqlite_url, sqlite_url2))
        repair = sb.repair("orders")  # queued: no worker runs it here
    finally:
        sb.close()

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes.start("serve", "serve", "--port", str(port))
    wait_healthy(base, timeout=20, diagnostics=processes.diagnostics)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            sign_in(page, base, "/")
            kinds = page.locator('#jobs-body [data-f="kind"]')
            expect(kinds).to_have_text(["repair", "full"])
            page.locator(f'tr[data-job-id="{repair.id}"] [data-f="link"]').click()
            expect(page.locator("dl.kv dt:text-is('Kind') + dd")).to_have_text("repair")
        finally:
            browser.close()
