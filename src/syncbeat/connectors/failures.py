"""What a driver's error means: worth retrying, or a message and a hint for a person.

syncbeat decides what is transient (the backoff is :mod:`syncbeat.engine.retry`'s): a
lost connection, a timeout, a deadlock, a serialization failure, a busy SQLite file.
Everything else (bad SQL, a missing table, a wrong password, a type mismatch) fails at
once, because a retry cannot fix it and would only delay the message a person needs.
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa

from syncbeat.connectors import hints
from syncbeat.vocabulary.errors import (
    DestinationError,
    SourceError,
    SyncbeatError,
    TransientError,
)

log = logging.getLogger(__name__)

# PostgreSQL SQLSTATE classes and codes that a retry can fix.
_PG_TRANSIENT_PREFIXES = ("08", "53", "57P")  # connection, resources, operator intervention
_PG_TRANSIENT = {"40001", "40P01", "55P03", "57014"}  # serialization, deadlock, lock, cancel
# MySQL/MariaDB error numbers a retry can fix.
_MYSQL_TRANSIENT = {1040, 1205, 1213, 1317, 2003, 2006, 2013, 2055, 1927, 1290}
# Errors that mean "you can never connect like this": fail at once with a hint.
_PG_AUTH = {"28P01", "28000"}
_MYSQL_AUTH = {1045, 1044, 1698}
_PG_NO_DB = "3D000"
_MYSQL_NO_DB = 1049
_PG_AUTH_TEXT = re.compile(
    r"password authentication failed|role \".*\" does not exist|"
    r"no pg_hba\.conf entry"
)
_PG_NO_DB_TEXT = re.compile(r"database \".*\" does not exist")


# What drivers say, without an error code, when a server goes away or restarts mid-run.
# (Before the first batch the same words mean a wrong host or port: see classify.)
_TRANSIENT_TEXT = (
    "database is locked",
    "server closed the connection",
    "connection refused",
    "connection reset",
    "connection lost",
    "connection is closed",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "lost connection",
    "server has gone away",
)


def _codes(exc: sa.exc.DBAPIError) -> tuple[str | None, int | None]:
    orig = exc.orig
    return getattr(orig, "sqlstate", None), errno_of(orig) if orig is not None else None


def errno_of(exc: BaseException) -> int | None:
    """A MySQL driver error's number (its first argument), or None."""
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_driver_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a driver's own error, raised on a raw cursor (outside
    SQLAlchemy): psycopg's carry a sqlstate, the MySQL drivers' a number."""
    return hasattr(exc, "sqlstate") or errno_of(exc) is not None


def _message(exc: sa.exc.DBAPIError) -> str:
    text = str(exc.orig).strip() or type(exc.orig).__name__
    return " ".join(text.split("\n")[0].split())


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, SyncbeatError):
        return exc.retryable
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate, errno = _codes(exc)
    if sqlstate and (sqlstate in _PG_TRANSIENT or sqlstate.startswith(_PG_TRANSIENT_PREFIXES)):
        return sqlstate not in _PG_AUTH
    if errno in _MYSQL_TRANSIENT:
        return True
    text = str(exc.orig).lower()
    return isinstance(exc, sa.exc.OperationalError) and any(
        phrase in text for phrase in _TRANSIENT_TEXT
    )


def classify(
    exc: sa.exc.DBAPIError, doing: str, *, at_start: bool = False, destination: bool = False
) -> SyncbeatError:
    """Turn a driver error into a SyncbeatError a person can act on.

    ``at_start``: failing to connect before any batch is a configuration problem (wrong
    host, port or password), reported at once; later it is an outage worth retrying.
    A connection that was made and then dropped (the server restarted, an administrator
    or a failover cut it) is an outage even at the start: the URL worked.
    """
    sqlstate, errno = _codes(exc)
    detail = _message(exc)
    kind = DestinationError if destination else SourceError
    # psycopg gives no SQLSTATE for a refused connection: libpq's FATAL text says why.
    fatal = detail.lower().partition("fatal:")[2]
    if sqlstate in _PG_AUTH or errno in _MYSQL_AUTH or _PG_AUTH_TEXT.search(fatal):
        return kind(
            f"Authentication failed {doing}: {detail}",
            hint="Check the user name and password in the URL (use ${VAR} for secrets).",
        )
    if sqlstate == _PG_NO_DB or errno == _MYSQL_NO_DB or _PG_NO_DB_TEXT.search(fatal):
        return kind(
            f"The database does not exist {doing}: {detail}",
            hint="Check the database name at the end of the URL, or create it.",
        )
    if (
        at_start
        and not exc.connection_invalidated
        and (
            errno in (2003, 2005)
            or (sqlstate or "").startswith("08")
            or "connection" in detail.lower()
            or "could not translate" in detail
        )
    ):
        return kind(
            f"Cannot connect {doing}: {detail}",
            hint="Check the host and port in the URL, and that the server is running.",
        )
    if is_transient(exc):
        return TransientError(f"Transient error {doing}: {detail}")
    return kind(f"Error {doing}: {detail}", hint=hints.for_driver_error(sqlstate, errno, detail))


def as_driver_error(exc: Exception, statement: str) -> sa.exc.DBAPIError:
    """A driver error raised on a raw cursor (COPY, LOAD DATA: not through SQLAlchemy),
    wrapped so that it is classified like every other driver error."""
    wrapped = sa.exc.DBAPIError.instance(statement, None, exc, Exception)
    assert isinstance(wrapped, sa.exc.DBAPIError)
    return wrapped
