"""The `syncbeat` command line: a thin skin over :class:`syncbeat.Syncbeat`."""

from __future__ import annotations

import gc
import sys
import traceback

# Start-up: the imports below make some 80,000 objects that live as long as the process
# (SQLAlchemy, psycopg, pydantic's models, the engine). The cyclic collector would walk
# them over and over while they arrive, for nothing: it is off until they are in, and
# then they are frozen (gc.freeze), so that no later collection walks them again: not
# the first one after the imports (all of them would be its youngest generation), nor
# those of the run, nor the one at exit. A tenth of a second or more off every command.
_collecting = gc.isenabled()
gc.disable()
try:
    # Importing the command modules registers their commands, in the order --help lists them.
    from syncbeat.cli import foreground, jobs, pipelines, serve, verify, workers  # noqa: F401  (registration)
    from syncbeat.cli.app import app, settings
    from syncbeat.cli.foreground import HardStop
    from syncbeat.cli.verify import UNVERIFIED, Unverified
    from syncbeat.vocabulary.errors import ConfigError, SyncbeatError
finally:
    gc.freeze()
    if _collecting:
        gc.enable()

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: library errors become a message and an exit status, never a
    traceback (unless --debug). Usage errors are Typer's: exit status 2."""
    from syncbeat.cli import render

    try:
        app()
    except SyncbeatError as exc:
        if settings.debug:
            traceback.print_exc()
        render.err.print(f"[red]error:[/red] {render.escape(exc.message)}")
        if exc.hint:
            render.err.print(f"  [bold]hint:[/bold] {render.escape(exc.hint)}")
        sys.exit(
            2 if isinstance(exc, ConfigError) else UNVERIFIED if isinstance(exc, Unverified) else 1
        )
    except HardStop:
        render.err.print(
            "Aborted. Every committed batch is kept: run the same command again to resume."
        )
        sys.exit(130)
    except Exception as exc:
        if settings.debug:
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        render.err.print(f"[red]internal error:[/red] {type(exc).__name__}: {render.escape(first)}")
        render.err.print("  Run again with --debug for the traceback, and please report it.")
        sys.exit(1)
