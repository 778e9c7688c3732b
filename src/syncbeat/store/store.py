"""Opening the job store: engine settings, migrations and the schema version check."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from syncbeat.connectors import engines, failures
from syncbeat.store import clock
from syncbeat.vocabulary import defaults, urls
from syncbeat.vocabulary.errors import StoreError, SyncbeatError

log = logging.getLogger(__name__)


SCHEMA_VERSION = "0004"
"""The newest migration. A store already there is opened without importing Alembic
(a tenth of a second on every command); tests check this equals Alembic's head."""


def _current_version(conn: sa.Connection) -> str | None:
    """The store's schema version, read directly; None for a new store."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _alembic_config(conn: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("syncbeat.store") / "migrations"))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def _set_wal(cur: Any) -> None:
    """Switch to WAL. Switching needs a moment of exclusive access, and SQLite answers
    "database is locked" at once instead of waiting when several processes open a new
    store together: try again for a while, as the busy timeout would."""
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: sa.Engine) -> None:
    """WAL so readers never block the writer, a busy timeout so writers queue instead of
    failing, and ``BEGIN IMMEDIATE`` so a transaction that reads then writes (a claim)
    holds the write lock from its first statement: atomic across processes."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        _set_wal(cur)
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """The SQL database that holds pipelines, jobs, leases, checkpoints and events."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = engines.create_engine(url, pool_pre_ping=True)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        elif self.dialect != "postgresql":
            raise StoreError(
                f"The job store must be SQLite or PostgreSQL, not {self.dialect}.",
                hint="Use --store sqlite:///syncbeat.db or --store postgresql://...",
            )
        self.migrated: tuple[str | None, str] | None = None
        try:
            self._open(migrate)
        except SyncbeatError:
            self.engine.dispose()  # a store that cannot be used keeps no connection open
            raise
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            detail = _first_line(exc)
            damaged = any(w in detail.lower() for w in ("not a database", "malformed"))
            raise StoreError(
                f"Cannot use the job store {urls.mask(url)}: {detail}",
                hint="This file is not a syncbeat job store, or it is damaged: point --store "
                "(or SYNCBEAT_STORE) at the right one, or move this file away to start a new "
                "store."
                if damaged
                else "Check that the store's database exists and is reachable, or choose "
                "another with --store / SYNCBEAT_STORE.",
            ) from None

    def _open(self, migrate: bool) -> None:
        """Check (or migrate) the schema, trying again for a moment while the store
        drops connections (a restart, a failover, an administrator's kill): a worker
        that starts just then must not exit for it."""
        wait = 0.1
        for tries in range(1, defaults.STORE_OPEN_TRIES + 1):
            try:
                if migrate:
                    self.migrated = self.upgrade()
                else:
                    self.check_schema()
                return
            except sa.exc.DBAPIError as exc:
                if tries == defaults.STORE_OPEN_TRIES or not failures.is_transient(exc):
                    raise
                log.warning("job store not ready (%s), trying again", type(exc.orig).__name__)
                time.sleep(wait)
                wait *= 3

    @property
    def masked_url(self) -> str:
        return urls.mask(self.url)

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A short transaction on the store."""
        with self.engine.begin() as conn:
            yield conn

    def now(self) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(sa.select(clock.now())).scalar_one())

    # -- schema -------------------------------------------------------------------

    def _revisions(self, conn: sa.Connection) -> tuple[str | None, str, set[str]]:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(_alembic_config())
        known = {rev.revision for rev in script.walk_revisions()}
        current = MigrationContext.configure(conn).get_current_revision()
        return current, str(script.get_current_head()), known

    def _newer(self, current: str) -> StoreError:
        return StoreError(
            f"The job store {self.masked_url} has schema version {current}, newer than "
            "this syncbeat knows.",
            hint="Upgrade syncbeat (pip install -U syncbeat) on this machine.",
        )

    def check_schema(self) -> str | None:
        with self.engine.connect() as conn:
            current, head, known = self._revisions(conn)
        if current is not None and current not in known:
            raise self._newer(current)
        if current != head:
            raise StoreError(
                f"The job store {self.masked_url} is at schema version {current}, "
                f"this syncbeat needs {head}.",
                hint="Run `syncbeat db upgrade`.",
            )
        return current

    def upgrade(self) -> tuple[str | None, str]:
        """Apply every migration the store lacks. Returns (before, after) versions."""
        with self.engine.connect() as conn:
            if _current_version(conn) == SCHEMA_VERSION:
                return SCHEMA_VERSION, SCHEMA_VERSION
        from alembic import command

        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Two processes opening a new store at once must not both migrate it.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7342001)"))
            current, head, known = self._revisions(conn)
            if current is not None and current not in known:
                raise self._newer(current)
            if current != head:
                log.info(
                    "migrating job store",
                    extra={"action": "store_migrate", "from": current, "to": head},
                )
                command.upgrade(_alembic_config(conn), "head")
        return current, head

    def dispose(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]
