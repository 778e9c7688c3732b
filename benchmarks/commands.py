"""The command lines that run each kind of variant: what is spawned and measured.

The raw pipes (pipes.py), the syncbeat CLI, Sling and ingestr (peers.py) run as they are;
the library, the naive design and dlt run as workloads of workloads.py, each in a fresh
interpreter of this venv, so their imports are measured too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from databases import DLT_DATASET, DST_DB
from naive import PAGE, NaivePlan
from peers import ingestr_command, peer_env, sling_command
from rawpipes import pipe_commands, pipe_env
from servers import Servers
from variants import Variant

PYTHON = sys.executable  # the venv's interpreter: the syncbeat and dlt it has installed
SYNCBEAT = str(Path(PYTHON).parent / "syncbeat")
WORKLOADS = str(Path(__file__).resolve().parent / "workloads.py")

_CX_SCHEME = {"pg": "postgresql", "mariadb": "mysql"}

# The argv of each process (several are piped into each other) and the env they add.
Command = tuple[list[list[str]], dict[str, str]]


def command_for(v: Variant, servers: Servers, naive: NaivePlan, tmp: Path) -> Command:
    """The processes that run ``v`` (several: a pipeline) and the environment they add;
    ``tmp`` is the run's empty working directory, for its store and dlt's files."""
    src, dst = servers[v.src], servers[v.dst]
    if v.kind == "pipe":
        return pipe_commands(src, dst, v.src_db), pipe_env(servers.maria)
    if v.kind == "sling":
        return [sling_command(src, dst, v.src_db)], peer_env(tmp)
    if v.kind == "ingestr":
        return [ingestr_command(src, dst, v.src_db)], peer_env(tmp)
    if v.kind == "cli":
        return [
            [
                SYNCBEAT,
                "--store",
                f"sqlite:///{tmp}/store.db",
                "sync",
                "--from",
                src.syncbeat_url(v.src_db),
                "--table",
                "items",
                "--to",
                dst.syncbeat_url(DST_DB),
                "--mode",
                v.mode,
            ],
        ], {"COLUMNS": "200", "NO_COLOR": "1"}
    if v.kind == "lib":
        args: dict[str, Any] = {
            "store": f"sqlite:///{tmp}/store.db",
            "source_url": src.syncbeat_url(v.src_db),
            "dest_url": dst.syncbeat_url(DST_DB),
            "table": "items",
            "mode": v.mode,
            "checkpoints": v.checkpoints,
        }
        return [[PYTHON, WORKLOADS, "syncbeat-lib", json.dumps(args)]], {}
    if v.kind == "naive":
        args = {
            "source_dsn": src.libpq(v.src_db),
            "dest_dsn": dst.libpq(DST_DB),
            "offsets": naive.offsets,
            "batches": naive.batches,
            "page": PAGE,
        }
        return [[PYTHON, WORKLOADS, "naive", json.dumps(args)]], {}
    if v.kind == "dlt":
        args = {
            "source_url": src.dlt_source_url(v.src_db),
            "dest_kind": "postgres" if v.dst == "pg" else "sqlalchemy",
            "dest_url": dst.dlt_dest_url(DST_DB),
            # On MySQL/MariaDB a dlt dataset is a database: use the fresh one.
            "dataset": DLT_DATASET if v.dst == "pg" else DST_DB,
            "backend": v.backend,
            "disposition": v.disposition,
        }
        if v.backend == "connectorx":
            # connectorx takes its own URL (mysql://, postgresql://), not SQLAlchemy's
            # mysql+pymysql:// that dlt would hand it; everything else is dlt's default
            # (the whole table read into one Arrow table: connectorx ignores chunk_size).
            args["backend_kwargs"] = {"conn": src.url(_CX_SCHEME[v.src], v.src_db)}
        env = {
            # Configured from code and env only; the run dir is an empty temp dir.
            "DLT_DATA_DIR": str(tmp / "dlt-data"),
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "RUNTIME__LOG_LEVEL": "WARNING",
        }
        return [[PYTHON, WORKLOADS, "dlt", json.dumps(args)]], env
    raise AssertionError(v.kind)
