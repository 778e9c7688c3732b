"""Verify a pipeline (is its destination equal to its source?) and queue its repair."""

from __future__ import annotations

import threading

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from syncbeat.api.auth import require_auth
from syncbeat.api.deps import SyncbeatDep, reject_unknown_query
from syncbeat.api.errors import AUTHED, ApiError, responses
from syncbeat.api.pipelines import AllowlistDep, PipelineName
from syncbeat.service.models import JobView
from syncbeat.vocabulary import defaults

router = APIRouter(
    tags=["pipelines"], dependencies=[Depends(require_auth), Depends(reject_unknown_query)]
)

# Each verify holds two connections and two threads for as long as it compares: a token
# holder may not start more at once than the server was sized for.
_running = threading.BoundedSemaphore(defaults.API_VERIFIES_AT_ONCE)

# A key as verify reports it: each value in one JSON-safe form whichever database held
# it (numbers as int, the rest as text), a composite key as the list of its values.
KeyPart = int | str | None
ReportedKey = KeyPart | list[KeyPart]


class VerifyFound(BaseModel):
    count: int = Field(description="How many rows.")
    keys: list[ReportedKey] = Field(
        description=f"The first of their keys (at most {defaults.VERIFY_KEYS_SHOWN})."
    )


class VerifyChanged(VerifyFound):
    columns: dict[str, int] = Field(description="Each differing column: in how many rows.")


class VerifyRows(BaseModel):
    source: int
    destination: int


class VerifyReport(BaseModel):
    """What verify found: ``equal`` is the verdict, the rest says where and how much."""

    equal: bool = Field(description="No row missing, extra or changed.")
    missing: VerifyFound = Field(description="Rows of the source the destination lacks.")
    extra: VerifyFound = Field(description="Rows of the destination the source lacks.")
    changed: VerifyChanged = Field(description="Rows both have, with some column different.")
    changed_during_verify: int = Field(
        description="Rows that differed at first and not at a second look (written while "
        "verify ran): not counted as differences."
    )
    rows: VerifyRows
    ranges_compared: int = Field(description="Key ranges whose checksums were compared.")
    rows_fetched: int = Field(description="Rows read to find the differing ones.")
    seconds: float


@router.post("/pipelines/{name}/verify", responses=responses(*AUTHED, 400, 404, 429))
def verify_pipeline(name: PipelineName, sb: SyncbeatDep, allowed: AllowlistDep) -> VerifyReport:
    """Compare the pipeline's destination with its source, by checksums the two
    databases compute over key ranges, down to the rows that differ; nothing is written.
    It answers when the comparison is done (a large table takes a while). 422 for a
    pipeline verify cannot compare (no key, a key the two databases order differently);
    400 when a side cannot be read (the destination table missing, say); 429 while
    the server already runs as many verifies as it allows at once."""
    # A plain def: FastAPI runs it in its threadpool, so a long comparison blocks no
    # other request.
    if not _running.acquire(blocking=False):
        raise ApiError(
            429,
            "verify_busy",
            f"{defaults.API_VERIFIES_AT_ONCE} verifies are running on this server already.",
            hint="Try again when one has finished.",
            headers={"Retry-After": "10"},
        )
    try:
        return VerifyReport.model_validate(sb.verify(name, allowed=allowed).to_json())
    finally:
        _running.release()


@router.post(
    "/pipelines/{name}/repair",
    status_code=202,
    responses={202: {"description": "Queued."}, **responses(*AUTHED, 404, 409)},
)
def repair_pipeline(name: PipelineName, sb: SyncbeatDep) -> JobView:
    """Queue a repair of the pipeline, for a worker to run: a job of kind ``repair`` that
    copies again only the rows verify finds missing or changed, and deletes the extra
    ones. An unfinished repair is requeued instead; 409 while a full sync is unfinished.
    The worker, not this server, checks what the pipeline may reach, as for a sync."""
    return sb.repair(name)
