"""Opening a database engine for a URL as the user wrote it.

Every connection syncbeat makes goes through :func:`create_engine`, so every one gets
the same guards: ``${VAR}`` resolved only here, a masked password refused, and a MySQL or
MariaDB driver that syncbeat cannot guard against a hostile server refused before its
module is even imported.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from syncbeat.connectors import local_infile
from syncbeat.vocabulary import urls
from syncbeat.vocabulary.errors import ConnectionUrlError

_MYSQL = ("mysql", "mariadb")

READER_ENV = "SYNCBEAT_MYSQL_READER"
"""``pymysql`` keeps a source on PyMySQL even where mysqlclient is installed."""

_READER_OPTIONS = frozenset(
    {"charset", "init_command", "connect_timeout", "read_timeout", "write_timeout"}
)
"""URL options a source may give the C driver: none of them opens a file."""


def create_engine(
    url: str, *, load_data: bool = False, reader: bool = False, **kwargs: Any
) -> sa.Engine:
    """Open an engine for a URL as the user wrote it (``${VAR}`` resolved here).

    A MySQL/MariaDB engine never sends the server a local file it asks for (see
    :mod:`syncbeat.connectors.local_infile`); ``load_data`` lets it offer the batches it
    loads. ``reader``: an engine that only reads (a source), which may use the C driver
    (:func:`_c_reader`)."""
    if urls.is_masked(url):
        raise ConnectionUrlError(
            f"The password of {url!r} was given literally and is not kept in the store.",
            hint="Put the password in an environment variable and write ${VAR} in the "
            "URL, or give the URL again on the command line.",
        )
    parsed = urls.parse(urls.resolve(url), as_written=url)
    if parsed.get_backend_name() in _MYSQL and parsed.get_driver_name() != "pymysql":
        raise _unguarded(parsed, url)  # before its module is imported: it would load files
    c_reader = reader and _c_reader(parsed)
    if c_reader:
        parsed = parsed.set(drivername=f"{parsed.get_backend_name()}+mysqldb")
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError):  # ImportError: a dialect without its driver
        raise ConnectionUrlError(
            f"Unknown database driver {parsed.drivername!r} in {urls.mask(url)!r}.",
            hint="syncbeat ships sqlite, postgresql (psycopg) and mysql/mariadb (pymysql).",
        ) from None
    except (ArgumentError, ValueError, TypeError) as exc:
        raise ConnectionUrlError(
            f"Cannot use {urls.mask(url)!r}: {urls.redact([url], str(exc))}"
        ) from None
    if engine.dialect.name in _MYSQL:  # whatever the URL called it
        if c_reader and engine.dialect.driver == "mysqldb":
            _c_reader_sessions(engine)
        elif engine.dialect.driver != "pymysql":
            engine.dispose()
            raise _unguarded(parsed, url)
        else:
            local_infile.guard(engine, allow_load_data=load_data)
    return engine


def _c_reader(parsed: URL) -> bool:
    """Whether a MySQL/MariaDB source reads through mysqlclient, the C driver: it decodes
    rows about three times as fast as PyMySQL, which is pure Python (a DATETIME parsed
    in Python costs more than moving it). Only where it is installed (the ``fast``
    extra: it builds against libmariadb), not turned off by ``SYNCBEAT_MYSQL_READER``,
    and for a URL whose options are all in _READER_OPTIONS: another option of the C
    library's (an option file to read, a plugin directory) stays the URL author's to
    give PyMySQL, never the worker's C library. Its sessions: :func:`_c_reader_sessions`."""
    return (
        parsed.get_backend_name() in _MYSQL
        and parsed.get_driver_name() == "pymysql"
        and set(parsed.query) <= _READER_OPTIONS
        and os.environ.get(READER_ENV, "") != "pymysql"
        and importlib.util.find_spec("MySQLdb") is not None
    )


def _c_reader_sessions(engine: sa.Engine) -> None:
    """Every connection of the C reader logs in without the LOCAL INFILE capability:
    libmariadb then refuses a server's request for a file (the rogue-server attack)
    instead of reading it; set on every connect, so nothing in a URL or an option file
    turns it back on. Its values are PyMySQL's (_text_when_invalid)."""
    from MySQLdb.constants import FIELD_TYPE  # type: ignore[import-untyped]
    from MySQLdb.converters import conversions  # type: ignore[import-untyped]

    values = dict(conversions)
    for field in (FIELD_TYPE.DATE, FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP, FIELD_TYPE.TIME):
        values[field] = _text_when_invalid(conversions[field])

    @sa.event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["local_infile"] = False
        cparams["conv"] = values
        # PyMySQL's default, which the row path's text and JSON values are read in.
        cparams.setdefault("charset", "utf8mb4")


def _text_when_invalid(convert: Any) -> Any:
    """mysqlclient turns a date it cannot parse (MariaDB's zero date 0000-00-00, or
    2024-02-30 stored without strict mode) into None: a value silently become NULL.
    PyMySQL keeps it as its text, which a destination that cannot hold it refuses by
    name (conversions) and MariaDB takes as it is: so does the C reader."""

    def parsed_or_text(raw: Any) -> Any:
        value = convert(raw)
        if value is None and raw is not None:
            return raw.decode() if isinstance(raw, bytes) else raw
        return value

    return parsed_or_text


def _unguarded(parsed: URL, url: str) -> ConnectionUrlError:
    return ConnectionUrlError(
        f"Database driver {parsed.drivername!r} in {urls.mask(url)!r} is not one "
        "syncbeat can guard against a hostile server.",
        hint="Write mysql:// or mariadb:// (syncbeat ships pymysql).",
    )


def check(url: str) -> None:
    """Fail now, with a ConnectionUrlError, if ``url`` cannot be opened as written: bad
    syntax, an unknown driver, an unset ``${VAR}``. Connects to nothing."""
    create_engine(url).dispose()
