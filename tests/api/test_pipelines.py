"""Pipelines over the API: create, list, show, update, delete; bad definitions are 4xx
with the library's message, and leave nothing behind."""

from __future__ import annotations

from typing import Any

import annotated_types
import httpx

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.api.pipelines import PipelineCreate

from .conftest import assert_error, claim, pipeline_body, sqlite_only


def test_the_body_model_mirrors_pipeline_spec() -> None:
    """The API's body repeats PipelineSpec's fields (for OpenAPI); a field added to the
    spec must be added to the API too, with the same default."""
    api, spec = PipelineCreate.model_fields, PipelineSpec.model_fields
    assert set(api) == set(spec)
    for name, field in spec.items():
        if name == "dest_table":  # derived from source_table when omitted, as in the CLI
            assert api[name].get_default() is None
            continue
        assert api[name].get_default(call_default_factory=True) == field.get_default(
            call_default_factory=True
        ), name
        assert bounds(api[name].metadata) == bounds(field.metadata), name


def bounds(metadata: list[Any]) -> set[object]:
    """A field's numeric bounds (ge, le, gt, lt)."""
    kinds = (annotated_types.Ge, annotated_types.Le, annotated_types.Gt, annotated_types.Lt)
    return {m for m in metadata if isinstance(m, kinds)}


def test_create_list_show_update_delete(client: httpx.Client, sb: Syncbeat) -> None:
    body = pipeline_body("orders", "sqlite:///src.db", "sqlite:///dst.db", key=["id"])
    created = client.post("/pipelines", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "orders"
    assert created.json()["key"] == ["id"]
    assert created.json()["mode"] == "upsert"

    assert [p["name"] for p in client.get("/pipelines").json()] == ["orders"]
    shown = client.get("/pipelines/orders").json()
    assert shown["source_table"] == "items"
    assert shown["batch_size"] is None

    changed = {k: v for k, v in body.items() if k != "name"} | {
        "batch_size": 250,
        "mode": "append",
    }
    updated = client.put("/pipelines/orders", json=changed)
    assert updated.status_code == 200, updated.text
    assert (updated.json()["batch_size"], updated.json()["mode"]) == (250, "append")
    # The library sees the same thing: one store, no state of the API's own.
    assert sb.pipeline("orders").batch_size == 250

    assert client.delete("/pipelines/orders").status_code == 204
    assert_error(client.get("/pipelines/orders"), 404, "pipeline_not_found")
    assert client.get("/pipelines").json() == []


def test_create_refuses_a_taken_name_and_update_an_unknown_one(client: httpx.Client) -> None:
    body = pipeline_body("orders", "sqlite:///src.db", "sqlite:///dst.db")
    assert client.post("/pipelines", json=body).status_code == 201
    assert_error(client.post("/pipelines", json=body | {"batch_size": 5}), 409, "pipeline_exists")
    assert client.get("/pipelines/orders").json()["batch_size"] is None  # not overwritten

    fields = {k: v for k, v in body.items() if k != "name"}
    assert_error(client.put("/pipelines/nope", json=fields), 404, "pipeline_not_found")
    assert_error(client.delete("/pipelines/nope"), 404, "pipeline_not_found")
    assert_error(client.post("/pipelines/nope/jobs"), 404, "pipeline_not_found")


def test_dest_table_defaults_to_the_source_table_as_in_the_cli(client: httpx.Client) -> None:
    body = pipeline_body("orders", "sqlite:///src.db", "sqlite:///dst.db", source_table="s.items")
    del body["dest_table"]
    created = client.post("/pipelines", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["dest_table"] == "items"
    # A query has no table name to default to: say which field is missing.
    query = body | {"name": "q", "source_table": None, "source_query": "SELECT 1 AS id"}
    assert "dest_table" in assert_error(client.post("/pipelines", json=query), 422)
    assert [p["name"] for p in client.get("/pipelines").json()] == ["orders"]


BAD_DEFINITIONS: list[tuple[dict[str, object], str]] = [
    # The spec's own rules: its message comes back as written.
    ({"source_query": "SELECT 1"}, "give exactly one of source_table and source_query"),
    ({"heartbeat_interval": 10, "lease_ttl": 5}, "lease_ttl must be longer than heartbeat"),
    ({"key": ["id", "id"]}, "a key column is named twice"),
    # The body's schema.
    ({"name": "no spaces"}, "body.name"),
    ({"name": "trailing-newline\n"}, "body.name"),
    ({"mode": "merge"}, "body.mode"),
    ({"batch_size": 0}, "body.batch_size"),
    ({"max_attempts": "many"}, "body.max_attempts"),
    ({"lease_ttl": -1}, "body.lease_ttl"),
    ({"colour": "blue"}, "body.colour"),
    ({"dest_url": None}, "body.dest_url"),
]


def test_a_bad_definition_is_422_and_saves_nothing(client: httpx.Client) -> None:
    for changes, says in BAD_DEFINITIONS:
        body = pipeline_body("orders", "sqlite:///src.db", "sqlite:///dst.db") | changes
        message = assert_error(client.post("/pipelines", json=body), 422)
        assert says in message, (changes, message)
        fields = {k: v for k, v in body.items() if k != "name"}
        assert_error(
            client.put("/pipelines/orders", json=fields), 422 if "name" not in changes else 404
        )
    assert client.get("/pipelines").json() == []


@sqlite_only
def test_a_body_that_is_not_a_pipeline_is_422(client: httpx.Client) -> None:
    assert "not valid JSON" in assert_error(
        client.post(
            "/pipelines", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "invalid_request",
    )
    assert_error(client.post("/pipelines", json=[1, 2]), 422, "invalid_request")
    assert_error(client.post("/pipelines"), 422, "invalid_request")
    # A name the URL cannot hold as a pipeline name.
    assert_error(client.get("/pipelines/-leading-dash"), 422, "invalid_request")
    assert client.get("/pipelines").json() == []


def test_a_pipeline_with_a_running_job_cannot_be_deleted(
    client: httpx.Client, sb: Syncbeat
) -> None:
    client.post("/pipelines", json=pipeline_body("orders", "sqlite:///s.db", "sqlite:///d.db"))
    job = client.post("/pipelines/orders/jobs").json()
    claim(sb, job["id"])
    message = assert_error(client.delete("/pipelines/orders"), 409, "invalid_transition")
    assert "running job" in message
    assert client.get("/pipelines/orders").status_code == 200
