"""Connection URLs as text: ``${VAR}`` secrets, masking and redaction (no connection).

A URL is kept as the user wrote it (``postgresql://app:${PGPASS}@db/x``) and resolved
only when a connection is opened, so the store never holds a secret's value. A URL with
a literal password is stored and shown with the password masked.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterable
from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from syncbeat.vocabulary.errors import ConnectionUrlError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# scheme://user:password@ : the user name and password, up to the last @ before the path.
_USERINFO = re.compile(r"^([^:/]+://)([^/?#]*)@")
MASK = "***"
# A password may also come as a query parameter (…?password=secret).
_PASSWORD_PARAM = re.compile(r"(?i)([?&](?:password|passwd|pwd)=)([^&#]*)")

# Drivers syncbeat installs and tests; a bare "postgresql://" means psycopg 3 here, not
# psycopg2, which we do not ship.
_DEFAULT_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


def resolve(url: str) -> str:
    """Replace every ``${VAR}`` with the variable's value; a missing variable is an error.

    In the user name and password, and in query parameters (``?password=${PW}``), a
    value stands for itself, whatever it holds: it is percent-encoded, so that a
    password such as ``p@ss/word#1`` or ``se&cret`` is not read as the start of a host,
    path, fragment or another parameter (which would also show part of it in an error)."""

    def value(match: re.Match[str], *, encode: bool = False) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConnectionUrlError(
                f"The connection URL refers to ${{{name}}}, but the environment variable "
                f"{name} is not set.",
                hint=f"export {name}=... before running syncbeat.",
            )
        return quote(os.environ[name], safe="") if encode else os.environ[name]

    def encoded(part: str) -> str:
        return _VAR.sub(lambda m: value(m, encode=True), part)

    base, question, query = url.partition("?")
    userinfo = _USERINFO.match(base)
    if userinfo is None:
        resolved = _VAR.sub(value, base)
    else:
        start, end = userinfo.span(2)
        resolved = (
            _VAR.sub(value, base[:start]) + encoded(base[start:end]) + _VAR.sub(value, base[end:])
        )
    return resolved + question + encoded(query)


def redact(written: Iterable[str], text: str) -> str:
    """``text`` with the value of every ``${VAR}`` of the ``written`` URLs put back as
    ``${VAR}``. Servers and drivers repeat what a URL told them (a user name, a database
    name, a host, a parameter) in their errors; this keeps the values out of every
    message, event and log line, as the values encoded in the URL too."""
    values: dict[str, str] = {}
    for url in written:
        for name in _VAR.findall(url):
            value = os.environ.get(name, "")
            for form in (value, quote(value, safe=""), quote(value)):
                if form:
                    values[form] = f"${{{name}}}"
    for value in sorted(values, key=len, reverse=True):  # a longer form holds a shorter
        text = text.replace(value, values[value])
    return text


def redacted_traceback(written: Iterable[str], exc: BaseException) -> str:
    """The traceback of ``exc`` for a log line, redacted like :func:`redact`: an
    exception's message may repeat a value a URL's ``${VAR}`` stood for."""
    return redact(written, "".join(traceback.format_exception(exc)))


def parse(url: str, *, as_written: str | None = None) -> URL:
    """Parse a resolved URL, mapping bare dialect names to the drivers syncbeat ships.

    An error shows ``as_written`` (the URL before ``${VAR}`` was resolved), masked:
    never a variable's value."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        why = "" if isinstance(exc, ArgumentError) else " (its port is not a number)"
        raise ConnectionUrlError(
            f"{mask(as_written or url)!r} is not a connection URL{why}.",
            hint="Write it as dialect://user:password@host:port/database, for example "
            "postgresql://app@localhost/shop or sqlite:///data.db.",
        ) from None
    driver = _DEFAULT_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def mask(url: str) -> str:
    """The URL as it may be shown anywhere: a literal password replaced by ``***``.

    ``${VAR}`` references are kept as written: they name a secret, they are not one.
    """
    url = _PASSWORD_PARAM.sub(
        lambda m: m.group(0) if _VAR.fullmatch(m.group(2)) else f"{m.group(1)}{MASK}", url
    )
    # The password runs to the last @, as the URL parser reads it: an @ inside it must
    # not leave its tail unmasked (a later @ in a query hides more, never less).
    match = re.match(r"^([^:/]+://[^:/@]*:)(.*)(@[^@]*)$", url, flags=re.DOTALL)
    if not match or not match.group(2) or _VAR.fullmatch(match.group(2)):
        return url
    return f"{match.group(1)}{MASK}{match.group(3)}"


def has_literal_password(url: str) -> bool:
    return mask(url) != url


def is_masked(url: str) -> bool:
    """Whether the URL's password is the mask that stands for one never stored."""
    return f":{MASK}@" in url or any(m.group(2) == MASK for m in _PASSWORD_PARAM.finditer(url))


def without_variables(url: str) -> str:
    """The URL with every ``${VAR}`` replaced by a placeholder: parseable, and holding no
    secret, for labels that need its host or database."""
    return _VAR.sub("x", url)


def describe(url: str) -> str:
    """A short, safe label for a URL: dialect, host and database."""
    try:
        parsed = make_url(without_variables(url))
    except (ArgumentError, ValueError):
        return mask(url)
    where = parsed.host or ""
    return f"{parsed.get_backend_name()}:{where}/{parsed.database or ''}".replace(":/", ":")
