"""A password given literally in a connection URL is refused (no job could use it, it is
never stored) without being quoted back; a ``${VAR}`` reference is kept as written."""

from __future__ import annotations

import json

import httpx
import sqlalchemy as sa

from syncbeat import Syncbeat

from .conftest import assert_error, pipeline_body

SECRET = "pw-Lit3ral-s3cret"
QUERY_SECRET = "qs-S3cret-in-query"
SOURCE = f"postgresql://app:{SECRET}@db.example:5432/shop"
DEST = (
    "postgresql://app:${SYNCBEAT_SECRET_DEST_PASSWORD}@"
    + f"warehouse.example/dw?password={QUERY_SECRET}"
)
VARIABLE_SOURCE = "postgresql://app:${SYNCBEAT_SECRET_SOURCE_PASSWORD}@db.example:5432/shop"
VARIABLE_DEST = (
    "postgresql://app:${SYNCBEAT_SECRET_DEST_PASSWORD}@warehouse.example/dw?sslmode=require"
)


def test_passwords_never_come_back(client: httpx.Client, sb: Syncbeat) -> None:
    bodies = []

    def answer(response: httpx.Response) -> httpx.Response:
        bodies.append(response.text)
        return response

    # A literal password could never be used by a job (it is not stored): refused, and
    # the refusal does not quote it.
    for source, dest in ((SOURCE, VARIABLE_DEST), (VARIABLE_SOURCE, DEST)):
        refused = answer(client.post("/pipelines", json=pipeline_body("shop", source, dest)))
        assert "${VAR}" in (refused.json()["error"]["hint"] or "")
        assert_error(refused, 422, "literal_password")
    assert answer(client.get("/pipelines")).json() == []

    created = answer(
        client.post("/pipelines", json=pipeline_body("shop", VARIABLE_SOURCE, VARIABLE_DEST))
    )
    assert created.status_code == 201, created.text
    shown = answer(client.get("/pipelines/shop")).json()
    # The reference names a secret without being one: it stays, for the worker to resolve.
    assert shown["source_url"] == VARIABLE_SOURCE
    assert shown["dest_url"] == VARIABLE_DEST

    fields = pipeline_body("shop", SOURCE, VARIABLE_DEST, batch_size=10)
    del fields["name"]
    assert_error(answer(client.put("/pipelines/shop", json=fields)), 422, "literal_password")
    # Nor is a URL shown masked and sent back: *** is no password.
    masked = pipeline_body("shop", "postgresql://app:***@db.example:5432/shop", VARIABLE_DEST)
    del masked["name"]
    assert_error(answer(client.put("/pipelines/shop", json=masked)), 422, "literal_password")
    assert answer(client.get("/pipelines/shop")).json()["source_url"] == VARIABLE_SOURCE
    job = answer(client.post("/pipelines/shop/jobs")).json()
    assert "${SYNCBEAT_SECRET_DEST_PASSWORD}" in job["destination"]
    answer(client.get("/jobs"))
    answer(client.get(f"/jobs/{job['id']}/events"))
    answer(client.get("/metrics"))
    # A rejected definition's error does not quote the URL either.
    bad = pipeline_body("other", SOURCE, DEST, mode="merge")
    assert_error(answer(client.post("/pipelines", json=bad)), 422)

    for body in bodies:
        assert SECRET not in body
        assert QUERY_SECRET not in body
    assert "${SYNCBEAT_SECRET_DEST_PASSWORD}" in "".join(bodies)

    # Nor does the store hold it, anywhere.
    with sb.store.begin() as conn:
        for table in ("pipelines", "jobs", "job_events"):
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            dumped = json.dumps([list(map(str, row)) for row in rows])
            assert SECRET not in dumped, table
            assert QUERY_SECRET not in dumped, table
