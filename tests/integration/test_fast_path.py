"""The PostgreSQL-to-PostgreSQL binary COPY pass-through: used when it can be, correct
in every mode, exactly-once across an interruption, and replaced by the generic path
when the two sides' types differ."""

from __future__ import annotations

import sqlalchemy as sa

from syncbeat import PipelineSpec, RunHooks, Snapshot, Syncbeat
from tests.support.jobs import plan_paths
from tests.support.specs import table_copy
from tests.support.sql import table_rows

ROWS = 3_000

_TABLE = """
CREATE TABLE items (
    region text NOT NULL,
    id bigint NOT NULL,
    name text,
    amount numeric(12, 2),
    ratio double precision,
    created_at timestamptz,
    born date,
    active boolean,
    attrs jsonb,
    tags text[],
    blob bytea,
    PRIMARY KEY (region, id)
)
"""


def _source(url: str, rows: int = ROWS) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(_TABLE)
        conn.exec_driver_sql(
            "INSERT INTO items SELECT (ARRAY['north','south','East'])[1 + i %% 3], i, "
            "'naïve ✓ ' || i, i * 0.37, i / 7.0, "
            "timestamptz '2024-01-01 00:00:00+02' + i * interval '1 minute 3.5 seconds', "
            "date '2000-01-01' + i, i %% 2 = 0, jsonb_build_object('n', i, 'q', 'x\"y'), "
            "ARRAY['a', i::text], decode(md5(i::text), 'hex') "
            f"FROM generate_series(1, {rows}) i"
        )
        conn.exec_driver_sql("UPDATE items SET name = NULL, attrs = NULL WHERE id %% 11 = 0")
    engine.dispose()


def _spec(src: str, dst: str, mode: str, batch_size: int | None = 400) -> PipelineSpec:
    return table_copy(
        f"items-{mode}",
        src,
        dst,
        table="items",
        dest_table="items",
        mode=mode,
        batch_size=batch_size,
    )


KEY = ["region", "id"]


def test_every_mode_uses_the_copy_path_and_copies_every_value(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    _source(pg_url)
    sb = Syncbeat(store_url)
    for mode in ("append", "upsert", "replace"):
        job, outcome = sb.sync(_spec(pg_url, pg_url2, mode))
        assert outcome.status == "completed", outcome.message
        assert plan_paths(sb, job.id) == ["pg-copy"], mode
        assert job.rows_done == ROWS
        expected = table_rows(pg_url, "items", KEY)
        got = table_rows(pg_url2, "items", KEY)
        if mode == "append":  # append adds to the table the next modes start from
            assert got == expected
        else:
            assert got == expected, mode
    sb.close()


def test_upsert_updates_changed_rows_and_adds_new_ones(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    _source(pg_url)
    sb = Syncbeat(store_url)
    assert sb.sync(_spec(pg_url, pg_url2, "upsert"))[1].status == "completed"
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE items SET amount = amount + 1, name = 'changed' WHERE id < 50")
        conn.exec_driver_sql(
            "INSERT INTO items (region, id, name) SELECT 'west', i, 'new' "
            "FROM generate_series(1, 10) i"
        )
    engine.dispose()
    job, outcome = sb.sync(_spec(pg_url, pg_url2, "upsert"))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["pg-copy"]
    assert table_rows(pg_url2, "items", KEY) == table_rows(pg_url, "items", KEY)
    sb.close()


def test_an_interrupted_append_resumes_without_a_duplicate(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    _source(pg_url)
    # The destination without a primary key: a batch written twice would show.
    engine = sa.create_engine(pg_url2)
    with engine.begin() as conn:
        conn.exec_driver_sql(_TABLE.replace(",\n    PRIMARY KEY (region, id)", ""))
    engine.dispose()
    sb = Syncbeat(store_url)
    progress: list[Snapshot] = []
    hooks = RunHooks(should_stop=lambda: len(progress) > 3, on_progress=progress.append)
    job, outcome = sb.sync(_spec(pg_url, pg_url2, "append"), hooks)
    assert outcome.status == "released"
    assert 0 < job.rows_done < ROWS
    job, outcome = sb.sync(_spec(pg_url, pg_url2, "append"))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["pg-copy", "pg-copy"]
    resumed = [e for e in sb.events(job.id, limit=1000) if e.kind == "resumed"]
    assert resumed and resumed[0].data and resumed[0].data["rows_done"] == 1_200
    assert table_rows(pg_url2, "items", KEY) == table_rows(pg_url, "items", KEY)
    sb.close()


def test_different_column_types_fall_back_to_the_generic_path(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    _source(pg_url)
    engine = sa.create_engine(pg_url2)
    with engine.begin() as conn:  # amount as double precision: binary COPY would fail
        conn.exec_driver_sql(_TABLE.replace("numeric(12, 2)", "double precision"))
    engine.dispose()
    sb = Syncbeat(store_url)
    job, outcome = sb.sync(_spec(pg_url, pg_url2, "upsert"))
    assert outcome.status == "completed", outcome.message
    assert plan_paths(sb, job.id) == ["rows"]
    plan = next(e for e in sb.events(job.id, limit=1000) if e.kind == "plan")
    assert "column amount is numeric(12,2) in the source" in plan.message
    assert len(table_rows(pg_url2, "items", KEY)) == ROWS
    sb.close()


def test_adaptive_batches_grow_beyond_the_first(store_url: str, pg_url: str, pg_url2: str) -> None:
    _source(pg_url, 200_000)
    sb = Syncbeat(store_url)
    job, outcome = sb.sync(_spec(pg_url, pg_url2, "append", batch_size=None))
    assert outcome.status == "completed", outcome.message
    sizes = [e.data["rows"] for e in sb.events(job.id, limit=1000) if e.kind == "batch" and e.data]
    # The COPY path starts at 50,000 rows and grows while batches are quick.
    assert sizes[0] == 50_000 and max(sizes) > 50_000
    assert sum(sizes) == 200_000
    sb.close()


def test_upsert_into_a_new_table_survives_a_conflicting_row_written_meanwhile(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    """A first upsert into an empty table copies straight in; a row another writer adds
    ahead of the sync makes that batch conflict, and the staging path takes over."""
    _source(pg_url)
    sb = Syncbeat(store_url)
    intruder = sa.create_engine(pg_url2)
    written: list[object] = []

    def write_ahead(snapshot: object) -> None:
        if len(written) == 1:  # after the first batch: a row far past the checkpoint
            with intruder.begin() as conn:
                conn.exec_driver_sql(
                    "INSERT INTO items (region, id, name) VALUES ('East', 2999, 'intruder')"
                )
        written.append(snapshot)

    job, outcome = sb.sync(_spec(pg_url, pg_url2, "upsert"), RunHooks(on_progress=write_ahead))
    intruder.dispose()
    assert outcome.status == "completed", outcome.message
    assert len(written) > 2
    # The intruder's row was overwritten by the source's: the destination is the source.
    assert table_rows(pg_url2, "items", KEY) == table_rows(pg_url, "items", KEY)
    assert not [e for e in sb.events(job.id, limit=1000) if e.kind == "retry"]
    sb.close()
