"""Options shared by several commands, and turning them into a pipeline spec."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from syncbeat.connectors.allowlist import Allowlist
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.pipeline import (
    Mode,
    PipelineSpec,
    default_dest_table,
    default_name,
    parse_spec,
)


def _spec(**fields: Any) -> PipelineSpec:
    return parse_spec({k: v for k, v in fields.items() if v is not None})


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
    str, typer.Option("--mode", "-m", help=f"How rows are written: {', '.join(Mode)}.")
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
    typer.Option(
        "--name",
        "-n",
        help="Pipeline name. Default: <db>.<table>-to-<db>.<table>-<hash>, one per "
        "source/destination pair, so rerunning the same command resumes it.",
    ),
]


def pipeline_spec(
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
    dest_table = to_table or default_dest_table(table)
    if dest_table is None:
        raise typer.BadParameter("--to-table is needed with --query")
    return _spec(
        name=name or default_name(source, table, dest, dest_table),
        source_url=source,
        source_table=table,
        source_query=query,
        key=_keys(key),
        dest_url=dest,
        dest_table=dest_table,
        mode=mode,
        batch_size=batch_size,
    )


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the REST API's shape).")]

JobId = Annotated[int, typer.Argument(help="Job id (see `syncbeat jobs`).")]

# What pipelines saved through the API may reach (syncbeat.connectors.allowlist): the same three
# options on `serve` (checked when such a pipeline is saved) and `worker` (when it runs).
SecretPrefixOpt = Annotated[
    str | None,
    typer.Option(
        "--secret-prefix",
        metavar="PREFIX",
        help="API pipelines may read ${VAR} whose name starts with this (empty: none). "
        "Default: $SYNCBEAT_SECRET_PREFIX, else SYNCBEAT_SECRET_.",
    ),
]
SecretVarOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--secret-var",
        metavar="NAME",
        help="An environment variable API pipelines may read as ${VAR} (repeatable). "
        "Default: $SYNCBEAT_SECRET_VARS, comma-separated.",
    ),
]
DataDirOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        help="A directory API pipelines may keep SQLite files in, symlinks followed "
        "(repeatable). Default: $SYNCBEAT_DATA_DIRS; none, so no file URLs.",
    ),
]


def allowlist(
    secret_prefix: str | None, secret_vars: list[str] | None, data_dirs: list[str] | None
) -> Allowlist:
    return Allowlist.configured(
        secret_prefix=secret_prefix, secret_vars=secret_vars or None, data_dirs=data_dirs or None
    )
