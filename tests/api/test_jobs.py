"""Jobs over the API: a real sync started with POST and followed with GET; paging and
filters; pause, resume and cancel with their 409s; 404 and 422 on bad ids and params."""

from __future__ import annotations

import httpx

from syncbeat import Syncbeat
from syncbeat.store import clock, jobs
from tests.support.sql import table_rows

from .conftest import assert_error, claim, pipeline_body, source_table, sqlite_only

ROWS = 1200


def test_a_job_started_over_the_api_runs_to_completion(
    client: httpx.Client, sb: Syncbeat, sqlite_url: str, sqlite_url2: str
) -> None:
    source_table(sqlite_url, ROWS)
    body = pipeline_body("items", sqlite_url, sqlite_url2, batch_size=500)
    assert client.post("/pipelines", json=body).status_code == 201

    started = client.post("/pipelines/items/jobs")
    assert started.status_code == 201, started.text
    job = started.json()
    assert (job["status"], job["pipeline"], job["rows_done"]) == ("queued", "items", 0)

    sb.run_job(job["id"])  # what a worker does with it

    shown = client.get(f"/jobs/{job['id']}").json()
    assert shown["status"] == "completed"
    assert (shown["rows_done"], shown["rows_total"], shown["percent"]) == (ROWS, ROWS, 100.0)
    assert (shown["attempt"], shown["max_attempts"]) == (1, 5)
    assert shown["checkpoint"]["rows_done"] == ROWS
    assert shown["last_error"] is None
    assert shown["finished_at"] is not None
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[0] == "created" and kinds[-1] == "completed"
    assert kinds.count("batch") == 3  # 500 + 500 + 200
    assert table_rows(sqlite_url2, "items", ["id"]) == table_rows(sqlite_url, "items", ["id"])

    listed = client.get("/jobs", params={"status": "completed", "pipeline": "items"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert listed["total"] == 1


def test_events_page_and_follow(client: httpx.Client, sb: Syncbeat) -> None:
    client.post("/pipelines", json=pipeline_body("p", "sqlite:///s.db", "sqlite:///d.db"))
    job_id = client.post("/pipelines/p/jobs").json()["id"]
    for _ in range(2):  # each adds two events: paused, requeued
        client.post(f"/jobs/{job_id}/pause")
        client.post(f"/jobs/{job_id}/resume")

    events = client.get(f"/jobs/{job_id}/events").json()
    assert [e["kind"] for e in events] == ["created", "paused", "requeued", "paused", "requeued"]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)
    assert all(e["job_id"] == job_id for e in events)

    # Without after_id: the most recent, oldest first. With it: the next ones.
    assert [e["id"] for e in client.get(f"/jobs/{job_id}/events?limit=2").json()] == ids[-2:]
    following = client.get(f"/jobs/{job_id}/events", params={"after_id": ids[1], "limit": 2})
    assert [e["id"] for e in following.json()] == ids[2:4]
    assert client.get(f"/jobs/{job_id}/events", params={"after_id": ids[-1]}).json() == []

    assert len(client.get(f"/jobs/{job_id}", params={"events": 3}).json()["events"]) == 3
    assert client.get(f"/jobs/{job_id}", params={"events": 0}).json()["events"] is None


def test_jobs_are_listed_newest_first_paged_and_filtered(client: httpx.Client) -> None:
    ids = []
    for name in ("a", "b", "c"):
        client.post("/pipelines", json=pipeline_body(name, "sqlite:///s.db", "sqlite:///d.db"))
        ids.append(client.post(f"/pipelines/{name}/jobs").json()["id"])
    client.post(f"/jobs/{ids[0]}/cancel")

    first = client.get("/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in first["items"]] == [ids[2], ids[1]]
    assert (first["limit"], first["offset"], first["total"]) == (2, 0, 3)
    rest = client.get("/jobs", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in rest["items"]] == [ids[0]]
    assert rest["total"] == 3

    queued = client.get("/jobs", params={"status": "queued"}).json()
    assert sorted(j["id"] for j in queued["items"]) == sorted(ids[1:])
    assert queued["total"] == 2
    only_b = client.get("/jobs", params={"pipeline": "b"}).json()
    assert [j["pipeline"] for j in only_b["items"]] == ["b"]
    nothing = client.get("/jobs", params={"status": "cancelled", "pipeline": "b"}).json()
    assert (nothing["items"], nothing["total"]) == ([], 0)


def test_pause_resume_cancel_and_their_conflicts(client: httpx.Client) -> None:
    client.post("/pipelines", json=pipeline_body("p", "sqlite:///s.db", "sqlite:///d.db"))
    job_id = client.post("/pipelines/p/jobs").json()["id"]

    paused = client.post(f"/jobs/{job_id}/pause")
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert_error(client.post(f"/jobs/{job_id}/pause"), 409, "invalid_transition")
    assert client.post(f"/jobs/{job_id}/resume").json()["status"] == "queued"
    assert client.post(f"/jobs/{job_id}/cancel").json()["status"] == "cancelled"

    message = assert_error(client.post(f"/jobs/{job_id}/resume"), 409, "invalid_transition")
    assert "cancelled" in message
    assert_error(client.post(f"/jobs/{job_id}/cancel"), 409, "invalid_transition")
    assert client.get(f"/jobs/{job_id}").json()["status"] == "cancelled"


def test_a_running_job_is_asked_to_pause(client: httpx.Client, sb: Syncbeat) -> None:
    client.post("/pipelines", json=pipeline_body("p", "sqlite:///s.db", "sqlite:///d.db"))
    job_id = client.post("/pipelines/p/jobs").json()["id"]
    claim(sb, job_id)

    job = client.post(f"/jobs/{job_id}/pause").json()
    # Honoured by its runner at the next batch boundary, not here.
    assert (job["status"], job["requested"]) == ("running", "pause")
    assert job["owner"] == "api-test@elsewhere:1"
    assert job["heartbeat_age_seconds"] is not None
    assert 0 < job["lease_expires_in_seconds"] <= 300
    # A second job of a pipeline with one running is that same job, not a new one.
    assert client.post("/pipelines/p/jobs").json()["id"] == job_id


JOB_ROUTES = [
    ("GET", "/jobs/{id}"),
    ("GET", "/jobs/{id}/events"),
    ("POST", "/jobs/{id}/pause"),
    ("POST", "/jobs/{id}/resume"),
    ("POST", "/jobs/{id}/cancel"),
]


def test_job_routes_reject_unknown_and_impossible_ids(client: httpx.Client) -> None:
    for method, path in JOB_ROUTES:
        assert "There is no job 4242" in assert_error(
            client.request(method, path.format(id=4242)), 404, "job_not_found"
        )
        for bad in ("abc", "0", "-1", "1.5", str(2**31), str(2**70)):
            assert_error(client.request(method, path.format(id=bad)), 422, "invalid_request")


BAD_FILTERS: list[dict[str, str | int]] = [
    {"status": "sleeping"},
    {"limit": 0},
    {"limit": 501},
    {"limit": "ten"},
    {"offset": -1},
    {"offset": 2**63},
    {"pipeline": "two words"},
    {"pipeline": "nul\x00"},
]


@sqlite_only
def test_bad_job_filters_are_422(client: httpx.Client) -> None:
    for params in BAD_FILTERS:
        message = assert_error(client.get("/jobs", params=params), 422, "invalid_request")
        assert f"query.{next(iter(params))}" in message
    bad_events = client.get("/jobs/1/events", params={"limit": 0})
    assert "query.limit" in assert_error(bad_events, 422, "invalid_request")


@sqlite_only
def test_unknown_routes_and_methods_answer_in_the_error_shape(client: httpx.Client) -> None:
    assert "GET /nothing/here" in assert_error(client.get("/nothing/here"), 404, "not_found")
    answer = client.delete("/jobs")
    assert_error(answer, 405, "method_not_allowed")
    assert answer.headers["allow"] == "GET"
    # Allow names every method of the path, though each has a route of its own.
    assert client.delete("/pipelines").headers["allow"] == "GET, POST"


@sqlite_only
def test_a_misspelt_query_parameter_is_422_not_ignored(client: httpx.Client) -> None:
    message = assert_error(client.get("/jobs", params={"statuss": "failed"}), 422)
    assert "'statuss'" in message
    assert "limit, offset, pipeline, status" in client.get("/jobs?x=1").json()["error"]["hint"]


def test_a_running_job_whose_lease_expired_is_stale_without_rate_or_eta(
    client: httpx.Client, sb: Syncbeat
) -> None:
    """The process running it died: it must not go on looking like it runs at speed."""
    client.post("/pipelines", json=pipeline_body("items", "sqlite:///s.db", "sqlite:///d.db"))
    job_id = client.post("/pipelines/items/jobs").json()["id"]
    claim(sb, job_id)
    with sb.store.begin() as conn:  # what its last heartbeat left, ten minutes ago
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(
                rows_done=500,
                rows_total=1000,
                rate=1000.0,
                heartbeat_at=jobs.c.heartbeat_at - 600,
                lease_expires_at=jobs.c.heartbeat_at - 300,
            )
        )
    shown = client.get(f"/jobs/{job_id}").json()
    assert (shown["status"], shown["stale"]) == ("running", True)
    assert shown["rows_per_second"] is None and shown["eta_seconds"] is None
    assert shown["heartbeat_age_seconds"] >= 600
    listed = client.get("/jobs").json()["items"][0]
    assert listed["stale"] is True
    # A live lease is not stale.
    with sb.store.begin() as conn:
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(heartbeat_at=clock.now(), lease_expires_at=clock.now_plus(300))
        )
    fresh = client.get(f"/jobs/{job_id}").json()
    assert fresh["stale"] is False and fresh["rows_per_second"] == 1000.0
