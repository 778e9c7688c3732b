"""Repair as a user runs it: `syncbeat verify` says what differs, `syncbeat repair` puts
exactly that right (and nothing else), a repair killed with SIGKILL mid-way leaves the
destination consistent with its checkpoint and resumes from it, and `sync --repair`
ends with a destination equal to its source.
"""

from __future__ import annotations

import json
import signal
import subprocess

from syncbeat import PipelineSpec, Syncbeat
from tests.support import sql
from tests.support.cli import fails, run_cli, spawn
from tests.support.polling import wait_for
from tests.support.tables import make_source

ROWS = 45_000
STATE = "_syncbeat_state"


def damage(url: str) -> int:
    """Missing, changed and extra rows all through the table; how many rows differ."""
    sql.execute(
        url,
        "DELETE FROM dst WHERE mod(id, 10) = 0",
        "UPDATE dst SET payload = 'damaged' WHERE mod(id, 17) = 0",
        f"INSERT INTO dst SELECT g, 'extra', NULL, NULL FROM generate_series({ROWS + 1},"
        f" {ROWS + 500}) g",
    )
    changed = len([i for i in range(1, ROWS + 1) if i % 17 == 0 and i % 10])
    return ROWS // 10 + changed + 500


def synced(store: str, source: str, dest: str) -> None:
    make_source(source, "src", ROWS)
    spec = PipelineSpec(
        name="r", source_url=source, source_table="src", dest_url=dest, dest_table="dst"
    )
    sb = Syncbeat(store)
    try:
        assert sb.sync(spec)[1].status == "completed"
    finally:
        sb.close()


def rows(url: str, table: str, where: str = "TRUE") -> list[tuple[object, ...]]:
    return sql.query(url, f"SELECT * FROM {table} WHERE {where} ORDER BY id")


def test_verify_then_repair_put_right_exactly_what_differs(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    synced(store_url, pg_url, pg_url2)
    assert run_cli("verify", "r", store=store_url).returncode == 0
    differing = damage(pg_url2)
    found = run_cli("verify", "r", "--json", store=store_url)
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    assert report["missing"]["count"] == ROWS // 10
    assert report["missing"]["keys"][:3] == [10, 20, 30]
    assert report["extra"]["count"] == 500 and report["extra"]["keys"][0] == ROWS + 1
    assert report["changed"]["columns"] == {"payload": differing - ROWS // 10 - 500}
    said = run_cli("verify", "r", store=store_url)
    assert said.returncode == 1
    assert "missing from the destination" in said.stdout and "syncbeat repair r" in said.stdout

    repaired = run_cli("repair", "r", store=store_url)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert f"{differing - 500:,} rows copied again, 500 deleted" in repaired.stdout
    assert rows(pg_url2, "dst") == rows(pg_url, "src")
    assert run_cli("verify", "r", store=store_url).returncode == 0


def test_a_killed_repair_is_consistent_with_its_checkpoint_and_resumes_from_it(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    synced(store_url, pg_url, pg_url2)
    differing = damage(pg_url2)
    # Each repair batch writes the destination through a statement that sleeps, so the
    # repair is surely mid-way when it is killed.
    sql.execute(
        pg_url2,
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_sleep(0.4); RETURN NULL; END $$",
        "CREATE TRIGGER slow AFTER INSERT OR UPDATE OR DELETE ON dst"
        " FOR EACH STATEMENT EXECUTE FUNCTION slow()",
    )
    before = {row[0]: row for row in rows(pg_url2, "dst")}
    process = spawn(
        "repair", "r", store=store_url, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def committed() -> int:
        assert process.poll() is None, "the repair ended before it was killed"
        found = sql.query(pg_url2, f"SELECT batch_index FROM {STATE} WHERE status = 'running'")
        return found[0][0] if found and found[0][0] >= 1 else 0

    wait_for("a repair batch committed", committed, 60)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)

    # Up to the checkpoint the destination is the source; after it, untouched.
    (last_key,) = sql.query(pg_url2, f"SELECT last_key FROM {STATE} WHERE status = 'running'")[0]
    upto = json.loads(last_key)[0]
    assert 0 < upto < ROWS
    assert rows(pg_url2, "dst", f"id <= {upto}") == rows(pg_url, "src", f"id <= {upto}")
    after = rows(pg_url2, "dst", f"id > {upto}")
    assert after == [row for key, row in sorted(before.items()) if key > upto]

    sql.execute(pg_url2, "DROP TRIGGER slow ON dst")
    resumed = run_cli("repair", "r", store=store_url)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert rows(pg_url2, "dst") == rows(pg_url, "src")
    sb = Syncbeat(store_url)
    try:
        (job,) = [j for j in sb.jobs() if j.kind == "repair"]
        kinds = [e.kind for e in sb.events(job.id, limit=500)]
        assert kinds.count("claimed") == 2 and "resumed" in kinds
        # Every differing row was repaired once: none twice (rows done count them).
        assert job.status == "completed" and job.rows_done == differing
    finally:
        sb.close()
    shown = run_cli("job", "show", str(job.id), store=store_url)
    assert "repair of pipeline r" in shown.stdout and "rows copied again" in shown.stdout


def test_sync_with_repair_ends_equal_and_verify_refuses_a_keyless_pipeline(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    synced(store_url, pg_url, pg_url2)
    damage(pg_url2)  # the sync's upserts put right all but the extra rows
    args = ["--from", pg_url, "--table", "src", "--to", pg_url2, "--to-table", "dst"]
    done = run_cli("sync", *args, "--name", "r", "--repair", store=store_url, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "extra in the destination" in done.stdout and "Equal" in done.stdout
    assert rows(pg_url2, "dst") == rows(pg_url, "src")

    query = ["--query", "SELECT payload FROM src", "--to-table", "payloads"]
    saved = run_cli(
        "pipeline", "add", "nokey", "--from", pg_url, "--to", pg_url2, *query, store=store_url
    )
    assert saved.returncode == 0, saved.stderr
    fails(run_cli("verify", "nokey", store=store_url), 2, "has no key", "--key")
    fails(run_cli("verify", "nope", store=store_url), 2, "no pipeline named 'nope'")


def test_a_repair_whose_connections_are_cut_tries_again_and_ends_equal(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    """An administrator (or a failover) cuts every connection of the source's database
    mid-repair: the batch is tried again on new connections, not failed."""
    synced(store_url, pg_url, pg_url2)
    damage(pg_url2)
    sql.execute(
        pg_url2,
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_sleep(0.4); RETURN NULL; END $$",
        "CREATE TRIGGER slow AFTER INSERT OR UPDATE OR DELETE ON dst"
        " FOR EACH STATEMENT EXECUTE FUNCTION slow()",
    )
    process = spawn(
        "repair", "r", store=store_url, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )

    def committed() -> int:
        assert process.poll() is None, "the repair ended before its connections were cut"
        found = sql.query(pg_url2, f"SELECT batch_index FROM {STATE} WHERE status = 'running'")
        return found[0][0] if found and found[0][0] >= 1 else 0

    wait_for("a repair batch committed", committed, 60)
    source_db = pg_url.rsplit("/", 1)[1]
    sql.execute(
        pg_url2,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{source_db}' AND pid <> pg_backend_pid()",
    )
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 0, out
    assert rows(pg_url2, "dst") == rows(pg_url, "src")
