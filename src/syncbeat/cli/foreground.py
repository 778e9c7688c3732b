"""Commands that run a sync here and now, with a progress bar: sync, demo, run."""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from syncbeat.cli import render
from syncbeat.cli import verify as verify_cli
from syncbeat.cli.app import app, client
from syncbeat.cli.options import (
    BatchOpt,
    FromOpt,
    KeyOpt,
    ModeOpt,
    NameOpt,
    QueryOpt,
    TableOpt,
    ToOpt,
    ToTableOpt,
    pipeline_spec,
)
from syncbeat.engine.hooks import RunHooks
from syncbeat.engine.runner import Outcome
from syncbeat.service import demo as demo_data
from syncbeat.service.facade import Syncbeat
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.pipeline import PipelineSpec
from syncbeat.vocabulary.status import JobKind, RunEnd


class HardStop(BaseException):
    """A second Ctrl-C: leave now. Not an Exception, so nothing on the way out mistakes
    it for a failure of the job (which keeps its last committed batch)."""


class _StopFlag:
    """First Ctrl-C (or SIGTERM): stop after the current batch. Second: abort now."""

    def __init__(self, bar: render.SyncProgress) -> None:
        self.asked = False
        self._bar = bar

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.asked:
            raise HardStop
        self.asked = True
        self._bar.message(
            "[yellow]Stopping after the current batch (Ctrl-C again to abort at once)…[/yellow]"
        )

    def __enter__(self) -> _StopFlag:
        self._old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _run_foreground(
    sb: Syncbeat,
    spec: PipelineSpec | None,
    job_id: int | None,
    label: str,
    *,
    named_by_default: bool = False,
) -> tuple[Any, Outcome]:
    with render.SyncProgress(label) as bar, _StopFlag(bar) as flag:
        hooks = RunHooks(
            should_stop=lambda: flag.asked, on_progress=bar.update, on_message=bar.message
        )
        if spec is not None:
            return sb.sync(spec, hooks, named_by_default=named_by_default)
        assert job_id is not None
        return sb.run_job(job_id, hooks)


def _report(job: Any, outcome: Outcome) -> int:
    if outcome.status == RunEnd.COMPLETED:
        done = outcome.message if job.kind == JobKind.REPAIR else f"{job.rows_done:,} rows"
        render.out.print(f"[green]Job {job.id} completed:[/green] {render.escape(done)}.")
        return 0
    if outcome.status == RunEnd.RELEASED:
        render.out.print(
            f"Job {job.id} stopped at row {job.rows_done:,}; run the same command again to resume."
        )
        return 130
    if outcome.status in (RunEnd.PAUSED, RunEnd.CANCELLED):
        render.out.print(f"Job {job.id} {outcome.status} at row {job.rows_done:,}.")
        return 0
    render.err.print(f"[red]Job {job.id} {outcome.status}:[/red] {render.escape(outcome.message)}")
    return 1


@app.command()
def sync(
    source: FromOpt,
    dest: ToOpt,
    table: TableOpt = None,
    query: QueryOpt = None,
    key: KeyOpt = None,
    to_table: ToTableOpt = None,
    mode: ModeOpt = defaults.MODE,
    batch_size: BatchOpt = None,
    name: NameOpt = None,
    check: Annotated[
        bool, typer.Option("--verify", help="Verify the destination after the sync.")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Verify after the sync, and repair what differs."),
    ] = False,
) -> None:
    """Sync a table or query now, in the foreground, with a progress bar.

    Saves the pipeline (creating or updating it) and runs a full sync. If an earlier
    run was interrupted, the same command resumes it. Exit status: 0 completed (and,
    with --verify or --repair, equal), 1 failed (or different), 2 usage error, 3 could
    not verify, 130 stopped by Ctrl-C (run it again to resume).
    """
    spec = pipeline_spec(source, table, query, key, dest, to_table, mode, batch_size, name)
    sb = client()
    job, outcome = _run_foreground(sb, spec, None, spec.name, named_by_default=name is None)
    code = _report(job, outcome)
    if code == 0 and outcome.status == RunEnd.COMPLETED and (check or repair):
        code = _verify_after(sb, job.pipeline, repair=repair)
    raise typer.Exit(code)


