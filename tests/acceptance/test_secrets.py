"""Secrets never leave the process that uses them.

A password written in a URL, and a secret given as ``${SYNCBEAT_TEST_SECRET}``, must
never appear in any CLI output (with ``--debug`` too, tracebacks included), any log
line, any event, any row of the job store, the destination's state table, or an API
answer. The test runs every kind of command with two recognisable secrets, through the
installed CLI, gathers everything they produced and left behind, and searches it. The
store must hold ``${SYNCBEAT_TEST_SECRET}`` as written, and a literal password masked.

The PostgreSQL role has a real password; the test server trusts local connections, so
the password is carried and parsed but not checked. The ``${VAR}`` secret holds
characters that mean something in a URL (``@ / #``): it must still work as a password,
and no part of it may show up, as a host name in an error for instance.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat.connectors.destinations import state as dest_state
from tests.support.cli import (
    fails,
    output,
    pipeline_add_args,
    run_all,
    run_args,
    run_cli,
    sync_args,
    worker_args,
)
from tests.support.databases import PG_URL
from tests.support.sql import execute, table_rows

pytestmark = pytest.mark.postgres

VAR = "SYNCBEAT_TEST_SECRET"
TOKEN = "api-token-for-the-secrets-test"


class Secrets:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:12]
        self.role = f"sbsec_{tag}"
        self.password = f"Sup3rS3cretPw-{tag}"
        # Every leak of the variable's value, whole, cut or percent-encoded, holds this.
        self.var_core = f"EnvS3cret-{tag}"
        self.var_value = f"{self.var_core}@/#x"

    @property
    def needles(self) -> list[str]:
        return [self.password, self.var_core]

    def literal(self, url: str, **parts: Any) -> str:
        return (
            make_url(url)
            .set(username=self.role, password=self.password, **parts)
            .render_as_string(hide_password=False)
        )

    def variable(self, url: str, **parts: Any) -> str:
        # make_url would percent-encode the braces: build the text by hand.
        bare = make_url(url).set(username=self.role, password="PLACEHOLDER", **parts)
        return bare.render_as_string(hide_password=False).replace("PLACEHOLDER", f"${{{VAR}}}")


@pytest.fixture
def secrets(pg_url: str, pg_url2: str) -> Iterator[Secrets]:
    """A role with a password that owns the two test databases."""
    found = Secrets()
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {found.role} LOGIN PASSWORD '{found.password}'")
        for url in (pg_url, pg_url2):
            conn.exec_driver_sql(f"ALTER DATABASE {make_url(url).database} OWNER TO {found.role}")
    try:
        yield found
    finally:
        with admin.connect() as conn:
            for url in (pg_url, pg_url2):
                conn.exec_driver_sql(f"ALTER DATABASE {make_url(url).database} OWNER TO postgres")
            for url in (pg_url, pg_url2):
                execute(url, f"DROP OWNED BY {found.role}")
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {found.role}")
        admin.dispose()


def _store_dump(path: Path) -> str:
    """Every row of every table of the store, as text."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return "\n".join(
            f"{table}: {row!r}"
            for table in tables
            for row in db.execute(f'SELECT * FROM "{table}"')
        )


def _api_answers(store: str, failed_job: int) -> str:
    """The REST API's JSON answers (and dashboard pages) about the same store, asked
    through httpx's ASGI transport: the app as uvicorn runs it, minus the socket."""
    import anyio
    import httpx

    from syncbeat.api import create_app

    app = create_app(store, token=TOKEN)
    json_paths = ["/pipelines", "/pipelines/literal", "/pipelines/variable", "/jobs"]
    json_paths += ["/jobs/1", "/jobs/1/events", f"/jobs/{failed_job}"]
    json_paths += [f"/jobs/{failed_job}/events", "/workers"]
    other_paths = ["/metrics", "/", f"/ui/jobs/{failed_job}"]  # whatever they answer

    async def ask() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            answers = []
            for path in json_paths + other_paths:
                answer = await client.get(path, headers=headers)
                if path in json_paths:
                    assert answer.status_code == 200, (path, answer.text)
                answers.append(answer.text)
            return answers

    try:
        return "\n".join(anyio.run(ask))
    finally:
        app.state.syncbeat.close()


