"""The facts a report starts with: the machine, the servers' settings, the tables, the versions.

Numbers from another machine, another server configuration or another commit are not
comparable, so the report names all of them.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import shutil
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from servers import Servers

ROOT = Path(__file__).resolve().parent.parent  # the checkout whose commit is reported


def collect_facts(
    servers: Servers,
    *,
    mariadb_unreachable: bool,
    source_dbs: set[tuple[str, str]],
    sizes: dict[str, int],
) -> dict[str, str]:
    """The facts in the order the report lists them; ``source_dbs`` are the generated
    (server kind, database) pairs, whose tables are described."""
    f: dict[str, str] = {}
    f["date"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    f["cpu"] = f"{os.cpu_count()} CPUs" + (f" ({model})" if model else "")
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        meminfo = ""
    total = re.search(r"MemTotal:\s+(\d+)", meminfo)
    f["memory"] = f"{int(total[1]) / 1024 / 1024:.1f} GiB" if total else "?"
    f["os"] = f"{platform.system()} {platform.release()}"
    f["python"] = platform.python_version()
    pg = servers.pg
    settings = ", ".join(
        f"{name}={pg.scalar(f'SHOW {name}')}"
        for name in ("shared_buffers", "synchronous_commit", "max_wal_size")
    )
    f["postgresql"] = f"{pg.scalar('SHOW server_version')} ({settings})"
    for key, client in (("psql", "psql"), ("mariadb client", "mariadb")):  # the pipes' clients
        if (path := shutil.which(client)) is not None:
            f[key] = subprocess.run(
                [path, "--version"], capture_output=True, text=True
            ).stdout.strip()
    if not mariadb_unreachable:
        m = servers.maria
        settings = ", ".join(
            f"{name}={m.scalar(f'SELECT @@{name}')}"
            for name in ("innodb_buffer_pool_size", "innodb_flush_log_at_trx_commit")
        )
        f["mariadb"] = f"{m.scalar('SELECT VERSION()')} ({settings})"
    for kind, db in sorted(source_dbs):
        server = servers[kind]
        tuple_bytes = ""
        if kind == "pg":
            size = int(server.scalar("SELECT pg_relation_size('items')", db))
            avg = server.scalar("SELECT avg(pg_column_size(items.*)) FROM items", db)
            tuple_bytes = f", {float(avg):.0f} bytes/row as tuples"
        else:
            size = int(
                server.scalar(
                    "SELECT data_length FROM information_schema.tables "
                    f"WHERE table_schema = '{db}' AND table_name = 'items'"
                )
            )
        rows = sizes[db]
        f[f"table {kind} {db}"] = (
            f"{rows:,} rows, {size / 1e6:.0f} MB on disk ({size / rows:.0f} bytes/row)"
            + tuple_bytes
        )
    for package in (
        "syncbeat",
        "dlt",
        "pyarrow",
        "connectorx",
        "ingestr",
        "sling-linux-amd64",
        "sqlalchemy",
        "psycopg",
        "pymysql",
    ):
        try:
            f[package] = version(package)
        except PackageNotFoundError:
            f[package] = "not installed"
    git = shutil.which("git")
    if git:
        head = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if head:
            f["syncbeat"] += f" (git {head}{', uncommitted changes' if dirty else ''})"
    return f