def _verify_after(sb: Syncbeat, name: str, *, repair: bool) -> int:
    """Verify a pipeline just synced; with ``repair``, repair what differs and verify
    again. The exit status says whether the destination is equal in the end."""
    found = verify_cli.run_verify(sb, name)
    code = verify_cli.show(found, name)
    if found.equal or not repair:
        return code
    job, outcome = _run_foreground(sb, None, sb.repair(name).id, f"repair {name}")
    if (code := _report(job, outcome)) != 0:
        return code
    return verify_cli.show(verify_cli.run_verify(sb, name), name)


@app.command("repair")
def repair_pipeline(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    wait: Annotated[
        bool,
        typer.Option("--wait/--no-wait", help="Run it here (default), or queue it for a worker."),
    ] = True,
) -> None:
    """Copy again only what `syncbeat verify` finds different, and delete extra rows.

    A repair is a job like a sync: leased, checkpointed after every batch, resumed by
    the same command after a crash. It walks the key ranges in order, compares their
    checksums, and in one destination transaction per differing range upserts the
    missing and changed rows and deletes the ones the source no longer has. Exit
    status: 0 completed, 1 failed, 2 usage error, 130 stopped (run it again to resume).
    """
    sb = client()
    job = sb.repair(name)
    if not wait:
        print(job.id)
        return
    job, outcome = _run_foreground(sb, None, job.id, f"repair {name}")
    raise typer.Exit(_report(job, outcome))


@app.command()
def demo(
    rows: Annotated[int, typer.Option("--rows", help="Rows in the demo source.", min=1)] = 100_000,
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo databases go.")] = Path(
        "syncbeat-demo"
    ),
) -> None:
    """Sync a realistic SQLite table to another SQLite file, then verify both sides.

    Creates DIR/source.db, copies its `orders` table to DIR/dest.db with a live
    progress bar, and compares row counts and checksums. Ctrl-C stops after the current
    batch; running the command again resumes instead of starting over.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    sb = client()
    spec = demo_data.spec(directory)
    render.out.print(f"Source: {directory / 'source.db'} ({rows:,} rows in `orders`)")
    if demo_data.make_source(directory / "source.db", rows):
        # New source data: an unfinished demo job was about other data.
        open_job = sb.open_job(spec.name)
        if open_job is not None:
            sb.cancel(open_job)
        (directory / "dest.db").unlink(missing_ok=True)
    job, outcome = _run_foreground(sb, spec, None, "demo")
    code = _report(job, outcome)
    if outcome.status == RunEnd.COMPLETED:
        from syncbeat.engine.compare import summarise  # start-up: only the demo compares

        cols = demo_data.columns()
        src = summarise(spec.source_url, demo_data.TABLE, ["id"], cols)
        dst = summarise(spec.dest_url, demo_data.TABLE, ["id"], cols)
        same = src == dst
        render.out.print(
            f"Verify: source {src.rows:,} rows, checksum {src.checksum}; "
            f"destination {dst.rows:,} rows, checksum {dst.checksum} — "
            + ("[green]identical[/green]" if same else "[red]DIFFERENT[/red]")
        )
        render.out.print(f"See the job: syncbeat job show {job.id}")
        code = 0 if same else 1
    raise typer.Exit(code)


@app.command("run")
def run_pipeline(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Run the job here in the foreground instead of leaving it for a worker.",
        ),
    ] = False,
) -> None:
    """Queue a full sync job of a pipeline and print its id.

    An unfinished job of the pipeline is requeued (keeping its checkpoint) rather than
    started over. With --wait, run it now in this process.
    """
    sb = client()
    job = sb.enqueue(name)
    if not wait:
        print(job.id)
        return
    job, outcome = _run_foreground(sb, None, job.id, name)
    raise typer.Exit(_report(job, outcome))
