"""Statements in flight, so that a stuck batch can be cancelled from another thread.

The progress watchdog runs on the heartbeat thread; when a batch has made no progress
for ``batch_timeout`` it cancels whatever the runner is waiting on, with each driver's
own means: psycopg's ``cancel()``, SQLite's ``interrupt()``, MySQL's ``KILL QUERY``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

log = logging.getLogger(__name__)


class Statements:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[int, tuple[sa.Engine, Any]] = {}

    @contextmanager
    def track(self, engine: sa.Engine, conn: sa.Connection) -> Iterator[None]:
        dbapi = conn.connection.dbapi_connection
        with self._lock:
            self._active[id(dbapi)] = (engine, dbapi)
        try:
            yield
        finally:
            with self._lock:
                self._active.pop(id(dbapi), None)

    def watch(self, engine: sa.Engine) -> None:
        """Track every connection the engine hands out until it is returned, so that
        statements outside a batch (reflection, the count, the destination's fence),
        which can hang on a lock just as well, can be cancelled too."""

        @event.listens_for(engine, "checkout")
        def _checkout(dbapi: Any, _record: Any, _proxy: Any) -> None:
            with self._lock:
                self._active[id(dbapi)] = (engine, dbapi)

        @event.listens_for(engine, "checkin")
        def _checkin(dbapi: Any, _record: Any) -> None:
            if dbapi is not None:
                with self._lock:
                    self._active.pop(id(dbapi), None)

    def cancel_all(self) -> int:
        """Ask every tracked connection to stop its statement. Returns how many."""
        with self._lock:
            active = list(self._active.values())
        for engine, dbapi in active:
            try:
                _cancel(engine, dbapi)
            except Exception as exc:  # the statement may just have finished
                log.warning(
                    "could not cancel a statement: %s",
                    type(exc).__name__,
                    extra={"action": "cancel_failed"},
                )
        return len(active)


def _cancel(engine: sa.Engine, dbapi: Any) -> None:
    dialect = engine.dialect.name
    if dialect == "postgresql":
        dbapi.cancel()
    elif dialect == "sqlite":
        dbapi.interrupt()
    elif dialect in ("mysql", "mariadb"):
        thread_id = dbapi.thread_id()
        with engine.connect() as conn:
            conn.exec_driver_sql(f"KILL QUERY {int(thread_id)}")
