"""A token holder cannot make a worker read or write files of its choosing: the SQLite
files of a pipeline saved through the API must resolve, after ``..`` and symlinks,
inside a data directory the operator allowed (none by default). Refused when it is
saved and again when a worker opens it, so a symlink swapped in later gets nowhere;
the operator's own pipelines open any file, as before."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from syncbeat import PipelineSpec, Syncbeat
from tests.api.conftest import assert_error
from tests.support.cli import run_cli, sync_args
from tests.support.jobs import job_of
from tests.support.sql import execute, has_table, table_rows


def _body(name: str, source: str, dest: str) -> dict[str, object]:
    return {
        "name": name,
        "source_url": source,
        "source_table": "items",
        "dest_url": dest,
        "dest_table": "items",
    }


def _source(path: Path) -> str:
    url = f"sqlite:///{path}"
    execute(url, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
    execute(url, "INSERT INTO items VALUES (1, 'one'), (2, 'two')")
    return url


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The operator's one data directory, with a source table in it."""
    allowed = tmp_path / "data"
    allowed.mkdir()
    monkeypatch.setenv("SYNCBEAT_DATA_DIRS", str(allowed))
    _source(allowed / "source.db")
    return allowed


def test_no_file_url_until_a_data_dir_is_configured(
    client: httpx.Client, sb: Syncbeat, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SYNCBEAT_DATA_DIRS")
    target = tmp_path / "x" / ".ssh" / "authorized_keys"
    body = _body("keys", "postgresql://app@db/shop", f"sqlite:///{target}")
    message = assert_error(client.post("/pipelines", json=body), 422, "not_allowed_error")
    assert "no data directory is configured" in message
    assert sb.pipelines() == [] and not target.parent.exists()


def test_paths_out_of_the_data_dir_are_refused(
    client: httpx.Client, sb: Syncbeat, data_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.db"
    (data_dir / "link.db").symlink_to(outside)
    (data_dir / "sub").symlink_to(tmp_path)
    inside = f"sqlite:///{data_dir / 'source.db'}"
    for escape in (
        f"sqlite:///{data_dir}/../outside.db",
        f"sqlite:///{data_dir / 'link.db'}",
        f"sqlite:///{data_dir / 'sub' / 'outside.db'}",
        f"sqlite:///{data_dir}",
        "sqlite:///file:outside.db?uri=true",
    ):
        for body in (_body("p", inside, escape), _body("p", escape, inside)):
            response = client.post("/pipelines", json=body)
            assert_error(response, 422, "not_allowed_error")
    assert sb.pipelines() == [] and not outside.exists()


def test_a_path_inside_the_data_dir_works(
    client: httpx.Client, sb: Syncbeat, data_dir: Path
) -> None:
    source, dest = f"sqlite:///{data_dir / 'source.db'}", f"sqlite:///{data_dir / 'dest.db'}"
    assert client.post("/pipelines", json=_body("p", source, dest)).status_code == 201
    job = client.post("/pipelines/p/jobs").json()
    _, outcome = sb.run_job(job["id"])
    assert outcome.status == "completed", outcome
    assert table_rows(dest, "items", ["id"]) == [(1, "one"), (2, "two")]


def test_a_symlink_swapped_in_after_saving_is_refused_at_run_time(
    store_url: str, tmp_path: Path
) -> None:
    allowed = tmp_path / "data"
    allowed.mkdir()
    source = _source(allowed / "source.db")
    dest_path = allowed / "dest.db"
    env = {"SYNCBEAT_DATA_DIRS": str(allowed)}
    sb = Syncbeat(store_url)
    try:
        spec = PipelineSpec(**_body("p", source, f"sqlite:///{dest_path}"))
        sb.save_pipeline(spec, origin="api")
        job = sb.enqueue("p")
    finally:
        sb.close()
    victim = tmp_path / "victim.db"
    dest_path.symlink_to(victim)  # after the API's check, before the worker's
    result = run_cli("worker", "--once", store=store_url, env=env)
    assert result.returncode == 0 and "Traceback" not in result.stdout + result.stderr
    ended = job_of(store_url, job.id)
    assert ended["status"] == "failed", ended
    assert "not inside a data directory" in ended["last_error"]
    assert not victim.exists()


def test_the_operators_pipelines_open_any_file(store_url: str, tmp_path: Path) -> None:
    source = _source(tmp_path / "anywhere.db")
    dest = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    run_cli(
        *sync_args(source, dest, table="items"),
        store=store_url,
        env={"SYNCBEAT_DATA_DIRS": ""},
        check=True,
    )
    assert has_table(dest, "items")


def test_a_fifo_in_the_data_dir_is_refused(
    client: httpx.Client, sb: Syncbeat, data_dir: Path
) -> None:
    """A FIFO would hang the worker's first read; a device would never end."""
    fifo = data_dir / "pipe.db"
    os.mkfifo(fifo)
    body = _body("p", f"sqlite:///{fifo}", f"sqlite:///{data_dir / 'dest.db'}")
    message = assert_error(client.post("/pipelines", json=body), 422, "not_allowed_error")
    assert "not a regular file" in message
    assert sb.pipelines() == []
