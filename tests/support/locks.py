"""A lock held on a destination table, and the writer that waits on it cut off, as a
failover or an administrator would cut it: a sync's write fails with a connection
error in the middle of its transaction."""

from __future__ import annotations

import threading

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.polling import wait_for


class Terminator(threading.Thread):
    """Takes an exclusive lock on the destination table; once the sync's write is
    blocked on it, terminates that backend (as a failover or an admin would) and lets
    go of the lock. The write fails with a connection error in the middle of its
    transaction; nothing of it may remain."""

    def __init__(self, dst: str) -> None:
        super().__init__(name="terminator", daemon=True)
        self.database = make_url(dst).database
        self.admin = sa.create_engine(dst, isolation_level="AUTOCOMMIT")
        self.locker = sa.create_engine(dst)
        self.lock = self.locker.connect()
        self.terminated: int | None = None
        self.error: BaseException | None = None

    def hold_lock(self) -> None:
        self.lock.begin()
        self.lock.exec_driver_sql("LOCK TABLE dst IN ACCESS EXCLUSIVE MODE")
        self.start()

    def _blocked_writer(self) -> int | None:
        with self.admin.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = :db"
                    " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
                ),
                {"db": self.database},
            ).scalar()

    def run(self) -> None:
        try:
            pid = wait_for(
                "the sync's write to block on the lock", self._blocked_writer, interval=0.02
            )
            with self.admin.connect() as conn:
                assert conn.execute(
                    sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
                ).scalar_one()
            self.terminated = pid
        except BaseException as exc:
            self.error = exc
        finally:
            self.lock.rollback()
            self.lock.close()

    def close(self) -> None:
        self.join(timeout=60)
        self.admin.dispose()
        self.locker.dispose()
