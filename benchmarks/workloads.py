"""Workloads that benchmarks/run.py measures in a subprocess of their own.

    python benchmarks/workloads.py KIND 'JSON-ARGS'

KIND is ``syncbeat-lib`` (syncbeat through the library, optionally with checkpoints and
heartbeats off), ``naive`` (OFFSET/LIMIT paging with a checkpoint per batch) or ``dlt``.
The last line on stdout is a JSON object with what the workload found out; run.py takes
the wall time and the peak RSS of the whole process (os.wait4), so imports count too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any

COLUMNS = "id, name, email, amount, qty, created_at, updated_at, active, attrs, note"


def syncbeat_lib(args: dict[str, Any]) -> dict[str, Any]:
    """``Syncbeat(store).sync(spec, RunHooks(checkpoints=...))`` with default settings."""
    from syncbeat import PipelineSpec, RunHooks, Syncbeat

    fields = {f.name for f in dataclasses.fields(RunHooks)}
    hook_args: dict[str, Any] = {}
    if args.get("checkpoints") is not None:
        if "checkpoints" not in fields:
            return {"na": "no switch"}
        hook_args["checkpoints"] = args["checkpoints"]
    sb = Syncbeat(args["store"])
    spec = PipelineSpec(
        name="bench",
        source_url=args["source_url"],
        source_table=args["table"],
        dest_url=args["dest_url"],
        dest_table=args["table"],
        mode=args["mode"],
    )
    started = time.perf_counter()
    job, outcome = sb.sync(spec, RunHooks(**hook_args))
    elapsed = time.perf_counter() - started
    sb.close()
    if outcome.status != "completed":
        raise SystemExit(f"syncbeat run ended {outcome.status}: {outcome.message}")
    return {"rows_done": job.rows_done, "inner_seconds": elapsed}


def naive(args: dict[str, Any]) -> dict[str, Any]:
    """The design syncbeat replaces: ``ORDER BY id OFFSET n LIMIT 100`` pages, each batch's
    rows and an UPDATE of a job row committed together in the destination. Times a prefix
    of ``batches`` batches at each offset and returns the mean cost of one batch there."""
    import psycopg
    from psycopg.types.json import JsonbDumper

    size = args["page"]
    select = f"SELECT {COLUMNS} FROM items ORDER BY id OFFSET %s LIMIT {size}"
    insert = f"INSERT INTO items ({COLUMNS}) VALUES ({', '.join(['%s'] * 10)})"
    per_batch: dict[str, float] = {}
    with (
        psycopg.connect(args["source_dsn"], autocommit=True) as src,
        psycopg.connect(args["dest_dsn"]) as dst,
    ):
        dst.adapters.register_dumper(dict, JsonbDumper)  # attrs: decoded jsonb, sent back
        dst.execute(
            "CREATE TABLE naive_job (id int PRIMARY KEY, next_offset bigint NOT NULL, "
            "rows_done bigint NOT NULL, updated_at timestamptz NOT NULL)"
        )
        dst.execute("INSERT INTO naive_job VALUES (1, 0, 0, now())")
        dst.commit()
        for offset in args["offsets"]:
            started = time.perf_counter()
            done = 0
            for b in range(args["batches"]):
                at = offset + b * size
                rows = src.execute(select, (at,)).fetchall()
                if not rows:
                    break
                with dst.cursor() as cur:
                    cur.executemany(insert, rows)
                    cur.execute(
                        "UPDATE naive_job SET next_offset = %s, rows_done = rows_done + %s, "
                        "updated_at = now() WHERE id = 1",
                        (at + len(rows), len(rows)),
                    )
                dst.commit()
                done += 1
            per_batch[str(offset)] = (time.perf_counter() - started) / max(done, 1)
    return {"per_batch": per_batch}


def dlt_run(args: dict[str, Any]) -> dict[str, Any]:
    """dlt's ``sql_database`` source into a postgres or sqlalchemy destination,
    configured from code only; run.py starts us in an empty temporary directory."""
    import dlt
    from dlt.sources.sql_database import sql_database

    if args["dest_kind"] == "postgres":
        destination = dlt.destinations.postgres(credentials=args["dest_url"])
    else:
        destination = dlt.destinations.sqlalchemy(credentials=args["dest_url"])
    pipeline = dlt.pipeline(
        pipeline_name="sbbench",
        destination=destination,
        dataset_name=args["dataset"],
        pipelines_dir=os.path.join(os.getcwd(), "pipelines"),
        progress=None,
    )
    source = sql_database(
        credentials=args["source_url"],
        table_names=["items"],
        backend=args["backend"],
        backend_kwargs=args.get("backend_kwargs"),
    )
    if args["disposition"] == "merge":
        source.items.apply_hints(primary_key="id", write_disposition="merge")
    else:
        source.items.apply_hints(write_disposition=args["disposition"])
    started = time.perf_counter()
    info = pipeline.run(source)
    elapsed = time.perf_counter() - started
    if info.has_failed_jobs:
        raise SystemExit(f"dlt load has failed jobs: {info}")
    return {"inner_seconds": elapsed, "dlt_version": dlt.__version__}


KINDS = {"syncbeat-lib": syncbeat_lib, "naive": naive, "dlt": dlt_run}


def main() -> None:
    kind, raw = sys.argv[1], sys.argv[2]
    result = KINDS[kind](json.loads(raw))
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
