"""LOCAL INFILE: a MySQL/MariaDB server may read only the batch syncbeat offers it.

In the MySQL protocol the *server* names the file the client sends, in its answer to
any query: a hostile server (one a pipeline points at) can ask for ``/etc/passwd`` or a
worker's secrets, and PyMySQL with ``local_infile`` on reads and sends it. So every
MySQL/MariaDB connection syncbeat opens is a :class:`GuardedConnection`: it never opens a
file for the server. A ``LOAD DATA LOCAL INFILE`` batch is offered from memory under a
name of its own (:meth:`GuardedConnection.offering`), and a request for any other name,
or any request at all outside that statement, is refused and fails the job with an
:class:`~syncbeat.vocabulary.errors.UntrustedServerError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql  # type: ignore[import-untyped]  # no stubs shipped
import sqlalchemy as sa
from pymysql.connections import MySQLResult  # type: ignore[import-untyped]
from pymysql.protocol import LoadLocalPacketWrapper  # type: ignore[import-untyped]

from syncbeat.vocabulary.errors import UntrustedServerError

# A batch travels in packets of this size: PyMySQL's 16 KiB for files cost a tenth of
# a PostgreSQL-to-MariaDB sync in packets; 256 KiB stays under any server's
# max_allowed_packet (1 MiB at the least).
_CHUNK = 256 * 1024


def batch_name() -> str:
    """A name for one batch: no file by that name exists, none is ever opened."""
    return f"syncbeat-batch-{uuid.uuid4().hex}.tsv"


class _GuardedResult(MySQLResult):  # type: ignore[misc]
    def _read_load_local_packet(self, first_packet: Any) -> None:
        conn: GuardedConnection = self.connection
        asked = bytes(LoadLocalPacketWrapper(first_packet).filename)
        offered = conn.offered
        allowed = offered is not None and asked == offered[0].encode()
        if allowed and offered is not None:
            data = offered[1]
            for start in range(0, len(data), _CHUNK):
                conn.write_packet(data[start : start + _CHUNK])
        # An empty packet ends the transfer: the server gets nothing of a refused file.
        conn.write_packet(b"")
        if not allowed:
            # The server is hostile or broken; nothing it says next can be trusted.
            conn.refused = True
            conn._force_close()
            raise UntrustedServerError(
                f"The database server at {conn.host}:{conn.port} asked this client to send "
                f"it the local file {asked.decode(errors='replace')!r}; syncbeat refused "
                "and sent nothing.",
                hint="A MySQL/MariaDB server may only ask for the batch syncbeat is "
                "loading. Check that the pipeline's URL points at the server you meant; if "
                "it does, that server is compromised or misconfigured.",
            )
        ok_packet = conn._read_packet()
        if not ok_packet.is_ok_packet():
            raise pymysql.err.OperationalError(2014, "Commands out of sync")
        self._read_ok_packet(ok_packet)


class GuardedConnection(pymysql.connections.Connection):  # type: ignore[misc]
    """A PyMySQL connection that sends the server no local file, ever."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.offered: tuple[str, bytes] | None = None
        self.refused = False  # a request was refused and the connection dropped
        super().__init__(*args, **kwargs)

    def rollback(self) -> None:
        # Dropping the connection rolled its transaction back on the server. Failing
        # here would replace the refusal with "connection lost" as the job's error.
        if not self.refused:
            super().rollback()

    def ping(self, *args: Any, **kwargs: Any) -> None:
        if self.refused:  # "gone away": the pool replaces this connection
            raise pymysql.err.OperationalError(2006, "connection dropped by syncbeat")
        super().ping(*args, **kwargs)  # as called: PyMySQL warns of an explicit reconnect

    @contextmanager
    def offering(self, name: str, data: bytes) -> Iterator[None]:
        """While the block runs, a LOCAL INFILE request for ``name`` gets ``data``."""
        self.offered = (name, data)
        try:
            yield
        finally:
            self.offered = None

    # PyMySQL's own, but with the result class that guards LOCAL INFILE requests.
    def _read_query_result(self, unbuffered: bool = False) -> int:
        self._result = None
        result = _GuardedResult(self)
        if unbuffered:
            result.init_unbuffered_query()
        else:
            result.read()
        self._result = result
        if result.server_status is not None:
            self.server_status = result.server_status
        affected: int = result.affected_rows
        return affected


def guard(engine: sa.Engine, *, allow_load_data: bool) -> None:
    """Open every connection of a PyMySQL engine as a :class:`GuardedConnection`.

    ``allow_load_data`` lets the server accept ``LOAD DATA LOCAL`` at all (the client
    flag); only destinations that bulk-load ask for it. It overrides a
    ``?local_infile=`` in the URL, which a pipeline's author controls."""

    @sa.event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        cparams["local_infile"] = allow_load_data
        return GuardedConnection(*cargs, **cparams)
