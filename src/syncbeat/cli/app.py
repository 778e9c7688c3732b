"""The `syncbeat` command: parses arguments, calls the library, prints the answer."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from .. import __version__, defaults
from .. import demo as demo_data
from ..compare import summarise
from ..destinations import MODES
from ..errors import ConfigError
from ..pipeline import PipelineSpec, default_name
from ..runner import Outcome, RunHooks
from ..service import Syncbeat
from . import render

app = typer.Typer(
    help="Copy tables between databases in checkpointed, crash-safe batches.\n\n"
    "Every batch commits together with its checkpoint, so an interrupted sync resumes "
    "where it stopped, without losing or duplicating a row.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
pipeline_app = typer.Typer(help="Define, list, show and remove pipelines.", no_args_is_help=True)
job_app = typer.Typer(help="Show, pause, resume and cancel one job.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the job store's schema.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(job_app, name="job")
app.add_typer(db_app, name="db")


class Settings:
    store: str | None = None
    debug: bool = False


settings = Settings()


class _NoTraceback(logging.Formatter):
    """Without --debug, a logged exception shows as one line, never a traceback."""

    def formatException(self, ei: Any) -> str:
        return ""

    def formatStack(self, stack_info: str) -> str:
        return ""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_text = ""
        text = super().format(record)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text += f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''};"
            text += " --debug shows the traceback)"
        return text.rstrip()


def _version(value: bool) -> None:
    if value:
        print(f"syncbeat {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="SYNCBEAT_STORE",
            help=f"Job store URL (SQLite or PostgreSQL). Default: {defaults.STORE_URL}",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    settings.store, settings.debug = store, debug
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        if debug
        else _NoTraceback("%(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler])


def _client() -> Syncbeat:
    return Syncbeat(settings.store)


# -- running in the foreground ------------------------------------------------------------


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
    client: Syncbeat, spec: PipelineSpec | None, job_id: int | None, label: str
) -> tuple[Any, Outcome]:
    with render.SyncProgress(label) as bar, _StopFlag(bar) as flag:
        hooks = RunHooks(
            should_stop=lambda: flag.asked, on_progress=bar.update, on_message=bar.message
        )
        if spec is not None:
            return client.sync(spec, hooks)
        assert job_id is not None
        return client.run_job(job_id, hooks)


def _report(job: Any, outcome: Outcome) -> int:
    if outcome.status == "completed":
        render.out.print(f"[green]Job {job.id} completed:[/green] {job.rows_done:,} rows.")
        return 0
    if outcome.status == "queued":
        render.out.print(
            f"Job {job.id} stopped at row {job.rows_done:,}; run the same command again to resume."
        )
        return 130
    if outcome.status in ("paused", "cancelled"):
        render.out.print(f"Job {job.id} {outcome.status} at row {job.rows_done:,}.")
        return 0
    render.err.print(f"[red]Job {job.id} {outcome.status}:[/red] {render.escape(outcome.message)}")
    return 1


def _spec(**fields: Any) -> PipelineSpec:
    try:
        return PipelineSpec(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"Invalid pipeline options: {problems}") from None


def _keys(key: str | None) -> list[str] | None:
    return None if key is None else [k.strip() for k in key.split(",") if k.strip()]


FromOpt = Annotated[
    str,
    typer.Option(
        "--from", help="Source URL, e.g. postgresql://app@db/shop. Write secrets as ${VAR}."
    ),
]
ToOpt = Annotated[str, typer.Option("--to", help="Destination URL.")]
TableOpt = Annotated[
    str | None, typer.Option("--table", "-t", help="Source table ([schema.]name).")
]
QueryOpt = Annotated[
    str | None, typer.Option("--query", "-q", help="Source SELECT (instead of --table).")
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        "-k",
        help="Key columns for paging and upserts, comma-separated. "
        "Default: the table's primary key.",
    ),
]
ToTableOpt = Annotated[
    str | None,
    typer.Option("--to-table", help="Destination table. Default: the source table's name."),
]
ModeOpt = Annotated[
    str, typer.Option("--mode", "-m", help=f"How rows are written: {', '.join(MODES)}.")
]
BatchOpt = Annotated[
    int | None,
    typer.Option(
        "--batch-size",
        "-b",
        help="Rows per batch. Default: adapts to take about "
        f"{defaults.BATCH_TARGET_SECONDS:g} s per batch.",
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option("--name", "-n", help="Pipeline name. Default: derived from the source."),
]


def _pipeline_spec(
    source: str,
    table: str | None,
    query: str | None,
    key: str | None,
    dest: str,
    to_table: str | None,
    mode: str,
    batch_size: int | None,
    name: str | None,
) -> PipelineSpec:
    if (table is None) == (query is None):
        raise typer.BadParameter("give exactly one of --table and --query")
    dest_table = to_table or (table.rpartition(".")[2] if table else None)
    if dest_table is None:
        raise typer.BadParameter("--to-table is needed with --query")
    return _spec(
        name=name or default_name(source, table, dest_table),
        source_url=source,
        source_table=table,
        source_query=query,
        key=_keys(key),
        dest_url=dest,
        dest_table=dest_table,
        mode=mode,
        batch_size=batch_size,
    )


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
) -> None:
    """Sync a table or query now, in the foreground, with a progress bar.

    Saves the pipeline (creating or updating it) and runs a full sync. If an earlier
    run was interrupted, the same command resumes it. Exit status: 0 completed,
    1 failed, 2 usage error, 130 stopped by Ctrl-C (run it again to resume).
    """
    spec = _pipeline_spec(source, table, query, key, dest, to_table, mode, batch_size, name)
    client = _client()
    job, outcome = _run_foreground(client, spec, None, spec.name)
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
    client = _client()
    spec = demo_data.spec(directory)
    render.out.print(f"Source: {directory / 'source.db'} ({rows:,} rows in `orders`)")
    if demo_data.make_source(directory / "source.db", rows):
        # New source data: an unfinished demo job was about other data.
        open_job = client.open_job(spec.name)
        if open_job is not None:
            client.cancel(open_job)
        (directory / "dest.db").unlink(missing_ok=True)
    job, outcome = _run_foreground(client, spec, None, "demo")
    code = _report(job, outcome)
    if outcome.status == "completed":
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
    client = _client()
    job = client.enqueue(name)
    if not wait:
        print(job.id)
        return
    job, outcome = _run_foreground(client, None, job.id, name)
    raise typer.Exit(_report(job, outcome))


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the REST API's shape).")]


@app.command()
def jobs(
    status: Annotated[
        str | None, typer.Option("--status", "-s", help="Only jobs in this status.")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", "-p", help="Only this pipeline's jobs.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many (newest first).", min=1)
    ] = 50,
    json_: JsonOpt = False,
) -> None:
    """List jobs, newest first, with their progress."""
    found = _client().jobs(status=status, pipeline=pipeline, limit=limit)
    render.as_json(found) if json_ else render.jobs_table(found)


JobId = Annotated[int, typer.Argument(help="Job id (see `syncbeat jobs`).")]


@job_app.command("show")
def job_show(
    job_id: JobId,
    json_: JsonOpt = False,
    events: Annotated[int, typer.Option("--events", help="Recent events to show.")] = 15,
) -> None:
    """Status, progress, rate, ETA, heartbeat, attempt, checkpoint, last error, events."""
    job = _client().job(job_id, events=events)
    render.as_json(job) if json_ else render.job_detail(job)


def _act(action: str, job_id: int, json_: bool) -> None:
    job = getattr(_client(), action)(job_id)
    if json_:
        render.as_json(job)
    elif job.requested:
        render.out.print(
            f"Job {job.id}: {action} requested; the job honours it at its next batch boundary."
        )
    else:
        render.out.print(f"Job {job.id} is now {job.status}.")


@job_app.command("pause")
def job_pause(job_id: JobId, json_: JsonOpt = False) -> None:
    """Pause a job; it keeps its checkpoint. A running job stops at its next batch."""
    _act("pause", job_id, json_)


@job_app.command("resume")
def job_resume(job_id: JobId, json_: JsonOpt = False) -> None:
    """Put a paused or failed job back in the queue, keeping its checkpoint."""
    _act("resume", job_id, json_)


@job_app.command("cancel")
def job_cancel(job_id: JobId, json_: JsonOpt = False) -> None:
    """Cancel a job for good. A running job stops at its next batch."""
    _act("cancel", job_id, json_)


@pipeline_app.command("add")
def pipeline_add(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    source: FromOpt,
    dest: ToOpt,
    table: TableOpt = None,
    query: QueryOpt = None,
    key: KeyOpt = None,
    to_table: ToTableOpt = None,
    mode: ModeOpt = defaults.MODE,
    batch_size: BatchOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Create or update a pipeline (without running it; see `syncbeat run`)."""
    spec = _pipeline_spec(source, table, query, key, dest, to_table, mode, batch_size, name)
    view = _client().save_pipeline(spec)
    render.as_json(view) if json_ else render.out.print(f"Pipeline {view.name} saved.")


