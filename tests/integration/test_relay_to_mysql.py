"""The PostgreSQL-to-MariaDB relay (engine/relay_to_mysql.py): chosen where it fits and
said so in the `plan` event, or passed over with the reason; every mode; bytes, the
strings CSV and LOAD DATA could get wrong, a refused value in a later batch, a resume
from the row path's checkpoint, and a server that refuses LOAD DATA LOCAL.

The values of every type family are the type matrix's (test_type_fidelity.py, whose
pg-to-mariadb pair takes this path); these are what the relay adds."""

from __future__ import annotations

from typing import Any

import pymysql  # type: ignore[import-untyped]  # no stubs shipped
import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, RunHooks, Snapshot, Syncbeat
from syncbeat.connectors.destinations.bulk import MysqlLoadWriter
from syncbeat.engine import choice
from syncbeat.engine.movers import RowMover
from syncbeat.engine.relay_to_mysql import PgToMysqlRelay
from tests.integration import test_type_fidelity as fidelity
from tests.support.jobs import events, plan_paths
from tests.support.specs import table_copy
from tests.support.sql import engine, execute, query, table_rows

pytestmark = [pytest.mark.postgres, pytest.mark.mariadb]

ROWS = 2_000
KEY = ["region", "id"]

_TABLE = """
CREATE TABLE items (
    region text NOT NULL,
    id bigint NOT NULL,
    name text,
    amount numeric(12, 2),
    ratio double precision,
    created_at timestamptz,
    active boolean,
    attrs jsonb,
    tags text[],
    payload bytea,
    PRIMARY KEY (region, id)
)
"""

# What CSV and LOAD DATA could confuse: quotes, separators, line ends, backslashes, the
# word NULL against NULL, '' against NULL, 4-byte UTF-8, control characters.
EDGES = [
    'a "quoted" word',
    '"',
    '""',
    'end quote"',
    '",',
    ",",
    "a,b,,c",
    "line\nbreak",
    "\n",
    "cr\r",
    "\r\n",
    "back\\slash",
    "\\",
    "\\N",
    "\\n",
    "NULL",
    '"NULL"',
    "null",
    "",
    " ",
    None,
    "😀 𝄞 e\u0301",
    "\t\f\v\b\x01\x1f\x7f",
    "'single'",
    "x" * 70_000,
]


def _source(url: str, rows: int = ROWS) -> None:
    execute(
        url,
        _TABLE,
        "INSERT INTO items SELECT (ARRAY['north','south','East'])[1 + i %% 3], i, "
        "'naïve ✓ ' || i, i * 0.37, i / 7.0, "
        "timestamptz '2024-01-01 00:00:00+02' + i * interval '1 minute 3.5 seconds', "
        "i %% 2 = 0, jsonb_build_object('n', i, 'q', 'x\"y'), ARRAY['a', i::text], "
        f"decode(md5(i::text), 'hex') FROM generate_series(1, {rows}) i",
        "UPDATE items SET name = NULL, attrs = NULL, payload = NULL WHERE id %% 11 = 0",
        "UPDATE items SET payload = '' WHERE id %% 13 = 0",
    )


def _spec(src: str, dst: str, mode: str = "upsert", batch_size: int | None = 300) -> PipelineSpec:
    return table_copy(
        f"items-{mode}",
        src,
        dst,
        table="items",
        dest_table="items",
        mode=mode,
        batch_size=batch_size,
    )


