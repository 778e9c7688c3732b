"""The database servers the tests run against, and fresh databases on them.

PostgreSQL and MariaDB URLs come from SYNCBEAT_TEST_PG and SYNCBEAT_TEST_MARIADB (with
the local defaults). A server that cannot be reached skips its tests locally, and fails
them in CI (CI=true), where a skipped database test would hide a broken build.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("SYNCBEAT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("SYNCBEAT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, exc: Exception) -> None:
    """Skip the test for a server that is not there (fail it in CI)."""
    reason = f"{what} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    if IN_CI:
        pytest.fail(f"{reason}; in CI every database test must run", pytrace=False)
    pytest.skip(reason)


def missing(reason: str) -> None:
    """Skip the test for a tool that is not installed (fail it in CI)."""
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


class FreshDatabases:
    """Creates databases with a unique name on one server and drops them at the end."""

    def __init__(self, admin_url: str, what: str) -> None:
        self.admin_url, self.what = admin_url, what
        self.engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.created: list[str] = []

    def create(self) -> str:
        name = f"sbtest_{uuid.uuid4().hex[:12]}"
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE {name}")
        except sa.exc.OperationalError as exc:
            unavailable(self.what, exc)
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self.engine.connect() as conn:
            if self.engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            else:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
