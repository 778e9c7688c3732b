"""Pipeline specs as the tests write them, and a job of one queued in the store."""

from __future__ import annotations

from typing import Any

from syncbeat import PipelineSpec, Syncbeat


def table_copy(
    name: str, source: str, dest: str, *, table: str = "src", dest_table: str = "dst", **fields: Any
) -> PipelineSpec:
    """Copy a source table (``src``) into ``dest_table`` (``dst``); ``fields`` are any
    other of the spec's fields (``mode``, ``batch_size``, ``key``...)."""
    return PipelineSpec(
        name=name,
        source_url=source,
        source_table=table,
        dest_url=dest,
        dest_table=dest_table,
        **fields,
    )


def query_copy(
    name: str,
    source: str,
    query: str,
    dest: str,
    *,
    key: list[str] | None = None,
    dest_table: str = "dst",
    **fields: Any,
) -> PipelineSpec:
    """Copy what a SELECT returns, keyed on ``key`` (``id``), into ``dest_table``."""
    return PipelineSpec(
        name=name,
        source_url=source,
        source_query=query,
        key=["id"] if key is None else key,
        dest_url=dest,
        dest_table=dest_table,
        **fields,
    )


def queue(sb: Syncbeat, spec: PipelineSpec) -> int:
    """Save the pipeline and queue a job of it; the job's id."""
    sb.save_pipeline(spec)
    return sb.enqueue(spec.name).id
