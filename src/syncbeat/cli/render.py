"""How the CLI shows things: progress bars, tables, JSON. No decisions here."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape as markup_escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
)
from rich.table import Table
from rich.text import Text

from syncbeat.engine.progress import Snapshot
from syncbeat.service.models import EventView, JobView, PipelineView, WorkerView
from syncbeat.vocabulary.status import CANCELLED, COMPLETED, FAILED, PAUSED, QUEUED, RUNNING

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} rows/s"


class _Rows(ProgressColumn):
    def render(self, task: Task) -> Text:
        total = f"{int(task.total):,}" if task.total is not None else "?"
        return Text(f"{int(task.completed):,}/{total} rows")


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(rate(task.fields.get("rate")), style="cyan")


class _Eta(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"ETA {duration(task.fields.get('eta'))}", style="magenta")


class SyncProgress:
    """A live bar fed by syncbeat's own figures (its EWMA rate and ETA, not Rich's)."""

    def __init__(self, label: str) -> None:
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            _Rows(),
            _Rate(),
            _Eta(),
            console=err,
            transient=False,
        )
        self._task = self._bar.add_task(label, total=None, rate=None, eta=None)

    def __enter__(self) -> SyncProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def update(self, snap: Snapshot) -> None:
        self._bar.update(
            self._task,
            completed=snap.rows_done,
            total=snap.rows_total,
            rate=snap.rate,
            eta=snap.eta_seconds,
        )

    def message(self, text: str) -> None:
        self._bar.console.print(text)


def as_json(value: BaseModel | Sequence[BaseModel]) -> None:
    data: Any = (
        value.model_dump(mode="json")
        if isinstance(value, BaseModel)
        else [v.model_dump(mode="json") for v in value]
    )
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _when(value: dt.datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "–"


_STATUS_STYLE = {
    COMPLETED: "green",
    RUNNING: "cyan",
    FAILED: "red",
    QUEUED: "yellow",
    PAUSED: "magenta",
    CANCELLED: "dim",
    "stale": "bold red",
}


def status(value: str) -> Text:
    return Text(value, style=_STATUS_STYLE.get(value, ""))


def job_status(job: JobView) -> Text:
    """A job's status as people should read it: a running job whose lease expired is
    stale (its process is gone or frozen), not running."""
    return status(job.shown_status)


def _eta(job: JobView) -> str:
    return duration(job.eta_seconds) if job.status == RUNNING and not job.stale else "–"


WIDE = 110
"""Terminal width from which the lists show every column with full numbers; narrower,
they keep what tells jobs apart and how they are doing, and shorten the rest."""


def count(value: int, *, short: bool) -> str:
    """A row count: 1,460,000, or 1.46M where space is short."""
    if not short or value < 10_000:
        return f"{value:,}"
    if value < 1_000_000:
        return f"{value / 1000:.1f}k"
    return f"{value / 1_000_000:.2f}M"


def _list(*, leading: int = 0) -> Table:
    """A list without borders (each vertical one costs a column of text), two spaces
    between columns; ``leading`` blank lines between rows whose cells fold."""
    return Table(box=None, pad_edge=False, header_style="bold", leading=leading)


def jobs_table(jobs: Sequence[JobView]) -> None:
    if not jobs:
        out.print("No jobs.")
        return
    wide = out.width >= WIDE
    table = _list()
    table.add_column("id", justify="right", no_wrap=True)
    # The name is what tells pipelines apart (its end is a hash): folded, never cut.
    table.add_column("pipeline", overflow="fold", min_width=12)
    table.add_column("status", no_wrap=True)
    table.add_column("done", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("rate", justify="right", no_wrap=True)
    table.add_column("ETA", justify="right", no_wrap=True)
    table.add_column("attempt" if wide else "try", justify="right", no_wrap=True)
    if wide:
        table.add_column("created", no_wrap=True)
    for job in jobs:
        pct = "–" if job.percent is None else f"{job.percent:.0f}%"
        total = "?" if job.rows_total is None else count(job.rows_total, short=not wide)
        speed = job.rows_per_second
        cells: list[str | Text] = [
            str(job.id),
            job.pipeline,
            job_status(job),
            pct,
            f"{count(job.rows_done, short=not wide)}/{total}",
            rate(speed) if wide or speed is None else f"{count(round(speed), short=True)}/s",
            _eta(job),
            f"{job.attempt}/{job.max_attempts}",
        ]
        if wide:
            cells.append(_when(job.created_at))
        table.add_row(*cells)
    out.print(table)


def _kind_shown(kind: str) -> str:
    return "full sync" if kind == "full" else kind


def job_detail(job: JobView) -> None:
    pct = "" if job.percent is None else f" ({job.percent:.1f}%)"
    total = "?" if job.rows_total is None else f"{job.rows_total:,}"
    state = job_status(job)
    if job.stale:
        state.append(" — running, but its lease expired: the process that ran it is gone")
    if job.requested:
        state.append(f" — {job.requested} requested")
    lines: list[tuple[str, str | Text]] = [
        ("job", f"{job.id} ({_kind_shown(job.kind)} of pipeline {job.pipeline})"),
        ("status", state),
        ("source", job.source),
        ("destination", job.destination),
        ("progress", f"{job.rows_done:,} of {total} rows{pct}"),
        ("rate", rate(job.rows_per_second)),
        ("ETA", _eta(job)),
        ("owner", job.owner or "–"),
        (
            "heartbeat",
            "–"
            if job.heartbeat_age_seconds is None
            else f"{job.heartbeat_age_seconds:.1f}s ago (lease epoch {job.lease_epoch})",
        ),
        ("attempt", f"{job.attempt} of {job.max_attempts}"),
        ("checkpoint", json.dumps(job.checkpoint, ensure_ascii=False) if job.checkpoint else "–"),
        ("created", _when(job.created_at)),
        ("started", _when(job.started_at)),
        ("finished", _when(job.finished_at)),
    ]
    if job.last_error:
        lines.append(("last error", Text(job.last_error, style="red")))
    for name, value in lines:
        out.print(Text.assemble((f"{name:>12}", "bold"), "  ", value))
    if job.events:
        out.print("\n[bold]recent events[/bold]")
        events_table(job.events)


def escape(text: str) -> str:
    """Text that Rich prints as it is, even with [brackets] in it."""
    return markup_escape(text)


def events_table(events: Sequence[EventView]) -> None:
    table = Table("at", "event", "epoch", "message", box=None, pad_edge=False)
    for e in events:
        table.add_row(_when(e.at), e.kind, str(e.lease_epoch or "–"), escape(e.message))
    out.print(table)


def pipelines_table(pipelines: Sequence[PipelineView]) -> None:
    if not pipelines:
        out.print("No pipelines.")
        return
    wide = out.width >= WIDE
    table = _list(leading=0 if wide else 1)
    # URLs and names are folded where the terminal is narrow, never cut: each is needed
    # whole to tell pipelines apart.
    table.add_column("name", overflow="fold", min_width=12)
    table.add_column("source", overflow="fold", min_width=12)
    table.add_column("destination", overflow="fold", min_width=12)
    table.add_column("key", overflow="fold")
    table.add_column("mode", no_wrap=True)
    table.add_column("batch", justify="right", no_wrap=True)
    for p in pipelines:
        table.add_row(
            p.name,
            escape(f"{p.source_url} {p.source_table or '(query)'}"),
            escape(f"{p.dest_url} {p.dest_table}"),
            ",".join(p.key) or ("(primary key)" if wide else "(pk)"),
            p.mode,
            "auto" if p.batch_size is None else f"{p.batch_size:,}",
        )
    out.print(table)


def pipeline_detail(p: PipelineView) -> None:
    for name, value in p.model_dump(mode="json").items():
        out.print(f"[bold]{name:>20}[/bold]  {escape(str(value))}")


def workers_table(workers: Sequence[WorkerView]) -> None:
    table = Table("name", "host", "pid", "alive", "jobs", "heartbeat", "started")
    for w in workers:
        table.add_row(
            w.name,
            w.host,
            str(w.pid),
            Text("yes", style="green") if w.alive else Text("no", style="red"),
            ",".join(map(str, w.jobs)) or "–",
            f"{w.heartbeat_age_seconds:.1f}s ago",
            _when(w.started_at),
        )
    out.print(table if workers else "No workers.")
