"""Commands about pipelines: add, list, show, rm."""

from __future__ import annotations

from typing import Annotated

import typer

from syncbeat.cli import render
from syncbeat.cli.app import client, pipeline_app
from syncbeat.cli.options import (
    BatchOpt,
    FromOpt,
    JsonOpt,
    KeyOpt,
    ModeOpt,
    QueryOpt,
    TableOpt,
    ToOpt,
    ToTableOpt,
    pipeline_spec,
)
from syncbeat.vocabulary import defaults


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
    """Create or update a pipeline (without running it; see `syncbeat run`).

    Passwords must be written as ${VAR}: a literal one is never stored, so no job of
    the pipeline could connect, and it is refused."""
    spec = pipeline_spec(source, table, query, key, dest, to_table, mode, batch_size, name)
    view = client().save_pipeline(spec)
    render.as_json(view) if json_ else render.out.print(f"Pipeline {view.name} saved.")


@pipeline_app.command("list")
def pipeline_list(json_: JsonOpt = False) -> None:
    """List pipelines."""
    found = client().pipelines()
    render.as_json(found) if json_ else render.pipelines_table(found)


@pipeline_app.command("show")
def pipeline_show(
    name: Annotated[str, typer.Argument(help="Pipeline name.")], json_: JsonOpt = False
) -> None:
    """Show one pipeline's definition (passwords masked)."""
    view = client().pipeline(name)
    render.as_json(view) if json_ else render.pipeline_detail(view)


@pipeline_app.command("rm")
def pipeline_rm(name: Annotated[str, typer.Argument(help="Pipeline name.")]) -> None:
    """Remove a pipeline and its finished jobs' history (not its destination data)."""
    client().remove_pipeline(name)
    render.out.print(f"Pipeline {name} removed.")