def test_secrets_never_appear_anywhere(
    tmp_path: Path, pg_url: str, pg_url2: str, secrets: Secrets
) -> None:
    execute(
        secrets.literal(pg_url),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)",
        *(f"INSERT INTO items VALUES ({i}, 'item {i}')" for i in range(1, 26)),
    )
    store_path = tmp_path / "store.db"
    store = f"sqlite:///{store_path}"
    env = {VAR: secrets.var_value}
    src_literal, src_variable = secrets.literal(pg_url), secrets.variable(pg_url)
    dst_literal, dst_variable = secrets.literal(pg_url2), secrets.variable(pg_url2)

    def cli(*args: str, code: int = 0) -> Any:
        result = run_cli(*args, store=store, env=env)
        assert result.returncode == code, output(result)
        return result

    copy: dict[str, Any] = {"table": "items", "batch_size": 10}
    results = [
        # 1: a literal password in the source, the variable in the destination, --debug.
        cli("--debug", *sync_args(src_literal, dst_variable, **copy, name="literal")),
        # 2: the other way round, into another table.
        cli(*sync_args(src_variable, dst_literal, **copy, to_table="items_b", name="variable")),
        # 3: a pipeline saved, queued, and run by a worker.
        cli(
            *pipeline_add_args(
                "queued", src_variable, dst_variable, "--json", table="items", to_table="items_c"
            )
        ),
        cli(*run_args("queued")),
        cli("--debug", *worker_args("--once", poll=0.05)),
        # 4: failures that name the URL: a wrong host, a closed port, a stored pipeline
        # whose literal password was not kept.
        cli(
            "--debug",
            *sync_args(
                secrets.literal(pg_url, host="no-such-host.invalid"),
                dst_variable,
                **copy,
                name="bad-host",
            ),
            code=1,
        ),
        cli(
            *sync_args(secrets.variable(pg_url, port=1), dst_literal, **copy, name="bad-port"),
            code=1,
        ),
        cli(*run_args("literal", wait=True), code=1),
    ]
    fails(results[-3], 1, "no-such-host.invalid", ":***@")
    fails(results[-2], 1, "cannot connect", f"${{{VAR}}}")
    results += run_all(
        [
            ["pipeline", "list"],
            ["pipeline", "list", "--json"],
            ["pipeline", "show", "literal", "--json"],
            ["pipeline", "show", "variable"],
            ["jobs", "--json"],
            ["job", "show", "1", "--json"],
            ["job", "show", "4"],
            ["--debug", "workers", "--all", "--json"],
        ],
        store,
        env,
    )
    # The syncs really ran, with the secrets resolved where they were needed.
    for table in ("items", "items_b", "items_c"):
        assert table_rows(pg_url2, table, ["id"]) == table_rows(pg_url, "items", ["id"])

    shown = "\n".join(output(r) for r in results)
    stored = _store_dump(store_path)
    files = {f.name: f.read_bytes() for f in tmp_path.iterdir() if f.is_file()}
    state = json.dumps(table_rows(pg_url2, dest_state.state_table.name, ["job_uid"]))
    answers = _api_answers(store, failed_job=4)
    for needle in secrets.needles:
        assert needle not in shown, f"{needle} in the CLI's output"
        assert needle not in stored, f"{needle} in the store"
        for name, data in files.items():
            assert needle.encode() not in data, f"{needle} in {name}"
        assert needle not in state, f"{needle} in the destination's state table"
        assert needle not in answers, f"{needle} in an API answer"

    # Stored as written: the reference, and the literal password masked.
    with sqlite3.connect(store_path) as db:
        specs = {
            name: json.loads(spec) for name, spec in db.execute("SELECT name, spec FROM pipelines")
        }
    assert specs["variable"]["source_url"] == src_variable
    assert specs["queued"]["dest_url"] == dst_variable
    assert specs["literal"]["source_url"] == src_literal.replace(secrets.password, "***")
    assert f"${{{VAR}}}" in shown and ":***@" in shown