def test_every_mode_takes_the_relay_and_copies_every_value(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    _source(pg_url)
    sb = Syncbeat(store_url)
    for mode in ("append", "upsert", "replace"):
        job, outcome = sb.sync(_spec(pg_url, mariadb_url, mode))
        assert outcome.status == "completed", outcome.message
        assert plan_paths(sb, job.id) == ["pg-to-mysql"], mode
        assert "relayed into MariaDB/MySQL LOAD DATA" in events(sb, job.id, "plan")[0].message
        assert job.rows_done == ROWS
        assert table_rows(mariadb_url, "items", KEY) == table_rows(pg_url, "items", KEY), mode
    # Bytes arrive byte for byte ('' and NULL apart), as the row path's INSERT wrote them.
    got = dict(query(mariadb_url, "SELECT id, payload FROM items"))
    want = dict(query(pg_url, "SELECT id, payload FROM items"))
    assert got == {k: None if v is None else bytes(v) for k, v in want.items()}
    assert got[13] == b"" and got[11] is None
    sb.close()


def test_upsert_updates_rows_in_place(store_url: str, pg_url: str, mariadb_url: str) -> None:
    _source(pg_url)
    sb = Syncbeat(store_url)
    assert sb.sync(_spec(pg_url, mariadb_url))[1].status == "completed"
    execute(
        pg_url,
        "UPDATE items SET amount = amount + 1, name = 'changed', payload = 'x' WHERE id < 50",
        "INSERT INTO items (region, id, name) SELECT 'west', i, 'new' "
        "FROM generate_series(1, 10) i",
    )
    job, outcome = sb.sync(_spec(pg_url, mariadb_url))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["pg-to-mysql"]
    assert table_rows(mariadb_url, "items", KEY) == table_rows(pg_url, "items", KEY)
    sb.close()


def test_strings_csv_could_confuse_arrive_exactly(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    execute(pg_url, "CREATE TABLE items (id integer PRIMARY KEY, txt text, vch varchar(100))")
    rows = [(i, v, v if v is None else v[:100]) for i, v in enumerate(EDGES)]
    with engine(pg_url) as made, made.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO items VALUES (:id, :txt, :vch)"),
            [{"id": i, "txt": t, "vch": v} for i, t, v in rows],
        )
    sb = Syncbeat(store_url)
    job, outcome = sb.sync(_spec(pg_url, mariadb_url, "append", batch_size=7))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["pg-to-mysql"]
    got = query(mariadb_url, "SELECT id, txt, vch FROM items ORDER BY id")
    assert got == rows
    sb.close()


def test_a_type_with_no_sql_form_takes_the_row_path_and_says_why(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    execute(
        pg_url,
        "CREATE TABLE items (id integer PRIMARY KEY, span interval, price numeric[])",
        "INSERT INTO items VALUES (1, '1 day', '{1.5}'), (2, NULL, NULL)",
    )
    sb = Syncbeat(store_url)
    job, outcome = sb.sync(_spec(pg_url, mariadb_url))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["rows"]
    message = events(sb, job.id, "plan")[0].message
    assert "column span (INTERVAL into" in message, message
    assert "has no SQL form for MariaDB's LOAD DATA" in message
    sb.close()


def test_a_refused_value_in_a_later_batch_is_named_and_its_batch_not_written(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    _source(pg_url)
    execute(pg_url, "UPDATE items SET ratio = 'NaN' WHERE region = 'south' AND id = 1000")
    sb = Syncbeat(store_url)
    job, outcome = sb.sync(_spec(pg_url, mariadb_url, "append"))
    assert outcome.status == "failed"
    assert "column 'ratio' of the row region='south', id=1000" in outcome.message
    assert plan_paths(sb, job.id) == ["pg-to-mysql"]
    # Every batch before it, and nothing of its own.
    assert job.rows_done > 0
    assert query(mariadb_url, "SELECT COUNT(*) FROM items") == [(job.rows_done,)]
    sb.close()


def test_a_resume_from_the_row_paths_checkpoint(
    store_url: str, pg_url: str, mariadb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay records its upper keys as the row path records a batch's last key: a
    job begun on one path ends on the other without a row lost or written twice."""
    _source(pg_url)
    # Append into the primary key syncbeat creates: a row written twice fails the batch.
    sb = Syncbeat(store_url)
    progress: list[Snapshot] = []
    hooks = RunHooks(should_stop=lambda: len(progress) > 3, on_progress=progress.append)
    with monkeypatch.context() as patched:
        patched.setattr(choice, "MOVERS", (RowMover,))
        job, outcome = sb.sync(_spec(pg_url, mariadb_url, "append"), hooks)
    assert outcome.status == "released"
    assert 0 < job.rows_done < ROWS
    job, outcome = sb.sync(_spec(pg_url, mariadb_url, "append"))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["rows", "pg-to-mysql"]
    assert table_rows(mariadb_url, "items", KEY) == table_rows(pg_url, "items", KEY)
    sb.close()


def test_a_server_refusing_load_data_leaves_the_batches_to_insert(
    store_url: str, pg_url: str, mariadb_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _source(pg_url)

    def refused(*_args: Any) -> None:
        raise pymysql.err.OperationalError(1148, "The used command is not allowed")

    monkeypatch.setattr(MysqlLoadWriter, "load", refused)
    sb = Syncbeat(store_url)
    job, outcome = sb.sync(_spec(pg_url, mariadb_url, "append"))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["pg-to-mysql"]
    retries = [e.message for e in sb.events(job.id, limit=1000) if e.kind == "retry"]
    assert len(retries) == 1 and "LOAD DATA LOCAL INFILE is disabled" in retries[0], retries
    assert table_rows(mariadb_url, "items", KEY) == table_rows(pg_url, "items", KEY)
    sb.close()


def test_the_row_path_still_arrives_as_documented(
    store_url: str,
    pg_url: str,
    mariadb_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The type matrix's pg-to-mariadb pair takes the relay; with the relay out of the
    way it holds the row path (a --query's, an unfit table's) to the same rules."""
    monkeypatch.setattr(
        choice, "MOVERS", tuple(m for m in choice.MOVERS if m is not PgToMysqlRelay)
    )
    fidelity.test_every_type_family_arrives_as_documented(
        store_url, ("pg", "mariadb", pg_url, mariadb_url), caplog
    )
