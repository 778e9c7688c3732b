"""A pipeline: a named definition of what to copy where, and how."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.errors import ConfigError


def lease_timing_holds(lease_ttl: float, heartbeat_interval: float) -> bool:
    """The rule between the two: a lease outlives several heartbeats, so that a worker
    misses one or two (a slow store, a GC pause) before it can lose its job."""
    return lease_ttl > heartbeat_interval


def check_lease_timing(lease_ttl: float, heartbeat_interval: float) -> None:
    """The same rule for a worker's options, as a usage error that says what to give."""
    if not lease_timing_holds(lease_ttl, heartbeat_interval):
        raise ConfigError(
            f"The lease TTL ({lease_ttl:g}s) must be longer than the heartbeat interval "
            f"({heartbeat_interval:g}s).",
            hint="Give several heartbeats per lease, e.g. --heartbeat-interval 5 --lease-ttl 30.",
        )


class Mode(StrEnum):
    """How a batch is written into the destination table."""

    UPSERT = "upsert"
    APPEND = "append"
    REPLACE = "replace"


class Origin(StrEnum):
    """Who wrote a pipeline's URLs: the operator (the CLI, the library) or a holder of an
    API token, whose pipelines may reach only what the allowlist names
    (:mod:`syncbeat.connectors.allowlist`)."""

    OPERATOR = "operator"
    API = "api"


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"
"""A pipeline's name (also as a JSON Schema pattern in the REST API)."""
_NAME = re.compile(NAME_PATTERN)

IDENTITY = ("source_url", "source_table", "source_query", "key", "dest_url", "dest_table", "mode")
"""What a job's checkpoint is about: change any of these and it means nothing."""


class PipelineSpec(BaseModel):
    """Everything a job needs to run. URLs are kept as written: ``${VAR}`` stays a
    reference; a literal password is masked before the spec is stored."""

    model_config = ConfigDict(extra="forbid")

    name: str
    source_url: str
    source_table: str | None = None
    source_query: str | None = None
    key: list[str] = Field(default_factory=list)
    dest_url: str
    dest_table: str
    mode: Mode = Mode(defaults.MODE)
    # None: adaptive, aiming at defaults.BATCH_TARGET_SECONDS per batch.
    batch_size: int | None = Field(None, ge=1, le=1_000_000)
    batch_max_retries: int = Field(defaults.BATCH_MAX_RETRIES, ge=0, le=100)
    max_attempts: int = Field(defaults.MAX_ATTEMPTS, ge=1, le=1000)
    heartbeat_interval: float = Field(defaults.HEARTBEAT_INTERVAL, gt=0)
    lease_ttl: float = Field(defaults.LEASE_TTL, gt=0)
    batch_timeout: float = Field(defaults.BATCH_TIMEOUT, gt=0)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):  # match() would let "$" accept a trailing newline
            raise ValueError(
                "use letters, digits and _ . : - (at most 200), starting with a letter or digit"
            )
        return value

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: list[str]) -> list[str]:
        value = [k.strip() for k in value if k.strip()]
        if len(set(value)) != len(value):
            raise ValueError("a key column is named twice")
        return value

    @model_validator(mode="after")
    def _check(self) -> PipelineSpec:
        if (self.source_table is None) == (self.source_query is None):
            raise ValueError("give exactly one of source_table and source_query")
        if not lease_timing_holds(self.lease_ttl, self.heartbeat_interval):
            raise ValueError(
                "lease_ttl must be longer than heartbeat_interval "
                "(several heartbeats, so one late renewal does not lose the job)"
            )
        return self

    def stored(self) -> PipelineSpec:
        """The form that may be written to the store or shown: passwords masked."""
        return self.model_copy(
            update={"source_url": urls.mask(self.source_url), "dest_url": urls.mask(self.dest_url)}
        )


def parse_spec(fields: Mapping[str, Any]) -> PipelineSpec:
    """A spec from a user's input (CLI options, an API body): everything wrong with it
    becomes one ConfigError that names each field and what is wrong with it."""
    fields = dict(fields)
    if fields.get("dest_table") is None:
        fields.pop("dest_table", None)
        default = default_dest_table(fields.get("source_table"))
        if default is not None:
            fields["dest_table"] = default
        elif fields.get("source_query") is not None:
            raise ConfigError(
                "Invalid pipeline options: dest_table: needed with source_query "
                "(a query has no table name to copy into)"
            )
    try:
        return PipelineSpec(**fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"Invalid pipeline options: {problems}") from None


def default_dest_table(source_table: str | None) -> str | None:
    """The destination table when none is given: the source table's name, without its
    schema. None for a query, which must name its destination."""
    return source_table.rpartition(".")[2] if source_table else None


def _database(url: str) -> str:
    """The database a URL names, readably: a SQLite file's stem, else the database."""
    try:
        parsed = make_url(urls.without_variables(url))
    except (ArgumentError, ValueError):
        return "db"
    database = parsed.database or parsed.host or parsed.get_backend_name()
    return PurePath(database).stem if parsed.get_backend_name() == "sqlite" else database


def _readable(text: str, limit: int) -> str:
    return re.sub(r"[^A-Za-z0-9_.:-]+", "-", text).strip("-.:")[:limit].strip("-.:")


def default_name(source_url: str, table: str | None, dest_url: str, dest_table: str | None) -> str:
    """A pipeline name that says what is copied where, one per source/destination pair.

    ``<db>.<table>-to-<db>.<table>-<hash>``: the readable part may be shortened or look
    alike for two pairs (two hosts with the same database name), so a short hash (32
    bits) of the masked URLs and the tables makes each pair a name of its own.
    The same pair always gets the same name, so rerunning one `syncbeat sync` resumes
    its pipeline; a password (masked) does not change it."""
    what = table or "query"
    into = dest_table or what
    pair = [urls.mask(source_url), what, urls.mask(dest_url), into]
    digest = hashlib.sha256(json.dumps(pair).encode()).hexdigest()[:8]
    source = f"{_readable(_database(source_url), 30)}.{_readable(what, 40)}"
    dest = f"{_readable(_database(dest_url), 30)}.{_readable(into, 40)}"
    return f"{source}-to-{dest}-{digest}".lstrip("-.:") or f"pipeline-{digest}"


def legacy_default_name(source_url: str, table: str | None, dest_table: str | None) -> str:
    """The default name of earlier versions: ``<dialect>.<table>``, shared by every pair
    that copies a table of that name from that kind of database. Only looked up, so that
    a pipeline an older syncbeat saved under it keeps being resumed."""
    base = urls.describe(source_url).split(":", 1)[0]
    what = table or dest_table or "query"
    name = re.sub(r"[^A-Za-z0-9_.:-]+", "-", f"{base}.{what}").strip("-")
    return name[:200] or "pipeline"
