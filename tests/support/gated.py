"""A PostgreSQL source whose pace the test sets, for the liveness tests.

The source is a SELECT over ``src`` gated by ``gate()``, a function that sleeps for the
delay held in the ``knob`` table once per statement: the test sets the pace of the job
(slow while it does something to it, fast to let it finish) instead of guessing timings.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec
from tests.support import specs, sql

ROWS = 600
BATCH = 20  # 30 batches
SLOW = 0.1  # seconds the source sleeps per statement: a job takes a few seconds
CRAWL = 0.5  # while the test acts on a running job, so that it cannot end meanwhile
SOURCE_QUERY = "SELECT id, v, n FROM src WHERE (SELECT gate())"


def with_app_name(url: str, name: str) -> str:
    """The URL with a libpq application_name, so the test can find those connections."""
    return (
        make_url(url)
        .update_query_dict({"application_name": name})
        .render_as_string(hide_password=False)
    )


def make_source(data_url: str, delay: float) -> None:
    """``src`` of ROWS rows, and the gate that reads it ``delay`` seconds a statement."""
    with sql.engine(data_url, autocommit=True) as engine, engine.connect() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE src (id integer PRIMARY KEY, v text NOT NULL, n numeric(12, 2))"
        )
        conn.exec_driver_sql(
            f"INSERT INTO src SELECT i, 'row ' || i || ' é', i / 4.0 "
            f"FROM generate_series(1, {ROWS}) AS i"
        )
        conn.exec_driver_sql("CREATE TABLE knob (delay double precision NOT NULL)")
        conn.execute(sa.text("INSERT INTO knob VALUES (:d)"), {"d": delay})
        conn.exec_driver_sql(
            "CREATE FUNCTION gate() RETURNS boolean LANGUAGE plpgsql AS $$ "
            "BEGIN PERFORM pg_sleep((SELECT delay FROM knob)); RETURN true; END $$"
        )


def set_delay(data_url: str, delay: float) -> None:
    with sql.engine(data_url, autocommit=True) as engine, engine.connect() as conn:
        conn.execute(sa.text("UPDATE knob SET delay = :d"), {"d": delay})


def spec(name: str, data_url: str, dest_table: str = "dst") -> PipelineSpec:
    """Copy the gated source into ``dest_table`` of the same database; the source's
    connections are named ``sbsrc-<name>``."""
    return specs.query_copy(
        name,
        with_app_name(data_url, f"sbsrc-{name}"),
        SOURCE_QUERY,
        data_url,
        dest_table=dest_table,
        batch_size=BATCH,
    )


def state_epochs(url: str) -> list[int]:
    """The lease epochs of the destination's state rows."""
    return [epoch for (epoch,) in sql.query(url, "SELECT lease_epoch FROM _syncbeat_state")]


def assert_copied(data_url: str, dest_table: str = "dst") -> None:
    assert sql.table_rows(data_url, dest_table, ["id"]) == sql.table_rows(data_url, "src", ["id"])
