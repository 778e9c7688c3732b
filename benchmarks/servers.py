"""The PostgreSQL and MariaDB servers the benchmark runs against, and how to reach them.

The benchmark starts no server: it is given one of each by URL (SYNCBEAT_BENCH_PG and
SYNCBEAT_BENCH_MARIADB) and makes its own ``sbbench_*`` databases on them. Every tool it
measures (psql, the syncbeat CLI and library, dlt) wants the address in its own URL
dialect, so a Server keeps the parts and spells the URL each one needs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg
import pymysql  # type: ignore[import-untyped]  # no stubs shipped

# Only databases under this prefix are ever dropped: the servers may hold other data.
PREFIX = "sbbench_"


@dataclasses.dataclass
class Server:
    kind: str  # "pg" | "mariadb"
    user: str
    password: str | None
    host: str
    port: int
    admin_db: str

    @classmethod
    def parse(cls, kind: str, dsn: str) -> Server:
        parts = urlsplit(dsn)
        default_port, default_user, default_db = (
            (5432, "postgres", "postgres") if kind == "pg" else (3306, "root", "")
        )
        return cls(
            kind=kind,
            user=unquote(parts.username) if parts.username else default_user,
            password=unquote(parts.password) if parts.password is not None else None,
            host=parts.hostname or "127.0.0.1",
            port=parts.port or default_port,
            admin_db=parts.path.lstrip("/") or default_db,
        )

    def url(self, scheme: str, db: str, *, need_password: bool = False) -> str:
        user = quote(self.user, safe="")
        password = self.password
        if password is None and need_password:
            # dlt's postgres destination insists on a password; with trust auth (the
            # local default) the server never asks for it.
            password = "unused"
        auth = f"{user}:{quote(password, safe='')}" if password is not None else user
        return f"{scheme}://{auth}@{self.host}:{self.port}/{db}"

    # PostgreSQL: libpq URI (psql, psycopg), syncbeat URL, dlt URLs.
    def libpq(self, db: str) -> str:
        return self.url("postgresql", db)

    def syncbeat_url(self, db: str) -> str:
        return self.url("postgresql" if self.kind == "pg" else "mysql+pymysql", db)

    def dlt_source_url(self, db: str) -> str:
        return self.url("postgresql+psycopg2" if self.kind == "pg" else "mysql+pymysql", db)

    def dlt_dest_url(self, db: str) -> str:
        if self.kind == "pg":
            return self.url("postgresql", db, need_password=True)
        return self.url("mysql+pymysql", db)

    def connect(self, db: str | None = None) -> Any:
        if self.kind == "pg":
            return psycopg.connect(self.libpq(db or self.admin_db), autocommit=True)
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or "",
            database=db or (self.admin_db or None),
            autocommit=True,
            charset="utf8mb4",
        )

    def execute(self, sql: str, db: str | None = None, params: Any = None) -> list[Any]:
        conn = self.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    def scalar(self, sql: str, db: str | None = None) -> Any:
        rows = self.execute(sql, db)
        return rows[0][0] if rows else None

    def recreate(self, db: str) -> None:
        assert db.startswith(PREFIX)
        if self.kind == "pg":
            self.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            self.execute(f'CREATE DATABASE "{db}"')
        else:
            self.execute(f"DROP DATABASE IF EXISTS `{db}`")
            self.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")

    def drop(self, db: str) -> None:
        assert db.startswith(PREFIX)
        if self.kind == "pg":
            self.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        else:
            self.execute(f"DROP DATABASE IF EXISTS `{db}`")

    def checkpoint(self) -> None:
        """Write out dirty pages left by the previous run, so it does not bill the next."""
        if self.kind == "pg":
            with contextlib.suppress(psycopg.Error):  # not a superuser: skip
                self.execute("CHECKPOINT")

    def count(self, db: str, table: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {table}", db))


@dataclasses.dataclass
class Servers:
    """The pair a run uses; a variant names its source and destination by kind."""

    pg: Server
    maria: Server

    @classmethod
    def from_environment(cls) -> Servers:
        return cls(
            pg=Server.parse(
                "pg",
                os.environ.get(
                    "SYNCBEAT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
                ),
            ),
            maria=Server.parse(
                "mariadb", os.environ.get("SYNCBEAT_BENCH_MARIADB", "mysql://root@127.0.0.1:3306")
            ),
        )

    def __getitem__(self, kind: str) -> Server:
        return self.pg if kind == "pg" else self.maria
