"""Commands that compare a destination with its source, and repair it: verify, repair."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from syncbeat.cli import render
from syncbeat.cli.app import app, client
from syncbeat.cli.options import JsonOpt
from syncbeat.service.facade import Syncbeat
from syncbeat.vocabulary.errors import ConfigError, NotFoundError, SyncbeatError

if TYPE_CHECKING:  # start-up: the verify engine loads when a verify runs (Syncbeat.verify)
    from syncbeat.engine.verify import Report

EQUAL, DIFFERENT, UNVERIFIED = 0, 1, 3
"""verify's exit statuses (2 is every command's usage error)."""


class Unverified(SyncbeatError):
    """Verify could not compare (a database it could not read): nothing was decided,
    which a script must not take for "different" (exit status UNVERIFIED, not 1)."""


def run_verify(sb: Syncbeat, name: str, *, quiet: bool = False) -> Report:
    """Verify a pipeline with a live count of the rows compared (on stderr)."""
    try:
        if quiet:
            return sb.verify(name)
        with render.err.status("Verifying…") as status:

            def shown(report: Report) -> None:
                status.update(f"Verifying… {report.source_rows:,} source rows compared")

            return sb.verify(name, on_segment=shown)
    except ConfigError:
        raise
    except NotFoundError as exc:  # a mistyped name is a usage error here too
        raise ConfigError(exc.message, hint=exc.hint) from None
    except SyncbeatError as exc:
        raise Unverified(exc.message, hint=exc.hint) from None


def show(report: Report, name: str) -> int:
    """Print the report of pipeline ``name`` in words and keys; its exit status."""
    if report.equal:
        render.out.print(f"[green]{render.escape(report.describe())}[/green]")
    else:
        render.out.print(f"[red]{render.escape(report.describe())}[/red]")
        for found, what in (
            (report.missing, "missing"),
            (report.extra, "extra"),
            (report.changed, "changed"),
        ):
            if found.count:
                more = f" (first {len(found.keys)})" if found.count > len(found.keys) else ""
                keys = ", ".join(json.dumps(k, ensure_ascii=False) for k in found.keys)
                render.out.print(f"  {what} keys{more}: {render.escape(keys)}")
        render.out.print(f"Repair it with: syncbeat repair {name} (copies only these rows)")
    return EQUAL if report.equal else DIFFERENT


@app.command()
def verify(
    name: Annotated[str, typer.Argument(help="Pipeline name.")],
    json_: JsonOpt = False,
) -> None:
    """Compare a pipeline's destination with its source; writes nothing.

    Each database checksums its own rows over ranges of the key, so only ranges that
    differ are split again and, at the end, fetched row by row: the report lists the
    keys missing from the destination, extra in it, and changed (with the columns).
    Values converted on purpose (docs/types.md) compare equal. Exit status: 0 equal,
    1 different, 2 usage error (or a pipeline that cannot be compared), 3 could not
    compare (a database error; nothing was decided).
    """
    report = run_verify(client(), name, quiet=json_)
    if json_:
        print(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
        raise typer.Exit(EQUAL if report.equal else DIFFERENT)
    raise typer.Exit(show(report, name))
