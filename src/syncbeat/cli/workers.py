"""Commands about workers: run one, list them."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Annotated

import typer

from syncbeat.cli import render
from syncbeat.cli.app import app, client, settings
from syncbeat.cli.foreground import HardStop
from syncbeat.cli.options import DataDirOpt, JsonOpt, SecretPrefixOpt, SecretVarOpt, allowlist
from syncbeat.vocabulary import defaults


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs to run at once.")
    ] = defaults.WORKER_CONCURRENCY,
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
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            min=1,
            max=65535,
            help="Serve Prometheus metrics on this port (GET /metrics): this worker's "
            "counters and the store's gauges.",
        ),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option(
            "--metrics-host",
            help="Address the metrics port listens on; 0.0.0.0 for every interface.",
        ),
    ] = "127.0.0.1",
    secret_prefix: SecretPrefixOpt = None,
    secret_var: SecretVarOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Claim queued jobs (and jobs whose lease expired) and run them until stopped.

    Any number of workers may share one store; use a PostgreSQL store for workers on
    several machines. SIGTERM or Ctrl-C drains: each job stops after its current batch
    and goes back to the queue. A second signal exits at once (the jobs' leases then
    expire and other workers take them over).

    Jobs of pipelines saved through the API expand only the ${VAR} and open only the
    SQLite files that --secret-prefix, --secret-var and --data-dir allow.
    """
    from syncbeat import exposition
    from syncbeat.service.worker import WorkerSettings

    if not settings.debug:
        logging.getLogger("syncbeat").setLevel(logging.INFO)
    sb = client()
    w = sb.worker(
        WorkerSettings(
            concurrency=concurrency,
            heartbeat_interval=heartbeat_interval,
            lease_ttl=lease_ttl,
            max_attempts=max_attempts,
            batch_timeout=batch_timeout,
            poll_interval=poll_interval,
            once=once,
            name=name,
            allowlist=allowlist(secret_prefix, secret_var, data_dir),
        )
    )
    signals = {signal.SIGINT, signal.SIGTERM}

    def drain(signum: int, frame: FrameType | None) -> None:
        if w.stopping:
            raise HardStop
        render.err.print("Draining: jobs stop after their current batch…")
        w.stop()

    # Before the worker registers: a port in use stops it with nothing written.
    server = None if metrics_port is None else exposition.serve(sb, metrics_port, metrics_host)
    old = {sig: signal.signal(sig, drain) for sig in signals}
    try:
        render.err.print(f"Worker {w.name} on {sb.store.masked_url}, concurrency {concurrency}.")
        if server is not None:
            render.err.print(f"Metrics on http://{metrics_host}:{metrics_port}/metrics")
        ran = w.run()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if server is not None:
            server.shutdown()
    render.err.print(f"Worker {w.name} stopped after {ran} job(s).")


@app.command("workers")
def workers_list(
    json_: JsonOpt = False,
    all_: Annotated[bool, typer.Option("--all", help="Include stopped workers.")] = False,
) -> None:
    """Workers with their host, pid, current jobs and last heartbeat age."""
    found = client().workers(include_stopped=all_)
    render.as_json(found) if json_ else render.workers_table(found)
