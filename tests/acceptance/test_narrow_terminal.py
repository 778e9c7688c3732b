"""`syncbeat jobs` and `syncbeat pipeline list` in an 80-column terminal: every line fits,
and what tells the rows apart (the whole pipeline name, the URLs) and how a job is doing
(status, rows, rate, ETA, attempt) is all there, folded where it must be, never cut."""

from __future__ import annotations

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.store import jobs, protocol
from syncbeat.vocabulary.pipeline import default_name
from tests.support.cli import run_cli

WIDTH = 80
SOURCE = "postgresql://app:${PGPASS}@orders-primary.db.example.com:5432/shop"
DEST = "mysql://loader:${DWPASS}@warehouse.analytics.example.com:3306/warehouse_reporting"


def _column(text: str, header: str, next_header: str) -> str:
    """The text of one left-aligned column, read down every line and joined, as a reader
    follows a folded cell."""
    lines = text.splitlines()
    start, end = lines[0].index(header), lines[0].index(next_header)
    return "".join(line[start:end].strip() for line in lines[1:])


def _narrow(*args: str, store: str) -> str:
    result = run_cli(*args, store=store, env={"COLUMNS": str(WIDTH)}, check=True)
    for line in result.stdout.splitlines():
        assert len(line.rstrip()) <= WIDTH, f"{len(line)} columns: {line!r}"
    return result.stdout


def test_jobs_and_pipelines_are_readable_at_80_columns(store_url: str) -> None:
    sb = Syncbeat(store_url)
    names = [
        default_name(SOURCE, "public.customer_orders", DEST, "customer_orders"),
        default_name(SOURCE, "public.line_items", DEST, "line_items"),
    ]
    for name, table in zip(names, ("public.customer_orders", "public.line_items"), strict=True):
        sb.save_pipeline(
            PipelineSpec(
                name=name,
                source_url=SOURCE,
                source_table=table,
                dest_url=DEST,
                dest_table=table.rpartition(".")[2],
            )
        )
    queued = sb.enqueue(names[0]).id
    running = sb.enqueue(names[1]).id
    with sb.store.begin() as conn:  # a worker elsewhere is half-way through it
        assert protocol.claim(conn, "w1@elsewhere:1", 300, job_id=running) is not None
        conn.execute(
            jobs.update()
            .where(jobs.c.id == running)
            .values(rows_done=1_460_000, rows_total=2_000_000, rate=41_210.0)
        )
    sb.close()

    listed = _narrow("jobs", store=store_url)
    assert _column(listed, "pipeline", "status") == names[1] + names[0]  # newest first
    lines = listed.splitlines()
    row = next(line for line in lines if line.split()[:1] == [str(running)])
    for fact in ("running", "73%", "1.46M/2.00M", "41.2k/s", "0:13", "1/5"):
        assert fact in row, (fact, row)
    row = next(line for line in lines if line.split()[:1] == [str(queued)])
    assert "queued" in row and "0/5" in row

    shown = _narrow("pipeline", "list", store=store_url)
    assert _column(shown, "name", "source") == "".join(sorted(names))
    sources = _column(shown, "source", "destination")
    assert sources.count(SOURCE) == 2 and "public.line_items" in sources
    assert _column(shown, "destination", "key").count(DEST) == 2
    assert shown.count("upsert") == 2
