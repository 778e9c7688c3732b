"""The cross-engine peers that are programs, not libraries: Sling and ingestr.

Both are Go binaries that PyPI ships inside wheels of the ``bench`` extra (see
pyproject.toml for why those wheels and versions); each is run as it is, with its
defaults, from the run's empty temporary directory, which is also its HOME, so
neither reads or leaves state of this machine's user.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from databases import DST_DB
from servers import Server

INGESTR = Path(sys.executable).parent / "ingestr"  # the wheel's script: the binary itself

# Why each is n/a when it is missing; the default runs are offline, which rules out the
# newer releases that fetch their binary from GitHub at first use.
SLING_MISSING = (
    "no Sling binary: make bench installs sling-linux-amd64, whose wheel ships it (the "
    "`sling` package downloads it from GitHub at first use, offline here)"
)
INGESTR_MISSING = (
    "no ingestr binary: make bench installs ingestr==1.1.22, whose wheel ships it (later "
    "releases download it from GitHub at first use, offline here)"
)


def sling_binary() -> Path | None:
    """The binary inside the installed sling-linux-amd64 wheel, if any."""
    spec = importlib.util.find_spec("sling_linux_amd64")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "bin" / "sling-linux-amd64"
    return path if path.is_file() else None


def ingestr_binary() -> Path | None:
    """The ingestr executable, if it is the binary: from 1.1.23 on the same script name
    is a Python wrapper that would try to download it."""
    try:
        with INGESTR.open("rb") as f:
            return INGESTR if f.read(4) == b"\x7fELF" else None
    except OSError:
        return None


def sling_command(src: Server, dst: Server, src_db: str) -> list[str]:
    # Full refresh is Sling's default mode: it loads a temporary table, then swaps it in.
    binary = sling_binary()
    assert binary is not None  # availability.py reports the variant n/a otherwise
    return [
        str(binary),
        "run",
        "--src-conn",
        _sling_url(src, src_db),
        "--src-stream",
        "public.items" if src.kind == "pg" else f"{src_db}.items",
        "--tgt-conn",
        _sling_url(dst, DST_DB),
        "--tgt-object",
        "public.items" if dst.kind == "pg" else f"{DST_DB}.items",
        "--mode",
        "full-refresh",
    ]


def ingestr_command(src: Server, dst: Server, src_db: str) -> list[str]:
    # Staging tables go into the destination database: by default ingestr makes a
    # `_bruin_staging` database on MariaDB, outside the sbbench_* names a run drops.
    staging = "public" if dst.kind == "pg" else DST_DB
    return [
        str(INGESTR),
        "ingest",
        "--source-uri",
        _plain_url(src, src_db),
        "--source-table",
        "public.items" if src.kind == "pg" else f"{src_db}.items",
        "--dest-uri",
        _plain_url(dst, DST_DB),
        "--dest-table",
        "public.items" if dst.kind == "pg" else f"{DST_DB}.items",
        "--staging-dataset",
        staging,
        "--yes",
        "--progress",
        "log",
    ]


def peer_env(tmp: Path) -> dict[str, str]:
    # HOME and SLING_HOME_DIR in the run's directory: caches and settings start empty and
    # are dropped with it.
    return {"HOME": str(tmp), "SLING_HOME_DIR": str(tmp / "sling"), "NO_COLOR": "1"}


def _plain_url(server: Server, db: str) -> str:
    return server.url("postgresql" if server.kind == "pg" else "mysql", db)


def _sling_url(server: Server, db: str) -> str:
    if server.kind == "pg":
        return _plain_url(server, db) + "?sslmode=disable"  # its driver asks for TLS by default
    return _plain_url(server, db)
