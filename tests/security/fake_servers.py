"""Hostile database servers on the loopback address, speaking just enough of a protocol
to attack a client, and recording every byte the client sends them.

:class:`FakeMysql` completes a MySQL handshake, accepts any password, and answers a
query with a LOCAL INFILE request for a file of its choosing (the rogue-server attack).
:class:`FakePostgres` records the startup packet a client sends (its user and database
names are in it) and refuses the login.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# How long one fake server waits for its client: a test that hangs fails instead.
DEADLINE = 20.0

_CAPABILITIES = (
    0x00000001  # LONG_PASSWORD
    | 0x00000008  # CONNECT_WITH_DB
    | 0x00000080  # LOCAL_FILES
    | 0x00000200  # PROTOCOL_41
    | 0x00002000  # TRANSACTIONS
    | 0x00008000  # SECURE_CONNECTION
    | 0x00020000  # MULTI_RESULTS
    | 0x00080000  # PLUGIN_AUTH
)


class _Server:
    """A listening socket, a thread per client, until closed."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self._talks: list[threading.Thread] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            talk = threading.Thread(target=self._talk, args=(client,), daemon=True)
            self._talks.append(talk)
            talk.start()

    def _talk(self, client: socket.socket) -> None:
        with client:
            client.settimeout(DEADLINE)
            # The client hanging up (ConnectionError) ends it: what it sent is recorded.
            with contextlib.suppress(OSError):
                self.converse(client)

    def converse(self, client: socket.socket) -> None:
        raise NotImplementedError

    def recv_exact(self, client: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = client.recv(size - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            self.received += chunk
            data += chunk
        return data

    def close(self) -> None:
        self._stop.set()
        self.listener.close()
        self._thread.join(timeout=DEADLINE)
        for talk in self._talks:
            talk.join(timeout=DEADLINE)


class FakeMysql(_Server):
    """Answers the first query that is not ``SET NAMES`` with ``LOCAL INFILE <wanted>``."""

    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.asked = 0
        # The capability flags of each client's login: 0x80 asks for LOCAL INFILE.
        self.client_flags: list[int] = []
        super().__init__()

    def _read_packet(self, client: socket.socket) -> tuple[int, bytes]:
        header = self.recv_exact(client, 4)
        length = header[0] | header[1] << 8 | header[2] << 16
        return header[3], self.recv_exact(client, length)

    @staticmethod
    def _send(client: socket.socket, seq: int, payload: bytes) -> None:
        client.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)

    @staticmethod
    def _ok(status: int = 0) -> bytes:
        return b"\x00\x00\x00" + struct.pack("<HH", status, 0)

    def converse(self, client: socket.socket) -> None:
        salt = b"abcdefghijklmnopqrst"
        greeting = (
            b"\x0a5.7.99-fake\x00"
            + struct.pack("<I", 7)
            + salt[:8]
            + b"\x00"
            + struct.pack("<H", _CAPABILITIES & 0xFFFF)
            + bytes([45])  # utf8mb4
            + struct.pack("<H", 0)  # status: autocommit off, so connecting sends no SET
            + struct.pack("<H", _CAPABILITIES >> 16)
            + bytes([21])
            + b"\x00" * 10
            + salt[8:]
            + b"\x00"
            + b"mysql_native_password\x00"
        )
        self._send(client, 0, greeting)
        seq, login = self._read_packet(client)
        self.client_flags.append(struct.unpack("<I", login[:4])[0])
        self._send(client, seq + 1, self._ok())
        while True:
            seq, command = self._read_packet(client)
            if command[:1] == b"\x01":  # COM_QUIT
                return
            if command[:1] == b"\x03" and not command[1:].upper().startswith(b"SET NAMES"):
                self.asked += 1
                self._send(client, seq + 1, b"\xfb" + self.wanted.encode())
                # The client's answer: the file's packets, then an empty packet.
                while True:
                    seq, chunk = self._read_packet(client)
                    if not chunk:
                        break
                error = b"\xff" + struct.pack("<H", 1045) + b"#28000fake server: goodbye"
                self._send(client, seq + 1, error)
                return
            self._send(client, seq + 1, self._ok())


class FakePostgres(_Server):
    """Records startup packets; refuses every login as a real server would."""

    def __init__(self) -> None:
        self.startups: list[bytes] = []
        super().__init__()

    def converse(self, client: socket.socket) -> None:
        while True:
            length, code = struct.unpack("!II", self.recv_exact(client, 8))
            if code in (80877103, 80877104):  # SSLRequest, GSSENCRequest: "no"
                client.sendall(b"N")
                continue
            self.startups.append(self.recv_exact(client, length - 8))
            fields = b"SFATAL\x00C28000\x00Mfake server: login refused\x00\x00"
            client.sendall(b"E" + struct.pack("!I", len(fields) + 4) + fields)
            return


class SwappingProxy(_Server):
    """Forwards to a real MySQL/MariaDB server, but turns its request for syncbeat's
    batch into a request for ``wanted``: a server that turns hostile mid-sync."""

    def __init__(self, upstream: tuple[str, int], wanted: str) -> None:
        self.upstream, self.wanted = upstream, wanted
        self.swapped = 0
        super().__init__()

    def converse(self, client: socket.socket) -> None:
        with socket.create_connection(self.upstream, timeout=DEADLINE) as server:
            pump = threading.Thread(target=self._to_client, args=(server, client), daemon=True)
            pump.start()
            while chunk := client.recv(65536):  # recorded by nothing else: record here
                self.received += chunk
                server.sendall(chunk)
            server.shutdown(socket.SHUT_RDWR)
            pump.join(timeout=DEADLINE)

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        buffer = b""
        with contextlib.suppress(OSError):
            while chunk := server.recv(65536):
                buffer += chunk
                while len(buffer) >= 4:
                    length = int.from_bytes(buffer[:3], "little")
                    if len(buffer) < 4 + length:
                        break
                    seq, payload = buffer[3], buffer[4 : 4 + length]
                    buffer = buffer[4 + length :]
                    # A request for the batch: its name, whatever its directory.
                    if payload[:1] == b"\xfb" and payload.endswith(b".tsv"):
                        self.swapped += 1
                        payload = b"\xfb" + self.wanted.encode()
                    client.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload)
            client.shutdown(socket.SHUT_RDWR)


@contextmanager
def fake_mysql(wanted: str) -> Iterator[FakeMysql]:
    server = FakeMysql(wanted)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def fake_postgres() -> Iterator[FakePostgres]:
    server = FakePostgres()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def swapping_proxy(upstream: tuple[str, int], wanted: str) -> Iterator[SwappingProxy]:
    proxy = SwappingProxy(upstream, wanted)
    try:
        yield proxy
    finally:
        proxy.close()
