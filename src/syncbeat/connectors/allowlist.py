"""What a pipeline from the API may reach on a worker: the operator's allowlist.

The CLI user is the operator, and a pipeline they save expands any ``${VAR}`` and opens
any file. A pipeline saved through the API was written by a token holder, who must
reach neither the workers' environment (their passwords, cloud keys) nor their files:
its ``${VAR}`` expand only if the operator allowed them (a name prefix, by default
``SYNCBEAT_SECRET_``, or names listed), and its file URLs (SQLite) must resolve, symlinks
followed, inside a directory the operator allowed (none by default). The API checks
when it saves such a pipeline; the runner checks again before it opens anything, with
its own process's allowlist, because the store may hold what the API never saw.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from syncbeat.vocabulary import urls
from syncbeat.vocabulary.errors import ConnectionUrlError, NotAllowedError

# Who saved a pipeline (the store's pipelines.origin).

PREFIX_ENV = "SYNCBEAT_SECRET_PREFIX"
VARS_ENV = "SYNCBEAT_SECRET_VARS"
DIRS_ENV = "SYNCBEAT_DATA_DIRS"
DEFAULT_PREFIX = "SYNCBEAT_SECRET_"
# syncbeat's own settings are never an API pipeline's to read, whatever the prefix:
# the token, and the store's URL with its password.
_OWN_SETTINGS = frozenset(
    {"SYNCBEAT_API_TOKEN", "SYNCBEAT_STORE", "SYNCBEAT_FAULTS", PREFIX_ENV, VARS_ENV, DIRS_ENV}
)

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# The only URL parameters an API pipeline may give. Others can make a driver read the
# worker's files: libpq's passfile, service and ssl* files, PyMySQL's read_default_file
# (an option file whose host and password then win over the URL's), local_infile.
QUERY_PARAMETERS = frozenset(
    {
        "application_name",
        "charset",
        "connect_timeout",
        "password",
        "read_timeout",
        "sslmode",
        "target_session_attrs",
        "write_timeout",
    }
)
# Backends that reach a server; without a host, through a local socket.
_SERVERS = frozenset({"postgresql", "mysql", "mariadb"})
# Pipelines saved before origins were recorded count as the API's (migration 0004).
_OPERATORS_OWN = (
    " A pipeline the operator saved before syncbeat recorded who saves what counts as "
    "the API's: save it again with `syncbeat pipeline add`."
)


def _split(text: str, separator: str) -> list[str]:
    return [part.strip() for part in text.split(separator) if part.strip()]


@dataclass(frozen=True)
class Allowlist:
    """The ``${VAR}`` names and data directories an API pipeline may use."""

    secret_prefix: str = DEFAULT_PREFIX
    secret_vars: frozenset[str] = frozenset()
    data_dirs: tuple[str, ...] = field(default=())

    @classmethod
    def configured(
        cls,
        *,
        secret_prefix: str | None = None,
        secret_vars: Sequence[str] | None = None,
        data_dirs: Sequence[str] | None = None,
    ) -> Allowlist:
        """Each setting from its option when given, else from the environment:
        ``SYNCBEAT_SECRET_PREFIX`` (empty: no prefix), ``SYNCBEAT_SECRET_VARS`` (names,
        comma-separated) and ``SYNCBEAT_DATA_DIRS`` (directories, separated by
        ``os.pathsep``)."""
        env = os.environ
        prefix = env.get(PREFIX_ENV, DEFAULT_PREFIX) if secret_prefix is None else secret_prefix
        names = _split(env.get(VARS_ENV, ""), ",") if secret_vars is None else secret_vars
        dirs = _split(env.get(DIRS_ENV, ""), os.pathsep) if data_dirs is None else data_dirs
        return cls(prefix.strip(), frozenset(names), tuple(os.path.abspath(d) for d in dirs))

    def allows_var(self, name: str) -> bool:
        if name in _OWN_SETTINGS:
            return False
        return bool(self.secret_prefix and name.startswith(self.secret_prefix)) or (
            name in self.secret_vars
        )

    def _rule(self) -> str:
        rules = [f"names starting with {self.secret_prefix}"] if self.secret_prefix else []
        if self.secret_vars:
            rules.append(f"the names in {VARS_ENV} ({', '.join(sorted(self.secret_vars))})")
        return " or ".join(rules) or "none"

    def check_url(self, url: str, role: str) -> None:
        """Raise NotAllowedError unless an API pipeline may use ``url`` as its ``role``
        ("source" or "destination"). Never expands a variable it refuses."""
        for name in _VAR.findall(url):
            if name in _OWN_SETTINGS:
                raise NotAllowedError(
                    f"The {role} URL refers to ${{{name}}}, one of syncbeat's own settings: "
                    "a pipeline saved through the API never reads them.",
                    hint="Name the database's secret in a variable of its own.",
                )
            if not self.allows_var(name):
                raise NotAllowedError(
                    f"The {role} URL refers to ${{{name}}}: a pipeline saved through the "
                    f"API may read only the environment variables the operator allowed "
                    f"({self._rule()}).",
                    hint=f"Keep the secret in a variable named {self.secret_prefix or 'as'}"
                    f"... on the workers, or ask the operator to list {name} in {VARS_ENV} "
                    "(or --secret-var) for `syncbeat serve` and `syncbeat worker`."
                    + _OPERATORS_OWN,
                )
        self._check_parameters(url, role)  # first: ?uri=true would make a path a URI
        self._check_host(url, role)
        self._check_file(url, role)

    @staticmethod
    def _check_parameters(url: str, role: str) -> None:
        try:
            given = make_url(_VAR.sub("x", url)).query
        except (ArgumentError, ValueError):
            return  # not a URL at all: saving or opening it says so
        refused = sorted(name for name in given if name.lower() not in QUERY_PARAMETERS)
        if refused:
            raise NotAllowedError(
                f"The {role} URL sets {', '.join(refused)}: a pipeline saved through the "
                "API may set only these URL parameters, none of which reads a file on the "
                f"workers: {', '.join(sorted(QUERY_PARAMETERS))}.",
                hint="Leave the parameter out, or ask the operator to save this pipeline "
                "with `syncbeat pipeline add`.",
            )

    @staticmethod
    def _check_host(url: str, role: str) -> None:
        """A server URL without a host makes libpq connect through the workers' Unix
        socket (or to $PGHOST), where the server may let in the workers' own account
        without a password (peer authentication)."""
        try:  # as it will be opened: postgres:// is PostgreSQL too
            parsed = urls.parse(_VAR.sub("x", url))
        except ConnectionUrlError:
            return  # not a URL at all: saving or opening it says so
        if parsed.get_backend_name() in _SERVERS and not parsed.host:
            raise NotAllowedError(
                f"The {role} URL {urls.mask(url)!r} names no host: its driver would "
                "connect through a local socket of the workers, where a database may let "
                "the workers' own account in without a password.",
                hint="Name the server's host and port in the URL, for example "
                "postgresql://app:${SYNCBEAT_SECRET_PASS}@db.internal:5432/shop.",
            )

    def _check_file(self, url: str, role: str) -> None:
        try:
            backend = make_url(_VAR.sub("x", url)).get_backend_name()
            parsed = make_url(urls.resolve(url)) if backend == "sqlite" else None
        except (ArgumentError, ValueError):
            return  # not a URL at all: saving or opening it says so
        if parsed is None or parsed.database in (None, "", ":memory:"):
            return
        path = os.path.realpath(parsed.database)
        for allowed in self.data_dirs:
            base = os.path.realpath(allowed)
            if os.path.commonpath([path, base]) == base and path != base:
                self._check_regular(path, url, role)
                return
        where = (
            f"inside the data directories ({', '.join(self.data_dirs)})"
            if self.data_dirs
            else "anywhere: no data directory is configured"
        )
        # The URL as written: a resolved path could show an allowed secret's value.
        raise NotAllowedError(
            f"The {role} URL {urls.mask(url)!r} names a file that is not inside a data "
            f"directory once symlinks and '..' are followed: a pipeline saved through the "
            f"API may open files only {where}.",
            hint=f"Put the database file in a data directory, or ask the operator to allow "
            f"one with --data-dir (or {DIRS_ENV}) for `syncbeat serve` and `syncbeat worker`."
            + _OPERATORS_OWN,
        )

    @staticmethod
    def _check_regular(path: str, url: str, role: str) -> None:
        """A FIFO would hang the worker on its first read, a device (a copy of /dev/zero
        or of a disk) would feed it without end: only a file, or one SQLite will create."""
        if os.path.exists(path) and not os.path.isfile(path):
            raise NotAllowedError(
                f"The {role} URL {urls.mask(url)!r} names something in the data directory "
                "that is not a regular file (a directory, a FIFO, a device or a socket).",
                hint="Name a SQLite database file, or one that does not exist yet.",
            )

    def check_pipeline(self, source_url: str, dest_url: str) -> None:
        self.check_url(source_url, "source")
        self.check_url(dest_url, "destination")
