"""The `syncbeat` command: the Typer app, global options and logging.

Commands live in one module per noun (foreground, jobs, pipelines, workers); each parses
its arguments, calls one library function and prints the answer.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer

from syncbeat.cli import render
from syncbeat.service.facade import Syncbeat
from syncbeat.vocabulary import defaults

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
        # Only --version reads the package metadata (importlib.metadata): start-up.
        from syncbeat import __version__

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


def client() -> Syncbeat:
    return Syncbeat(settings.store)


# -- running in the foreground ------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the job store's pending migrations (also done automatically on first use)."""
    store = client().store
    before, after = store.migrated or (after_only := store.check_schema(), after_only)
    if before == after:
        render.out.print(f"Job store {store.masked_url} is up to date (schema {after}).")
    else:
        render.out.print(
            f"Job store {store.masked_url} upgraded from schema {before or 'none'} to {after}."
        )
