"""Pipelines as `syncbeat sync` and `pipeline add` name and save them: distinct
source/destination pairs never share a pipeline, a refused command leaves the stored
pipeline as it was, and a definition that could never run is refused when saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from syncbeat import PipelineSpec, RunHooks, Syncbeat
from syncbeat.store import protocol
from tests.support.cli import fails, output, pipeline_add_args, run_cli, sync_args
from tests.support.sql import execute, table_rows

ROWS = 30


def _orders(url: str, first: int = 1) -> str:
    execute(
        url,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, note TEXT)",
        *(f"INSERT INTO orders VALUES ({i}, 'order {i}')" for i in range(first, first + ROWS)),
    )
    return url


def _after_one_batch() -> RunHooks:
    """Hooks that stop a run once its first batch is committed, as a Ctrl-C would."""
    done: list[int] = []
    return RunHooks(
        should_stop=lambda: bool(done and done[-1] > 0),
        on_progress=lambda snapshot: done.append(snapshot.rows_done),
    )


def _pipelines(store: str) -> dict[str, dict[str, object]]:
    listed = run_cli("pipeline", "list", "--json", store=store, check=True)
    return {p["name"]: p for p in json.loads(listed.stdout)}


def _sync(store: str, source: str, dest: str, **more: Any) -> None:
    result = run_cli(*sync_args(source, dest, table="orders", **more), store=store)
    assert result.returncode == 0, output(result)


@pytest.mark.postgres
@pytest.mark.mariadb
def test_distinct_pairs_get_distinct_pipelines_and_a_rerun_resumes_its_own(
    tmp_path: Path, store_url: str, pg_url: str, mariadb_url: str
) -> None:
    first = _orders(f"sqlite:///{tmp_path / 'first.db'}")
    second = _orders(f"sqlite:///{tmp_path / 'second.db'}", first=1000)
    sqlite_dest = f"sqlite:///{tmp_path / 'dest.db'}"
    # One table to three engines, and a table of the same name from another database.
    for dest in (pg_url, mariadb_url, sqlite_dest):
        _sync(store_url, first, dest)
    _sync(store_url, second, sqlite_dest, to_table="orders_b")

    names = _pipelines(store_url)
    assert len(names) == 4, names
    for name in names:
        assert name.startswith(("first.orders-to-", "second.orders-to-")), name
    assert any(n.startswith("first.orders-to-dest.orders-") for n in names)  # the file stem
    for dest, table in ((pg_url, "orders"), (mariadb_url, "orders"), (sqlite_dest, "orders")):
        assert table_rows(dest, table, ["id"]) == table_rows(first, "orders", ["id"])
    assert table_rows(sqlite_dest, "orders_b", ["id"]) == table_rows(second, "orders", ["id"])

    # The same command again: the same pipeline (a new job of it), no new one.
    _sync(store_url, first, pg_url, mode="upsert", batch_size=7)
    assert set(_pipelines(store_url)) == set(names)
    jobs = json.loads(run_cli("jobs", "--json", store=store_url, check=True).stdout)
    assert len({j["pipeline"] for j in jobs}) == 4


def test_a_pipeline_saved_under_the_old_default_name_keeps_resuming(
    tmp_path: Path, store_url: str
) -> None:
    source = _orders(f"sqlite:///{tmp_path / 'shop.db'}")
    dest = f"sqlite:///{tmp_path / 'warehouse.db'}"
    legacy = "sqlite.orders"  # <dialect>.<table>, as earlier versions named it
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name=legacy,
        source_url=source,
        source_table="orders",
        dest_url=dest,
        dest_table="orders",
        mode="upsert",
        batch_size=10,
    )
    job, outcome = sb.sync(spec, _after_one_batch())
    assert outcome.status == "released" and 0 < job.rows_done < ROWS
    sb.close()

    # As an earlier version wrote it, without --name: it resumes that pipeline's job.
    result = run_cli(*sync_args(source, dest, table="orders", batch_size=10), store=store_url)
    assert result.returncode == 0, output(result)
    assert f"Resuming job {job.id}" in output(result)
    assert set(_pipelines(store_url)) == {legacy}

    # Another destination is another pair: a pipeline of its own; the old one is kept.
    _sync(store_url, source, f"sqlite:///{tmp_path / 'other.db'}")
    names = _pipelines(store_url)
    assert len(names) == 2 and names[legacy]["dest_url"] == dest


def test_a_refused_sync_leaves_the_stored_pipeline_as_it_was(
    tmp_path: Path, store_url: str
) -> None:
    source = _orders(f"sqlite:///{tmp_path / 'shop.db'}")
    dest = f"sqlite:///{tmp_path / 'warehouse.db'}"
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="orders",
        source_url=source,
        source_table="orders",
        dest_url=dest,
        dest_table="orders",
        mode="append",
        batch_size=10,
    )
    job, outcome = sb.sync(spec, _after_one_batch())
    assert outcome.status == "released"
    before = sb.pipeline("orders")
    sb.close()

    args = sync_args(source, dest, table="orders", mode="upsert", batch_size=20, name="orders")
    result = run_cli(*args, store=store_url)
    fails(result, 1, f"unfinished job {job.id}", "mode", f"syncbeat job cancel {job.id}")
    sb = Syncbeat(store_url)
    after = sb.pipeline("orders")
    assert (after.mode, after.batch_size) == ("append", 10)
    assert after == before
    assert sb.job(job.id, events=0).rows_done == job.rows_done
    assert len(sb.jobs()) == 1
    sb.close()
    assert table_rows(dest, "orders", ["id"]) == table_rows(source, "orders", ["id"])[:10]


def test_pipeline_add_refuses_a_literal_password(store_url: str) -> None:
    secret = "L1teral-pw-42"
    for source, dest in (
        (f"postgresql://app:{secret}@db.example/shop", "sqlite:///dest.db"),
        ("sqlite:///src.db", f"mysql://app@db.example/dw?password={secret}"),
    ):
        result = run_cli(
            *pipeline_add_args("orders", source, dest, table="orders"), store=store_url
        )
        text = fails(result, 2, "literal password", "${VAR}", "never stores passwords")
        assert secret not in text
        assert "saved" not in text.lower()
    assert _pipelines(store_url) == {}
    # Written as a reference it is saved, as written.
    source = "postgresql://app:${PGPASS}@db.example/shop"
    result = run_cli(
        *pipeline_add_args("orders", source, "sqlite:///dest.db", table="orders"), store=store_url
    )
    assert result.returncode == 0, output(result)
    assert (
        _pipelines(store_url)["orders"]["source_url"]
        == "postgresql://app:${PGPASS}@db.example/shop"
    )


def test_a_sync_refused_because_the_job_runs_elsewhere_changes_nothing(
    tmp_path: Path, store_url: str
) -> None:
    source = _orders(f"sqlite:///{tmp_path / 'shop.db'}")
    dest = f"sqlite:///{tmp_path / 'warehouse.db'}"
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="orders",
        source_url=source,
        source_table="orders",
        dest_url=dest,
        dest_table="orders",
        batch_size=10,
    )
    sb.save_pipeline(spec)
    job_id = sb.enqueue("orders").id
    with sb.store.begin() as conn:  # a live worker on another machine holds it
        assert protocol.claim(conn, "w1@elsewhere.invalid:1", 300, job_id=job_id)
    before = sb.pipeline("orders")
    sb.close()

    args = sync_args(source, dest, table="orders", batch_size=20, name="orders")
    result = run_cli(*args, store=store_url)
    fails(result, 1, f"job {job_id}", "is running in w1@elsewhere.invalid:1")
    sb = Syncbeat(store_url)
    assert sb.pipeline("orders") == before
    assert sb.job(job_id, events=0).owner == "w1@elsewhere.invalid:1"
    sb.close()
