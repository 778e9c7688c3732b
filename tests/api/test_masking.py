"""A password given literally in a connection URL never comes back from the API (nor
reaches the store); a ``${VAR}`` reference is kept as written and shown."""

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


def test_passwords_never_come_back(client: httpx.Client, sb: Syncbeat) -> None:
    bodies = []

    def answer(response: httpx.Response) -> httpx.Response:
        bodies.append(response.text)
        return response

    created = answer(client.post("/pipelines", json=pipeline_body("shop", SOURCE, DEST)))
    assert created.status_code == 201, created.text
    shown = answer(client.get("/pipelines/shop")).json()
    assert shown["source_url"] == "postgresql://app:***@db.example:5432/shop"
    # The reference names a secret without being one: it stays, for the worker to resolve.
    assert (
        shown["dest_url"]
        == "postgresql://app:${SYNCBEAT_SECRET_DEST_PASSWORD}@warehouse.example/dw?password=***"
    )

    fields = pipeline_body("shop", SOURCE, DEST, batch_size=10)
    del fields["name"]
    answer(client.put("/pipelines/shop", json=fields))
    answer(client.get("/pipelines"))
    job = answer(client.post("/pipelines/shop/jobs")).json()
    assert "***" in job["source"]
    # A worker cannot use a password that was never stored: the job fails, saying why.
    sb.run_job(job["id"])
    failed = answer(client.get(f"/jobs/{job['id']}")).json()
    assert failed["status"] == "failed"
    assert "given literally" in failed["last_error"]
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
