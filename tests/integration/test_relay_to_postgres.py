"""MariaDB to PostgreSQL through the relay (engine.relay_to_postgres): what the type
matrix does not say. The plan names the path, or why a table does not take it; text
that COPY must escape arrives exactly; a job the row path began resumes on the relay;
a batch wider than one MariaDB value is still copied whole."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.engine import choice
from syncbeat.engine.movers import RowMover
from tests.support.sql import execute

pytestmark = [pytest.mark.mariadb, pytest.mark.postgres]

RELAY = "mysql-to-pg"


def _sync(
    store: str, src: str, dst: str, table: str, batch_size: int | None = None
) -> tuple[Any, list[Any]]:
    """Sync ``table`` into PostgreSQL with the library: the outcome and the job's events."""
    spec = PipelineSpec(
        name=f"relay-{table}",
        source_url=src,
        source_table=table,
        dest_url=dst,
        dest_table=table,
        batch_size=batch_size,
    )
    sb = Syncbeat(store)
    try:
        job, outcome = sb.sync(spec)
        return outcome, sb.events(job.id, limit=1000)
    finally:
        sb.close()


def _plans(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.data["path"], e.message) for e in events if e.kind == "plan"]


def _rows(url: str, table: str, columns: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = [
            tuple(r) for r in conn.exec_driver_sql(f"SELECT {columns} FROM {table} ORDER BY id")
        ]
    engine.dispose()
    return rows


def _actions(caplog: pytest.LogCaptureFixture) -> set[str]:
    return {getattr(r, "action", "") for r in caplog.records}


def test_the_plan_names_the_relay_or_why_a_table_does_not_take_it(
    store_url: str, mariadb_url: str, pg_url: str
) -> None:
    execute(
        mariadb_url,
        "CREATE TABLE plain (id INT PRIMARY KEY, note TEXT)",
        "INSERT INTO plain VALUES (1, 'a'), (2, NULL)",
        "CREATE TABLE floats (id INT PRIMARY KEY, f FLOAT)",
        "INSERT INTO floats VALUES (1, 3.14)",
    )
    outcome, events = _sync(store_url, mariadb_url, pg_url, "plain")
    assert outcome.status == "completed", outcome.message
    [(path, message)] = _plans(events)
    assert path == RELAY and "MariaDB/MySQL to PostgreSQL" in message, message

    outcome, events = _sync(store_url, mariadb_url, pg_url, "floats")
    assert outcome.status == "completed", outcome.message
    [(path, message)] = _plans(events)
    assert path == "rows"
    assert "column f: FLOAT has no exact text in MariaDB's SQL" in message, message
    assert _rows(pg_url, "floats", "id, f") == [(1, 3.14)]  # the row path's float4 rule


TEXTS = [
    "\t", "\n", "\r", "\\", "\\N", "N", "", "\\\\t", "a\tb\nc\\Nd\r\n", "😀 𝄞 e\u0301",
    "'quote' \"dq\" `bt`", " lead and trail ", "\x01\x7f", None, "end\\",
]  # fmt: skip


def test_text_that_copy_escapes_arrives_exactly(
    store_url: str, mariadb_url: str, pg_url: str
) -> None:
    """Every character COPY text gives a meaning (tab, newline, CR, backslash, ``\\N``)
    as data, next to NULL and ''; in a utf8mb4 column, a latin1 one (converted to UTF-8
    by MariaDB) and JSON strings. Batches of 4, so lines meet batch boundaries too."""
    execute(
        mariadb_url,
        "CREATE TABLE texts (id INT PRIMARY KEY, t TEXT, l VARCHAR(20) CHARACTER SET latin1,"
        " j JSON) DEFAULT CHARSET utf8mb4",
    )
    latin1 = ["é\tñ\\", "ü\n", "\\N", "", None]
    engine = sa.create_engine(mariadb_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO texts VALUES (:id, :t, :l, JSON_QUOTE(:t))"),
            [{"id": i, "t": t, "l": latin1[i % len(latin1)]} for i, t in enumerate(TEXTS, 1)],
        )
    engine.dispose()
    outcome, events = _sync(store_url, mariadb_url, pg_url, "texts", batch_size=4)
    assert outcome.status == "completed", outcome.message
    assert {path for path, _ in _plans(events)} == {RELAY}
    got = _rows(pg_url, "texts", "id, t, l, j::text")
    assert got == _rows(mariadb_url, "texts", "id, t, l, j")
    assert [t for _, t, _, _ in got] == TEXTS


@pytest.mark.parametrize(
    "key_ddl, keys",
    [
        ("INT", [5, 1, 9, 3, 7, 2, 8, 4]),
        ("VARCHAR(20) COLLATE utf8mb4_nopad_bin", ["b", "B", "a", "é", "a ", "😀", "z", "Z"]),
        ("ENUM('zed', 'alpha', 'mid', 'b', 'c', 'd', 'e', 'f')", ["zed", "alpha", "mid", "b",
                                                                 "c", "d", "e", "f"]),
        ("DATETIME(6)", [f"2024-02-29 12:34:5{i}.{i}" for i in range(8)]),
    ],
    ids=["int", "text", "enum", "datetime"],
)  # fmt: skip
def test_a_job_the_row_path_began_resumes_on_the_relay(
    store_url: str,
    mariadb_url: str,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
    key_ddl: str,
    keys: list[Any],
) -> None:
    """The relay's key ranges start from the checkpoint the row path recorded (an enum's
    number, a text as stored): nothing skipped, nothing twice. The row path stops on a
    boolean of 2 in its second batch; once it is fixed the job resumes on the relay."""
    execute(
        mariadb_url,
        f"CREATE TABLE resumed (k {key_ddl} PRIMARY KEY, id INT, flag BOOLEAN)"
        " DEFAULT CHARSET utf8mb4",
    )
    engine = sa.create_engine(mariadb_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO resumed VALUES (:k, :id, :flag)"),
            [{"k": k, "id": i, "flag": 2 if i == 6 else i % 2} for i, k in enumerate(keys)],
        )
    monkeypatch.setattr(choice, "MOVERS", (RowMover,))
    outcome, events = _sync(store_url, mariadb_url, pg_url, "resumed", batch_size=3)
    assert outcome.status == "failed" and "column 'flag'" in outcome.message, outcome.message
    assert 0 < len(_rows(pg_url, "resumed", "id")) < len(keys)
    monkeypatch.undo()
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE resumed SET flag = 1 WHERE flag = 2")
    outcome, events = _sync(store_url, mariadb_url, pg_url, "resumed", batch_size=3)
    assert outcome.status == "completed", outcome.message
    assert [path for path, _ in _plans(events)] == ["rows", RELAY]
    assert any(e.kind == "resumed" for e in events)
    source = sorted(_rows(mariadb_url, "resumed", "id, k, flag"))
    assert sorted(_rows(pg_url, "resumed", "id, k, CAST(flag AS INT)")) == source


def test_a_batch_wider_than_one_mariadb_value_is_copied_whole(
    store_url: str, mariadb_url: str, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Six 3.6 MB rows are past max_allowed_packet (16 MB) as one GROUP_CONCAT value: cut
    short, so the batch is read again a line a row. A row whose line alone is past it
    (a 9 MB blob is 18 MB of hex) has no line, and a long text that needs escapes is
    not escaped in SQL (MariaDB's REPLACE is quadratic): their batches take the row path."""
    caplog.set_level(logging.INFO, logger="syncbeat.engine.relay_to_postgres")
    execute(
        mariadb_url,
        "CREATE TABLE wide (id INT PRIMARY KEY, t MEDIUMTEXT) DEFAULT CHARSET utf8mb4",
        "INSERT INTO wide SELECT seq, CONCAT(seq, REPEAT('é 😀 x', 400000)) FROM seq_1_to_6",
        "CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB)",
        "INSERT INTO blobs VALUES (1, X'00'), (2, REPEAT(X'00FF5C', 3000000)), (3, NULL)",
        "CREATE TABLE escapes (id INT PRIMARY KEY, t MEDIUMTEXT) DEFAULT CHARSET utf8mb4",
        "INSERT INTO escapes SELECT seq, REPEAT(CONCAT('a', CHAR(9), CHAR(92), 'N', CHAR(10)),"
        " 100000 * seq) FROM seq_1_to_3",
    )
    outcome, events = _sync(store_url, mariadb_url, pg_url, "wide")
    assert outcome.status == "completed", outcome.message
    assert {path for path, _ in _plans(events)} == {RELAY}
    assert "relay_lines" in _actions(caplog) and "relay_rows" not in _actions(caplog)
    assert _rows(pg_url, "wide", "id, md5(t), length(t)") == _rows(
        mariadb_url, "wide", "id, md5(t), char_length(t)"
    )
    for table, column in (("blobs", "b"), ("escapes", "t")):
        caplog.clear()
        outcome, events = _sync(store_url, mariadb_url, pg_url, table)
        assert outcome.status == "completed", outcome.message
        assert {path for path, _ in _plans(events)} == {RELAY}
        assert "relay_rows" in _actions(caplog)
        length = "length" if column == "b" else "char_length"
        assert _rows(pg_url, table, f"id, md5({column}), length({column})") == _rows(
            mariadb_url, table, f"id, md5({column}), {length}({column})"
        )