@pipeline_app.command("list")
def pipeline_list(json_: JsonOpt = False) -> None:
    """List pipelines."""
    found = _client().pipelines()
    render.as_json(found) if json_ else render.pipelines_table(found)


@pipeline_app.command("show")
def pipeline_show(
    name: Annotated[str, typer.Argument(help="Pipeline name.")], json_: JsonOpt = False
) -> None:
    """Show one pipeline's definition (passwords masked)."""
    view = _client().pipeline(name)
    render.as_json(view) if json_ else render.pipeline_detail(view)


@pipeline_app.command("rm")
def pipeline_rm(name: Annotated[str, typer.Argument(help="Pipeline name.")]) -> None:
    """Remove a pipeline and its finished jobs' history (not its destination data)."""
    _client().remove_pipeline(name)
    render.out.print(f"Pipeline {name} removed.")


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs to run at once.")
    ] = 1,
    heartbeat_interval: Annotated[
        float | None,
        typer.Option(
            "--heartbeat-interval",
            min=0.01,
            help="Seconds between lease renewals; also the "
            f"reaper's period. Default: each pipeline's ({defaults.HEARTBEAT_INTERVAL:g}).",
        ),
    ] = None,
    lease_ttl: Annotated[
        float | None,
        typer.Option(
            "--lease-ttl",
            min=0.01,
            help="Seconds a lease lives without renewal; keep it several "
            f"heartbeats long. Default: each pipeline's ({defaults.LEASE_TTL:g}).",
        ),
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(
            "--max-attempts",
            min=1,
            help="Claims of one job before the reaper fails it. "
            f"Default: each pipeline's ({defaults.MAX_ATTEMPTS}).",
        ),
    ] = None,
    batch_timeout: Annotated[
        float | None,
        typer.Option(
            "--batch-timeout",
            min=0.01,
            help="Seconds a batch may make no progress before it is "
            f"abandoned and the job given back. Default: {defaults.BATCH_TIMEOUT:g}.",
        ),
    ] = None,
    poll_interval: Annotated[
        float,
        typer.Option("--poll-interval", min=0.01, help="Seconds between looks for work when idle."),
    ] = defaults.POLL_INTERVAL,
    name: Annotated[
        str | None, typer.Option("--name", help="Worker name. Default: host-pid-random.")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run one job (if any is queued), then exit.")
    ] = False,
) -> None:
    """Claim queued jobs (and jobs whose lease expired) and run them until stopped.

    Any number of workers may share one store; use a PostgreSQL store for workers on
    several machines. SIGTERM or Ctrl-C drains: each job stops after its current batch
    and goes back to the queue. A second signal exits at once (the jobs' leases then
    expire and other workers take them over).
    """
    from ..worker import WorkerSettings

    if not settings.debug:
        logging.getLogger("syncbeat").setLevel(logging.INFO)
    client = _client()
    w = client.worker(
        WorkerSettings(
            concurrency=concurrency,
            heartbeat_interval=heartbeat_interval,
            lease_ttl=lease_ttl,
            max_attempts=max_attempts,
            batch_timeout=batch_timeout,
            poll_interval=poll_interval,
            once=once,
            name=name,
        )
    )
    signals = {signal.SIGINT, signal.SIGTERM}

    def drain(signum: int, frame: FrameType | None) -> None:
        if w.stopping:
            raise HardStop
        render.err.print("Draining: jobs stop after their current batch…")
        w.stop()

    old = {sig: signal.signal(sig, drain) for sig in signals}
    try:
        render.err.print(
            f"Worker {w.name} on {client.store.masked_url}, concurrency {concurrency}."
        )
        ran = w.run()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    render.err.print(f"Worker {w.name} stopped after {ran} job(s).")


@app.command("workers")
def workers_list(
    json_: JsonOpt = False,
    all_: Annotated[bool, typer.Option("--all", help="Include stopped workers.")] = False,
) -> None:
    """Workers with their host, pid, current jobs and last heartbeat age."""
    found = _client().workers(include_stopped=all_)
    render.as_json(found) if json_ else render.workers_table(found)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the job store's pending migrations (also done automatically on first use)."""
    store = _client().store
    before, after = store.migrated or (after_only := store.check_schema(), after_only)
    if before == after:
        render.out.print(f"Job store {store.masked_url} is up to date (schema {after}).")
    else:
        render.out.print(
            f"Job store {store.masked_url} upgraded from schema {before or 'none'} to {after}."
        )
