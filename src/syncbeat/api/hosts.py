"""Which ``Host`` names the server answers to.

A page on an attacker's domain can make a browser resolve that domain to 127.0.0.1 (DNS
rebinding) and then read the API as if it were the attacker's own site: the browser
sends the attacker's name in ``Host``. Answering only the names this server is reached
by closes that door.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
"""The names a browser on this machine reaches a loopback server by."""


def normalize_name(name: str) -> str:
    """A host name as it appears in a ``Host`` header: lower case, an IPv6 address in
    brackets (``::1`` and ``[::1]`` are one name)."""
    name = name.strip().lower()
    if ":" in name and not name.startswith("["):
        return f"[{name}]"
    return name


def split_host(header: str) -> tuple[str, int | None] | None:
    """``(name, port)`` of a ``Host`` header's value (port None when absent), or None when
    it is not of that form."""
    header = header.strip().lower()
    if header.startswith("["):
        name, bracket, rest = header.partition("]")
        if not bracket:
            return None
        name += "]"
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text_or_empty = header.partition(":")
        port_text = port_text_or_empty if colon else None
    if not name:
        return None
    if port_text is None:
        return name, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


@dataclass(frozen=True)
class HostPolicy:
    """The names the server answers to, and the port it listens on (None: any port, for
    an app whose port is not known, as under a test client)."""

    names: frozenset[str]
    port: int | None = None

    @classmethod
    def of(cls, names: Iterable[str] | None, port: int | None = None) -> HostPolicy:
        """The policy for ``names`` (None: the loopback names only)."""
        chosen = LOOPBACK_NAMES if names is None else names
        return cls(frozenset(normalize_name(n) for n in chosen if n.strip()), port)

    def accepts(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header is one for this server. A request
        without one (HTTP/1.0) cannot be the rebinding attack, which needs a browser."""
        if header is None:
            return True
        parsed = split_host(header)
        if parsed is None:
            return False
        name, port = parsed
        return name in self.names and (port is None or self.port in (None, port))
