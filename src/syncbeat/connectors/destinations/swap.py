"""Replace mode's last step: the staging table, fully loaded, takes the table's place.

PostgreSQL and SQLite run DDL in transactions, so the swap (drop the old table, rename
the staging table, mark the job done) is one transaction: readers see the old table or
the new one, and a crash at any statement rolls the whole swap back. MySQL/MariaDB
commit around each DDL statement, so the swap is steps that a rerun of the same job
finishes from wherever a crash stopped it: 'swapping' is recorded first, the old table
is renamed aside and the staging table in with one atomic RENAME TABLE, then the old
table is dropped and the job marked 'done'. Every table the swap makes is named after
the job (``<table>__syncbeat_<job>``, ``…_old``), so a rerun removes its own job's
leftovers and never another job's.

The swap needs an exclusive lock on the old table. It waits for it at most
``SWAP_LOCK_TIMEOUT_SECONDS`` (``lock_timeout``, ``lock_wait_timeout``): a swap queued
behind a long reader would queue every later reader behind itself. When the lock is not
granted in time the swap fails as a transient error and is tried again with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from syncbeat.connectors import faults
from syncbeat.connectors.destinations import state
from syncbeat.connectors.faults import Point
from syncbeat.vocabulary import defaults
from syncbeat.vocabulary.errors import TransientError

log = logging.getLogger(__name__)

POINTS = {
    "transactional": ("lock_timeout", "done", "drop_target", "rename", "committed"),
    "mysql": ("swapping", "drop_old", "lock_timeout", "rename", "drop_renamed", "done"),
}
"""The swap's statements, in order: after each, a fault point ``swap.<name>`` where a
test can kill the process (faults.py) to check that a rerun finishes the swap."""

_PG_LOCK_NOT_AVAILABLE = "55P03"
_MYSQL_LOCK_WAIT_TIMEOUT = 1205


def staging_name(table: str, uid: str) -> str:
    return f"{table[:40]}__syncbeat_{uid[:8]}"


def old_name(table: str, uid: str) -> str:
    return f"{staging_name(table, uid)}_old"


class Swap:
    def __init__(self, engine: sa.Engine, schema: str | None, table: str, uid: str) -> None:
        self.engine, self.schema, self.table, self.uid = engine, schema, table, uid
        self.staging, self.old = staging_name(table, uid), old_name(table, uid)
        q = engine.dialect.identifier_preparer
        self._schema_prefix = f"{q.quote_schema(schema)}." if schema else ""
        self._quote = q.quote

    def full(self, name: str) -> str:
        return self._schema_prefix + self._quote(name)

    def run(self, epoch: int) -> None:
        try:
            if self.engine.dialect.name in ("mysql", "mariadb"):
                self._in_steps(epoch)
            else:
                self._in_one_transaction(epoch)
        except sa.exc.DBAPIError as exc:
            if not _lock_timed_out(exc):
                raise
            raise TransientError(
                f"The swap could not lock the table {self.table!r} within "
                f"{defaults.SWAP_LOCK_TIMEOUT_SECONDS:g} s: another session holds it "
                "(a long query or an open transaction).",
                hint="The job keeps every row loaded; run it again once that session ends.",
            ) from None

    def _has(self, conn: sa.Connection, name: str) -> bool:
        return sa.inspect(conn).has_table(name, schema=self.schema)

    def _in_one_transaction(self, epoch: int) -> None:
        with self.engine.begin() as conn:
            was = state.status(conn, self.uid)
            if was == state.DONE and not self._has(conn, self.staging):
                return  # tried again after a swap whose commit answer was lost: it is done
            if self.engine.dialect.name == "postgresql":
                timeout = int(defaults.SWAP_LOCK_TIMEOUT_SECONDS * 1000)
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {timeout}")
            faults.strike(Point.SWAP_LOCK_TIMEOUT)
            # First: Python's sqlite3 opens the transaction at the first data change,
            # and a DDL statement before it would commit on its own.
            state.set_status(conn, self.uid, epoch, state.DONE)
            faults.strike(Point.SWAP_DONE)
            if self._has(conn, self.table):
                conn.exec_driver_sql(f"DROP TABLE {self.full(self.table)}")
            faults.strike(Point.SWAP_DROP_TARGET)
            conn.exec_driver_sql(
                f"ALTER TABLE {self.full(self.staging)} RENAME TO {self._quote(self.table)}"
            )
            faults.strike(Point.SWAP_RENAME)
        faults.strike(Point.SWAP_COMMITTED)

    def _in_steps(self, epoch: int) -> None:
        with self.engine.begin() as conn:
            state.set_status(conn, self.uid, epoch, state.SWAPPING)
        faults.strike(Point.SWAP_SWAPPING)
        with self.engine.connect() as conn:
            staged, there = self._has(conn, self.staging), self._has(conn, self.table)
            if staged or self._has(conn, self.old):
                # Left by a run of this job that stopped after the rename; or in the way.
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.full(self.old)}")
            faults.strike(Point.SWAP_DROP_OLD)
            if staged:
                with _lock_wait_timeout(conn):
                    faults.strike(Point.SWAP_LOCK_TIMEOUT)
                    if there:
                        conn.exec_driver_sql(
                            f"RENAME TABLE {self.full(self.table)} TO {self.full(self.old)}, "
                            f"{self.full(self.staging)} TO {self.full(self.table)}"
                        )
                    else:
                        conn.exec_driver_sql(
                            f"RENAME TABLE {self.full(self.staging)} TO {self.full(self.table)}"
                        )
                faults.strike(Point.SWAP_RENAME)
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {self.full(self.old)}")
            faults.strike(Point.SWAP_DROP_RENAMED)
        with self.engine.begin() as conn:
            state.set_status(conn, self.uid, epoch, state.DONE)
        faults.strike(Point.SWAP_DONE)


@contextmanager
def _lock_wait_timeout(conn: sa.Connection) -> Iterator[None]:
    seconds = max(1, round(defaults.SWAP_LOCK_TIMEOUT_SECONDS))
    conn.exec_driver_sql(f"SET SESSION lock_wait_timeout = {seconds}")
    try:
        yield
    finally:
        conn.exec_driver_sql("SET SESSION lock_wait_timeout = DEFAULT")


def _lock_timed_out(exc: sa.exc.DBAPIError) -> bool:
    orig = exc.orig
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    errno = args[0] if args else None
    return getattr(orig, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE or (
        errno == _MYSQL_LOCK_WAIT_TIMEOUT
    )
