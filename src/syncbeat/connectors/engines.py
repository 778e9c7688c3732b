"""Opening a database engine for a URL as the user wrote it.

Every connection syncbeat makes goes through :func:`create_engine`, so every one gets
the same guards: ``${VAR}`` resolved only here, a masked password refused, and a MySQL or
MariaDB driver that syncbeat cannot guard against a hostile server refused before its
module is even imported.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from syncbeat.connectors import local_infile
from syncbeat.vocabulary import urls
from syncbeat.vocabulary.errors import ConnectionUrlError

_MYSQL = ("mysql", "mariadb")


def create_engine(url: str, *, load_data: bool = False, **kwargs: Any) -> sa.Engine:
    """Open an engine for a URL as the user wrote it (``${VAR}`` resolved here).

    A MySQL/MariaDB engine never sends the server a local file it asks for (see
    :mod:`syncbeat.connectors.local_infile`); ``load_data`` lets it offer the batches it loads."""
    if urls.is_masked(url):
        raise ConnectionUrlError(
            f"The password of {url!r} was given literally and is not kept in the store.",
            hint="Put the password in an environment variable and write ${VAR} in the "
            "URL, or give the URL again on the command line.",
        )
    parsed = urls.parse(urls.resolve(url), as_written=url)
    if parsed.get_backend_name() in _MYSQL and parsed.get_driver_name() != "pymysql":
        raise _unguarded(parsed, url)  # before its module is imported: it would load files
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
        if engine.dialect.driver != "pymysql":
            engine.dispose()
            raise _unguarded(parsed, url)
        local_infile.guard(engine, allow_load_data=load_data)
    return engine


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
