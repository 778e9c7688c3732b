"""Which variants can run here: the clients, dlt and connectorx, Sling and ingestr, syncbeat's
checkpoint switch, a reachable MariaDB.

A variant whose tool is missing is reported as n/a with the reason, instead of failing
the run, so a partial setup still measures everything else.
"""

from __future__ import annotations

import dataclasses
import importlib
import shutil

import pymysql  # type: ignore[import-untyped]  # no stubs shipped

from peers import INGESTR_MISSING, SLING_MISSING, ingestr_binary, sling_binary
from servers import Servers
from variants import Variant


@dataclasses.dataclass
class Availability:
    missing: dict[str, str] = dataclasses.field(default_factory=dict)  # what -> why

    @classmethod
    def check(cls, servers: Servers, variants: list[Variant]) -> Availability:
        missing: dict[str, str] = {}
        if not shutil.which("psql"):
            missing["pipe"] = "psql not found (apt-get install postgresql-client)"
        if not shutil.which("mariadb"):
            missing["mariadb-client"] = "mariadb client not found (apt-get install mariadb-client)"
        try:
            # Imported, not only looked up: an install that cannot import is missing too.
            importlib.import_module("dlt")
        except ImportError:
            missing["dlt"] = "dlt not installed (make bench installs .[bench])"
        try:
            importlib.import_module("connectorx")
        except ImportError:
            missing["connectorx"] = "connectorx not installed (make bench installs .[bench])"
        if sling_binary() is None:
            missing["sling"] = SLING_MISSING
        if ingestr_binary() is None:
            missing["ingestr"] = INGESTR_MISSING
        from syncbeat import RunHooks

        if "checkpoints" not in {f.name for f in dataclasses.fields(RunHooks)}:
            missing["nockpt"] = "no switch"
        needs_maria = any("mariadb" in (v.src, v.dst) for v in variants)
        if needs_maria:
            try:
                servers.maria.scalar("SELECT 1")
            except pymysql.Error as exc:
                missing["mariadb"] = f"MariaDB unreachable: {exc}"
        return cls(missing)

    @property
    def mariadb_unreachable(self) -> bool:
        # Only known when a selected variant needs MariaDB; otherwise it was not tried.
        return "mariadb" in self.missing

    def reason(self, v: Variant) -> str | None:
        """Why ``v`` cannot run here, or None when it can."""
        if "mariadb" in (v.src, v.dst) and "mariadb" in self.missing:
            return self.missing["mariadb"]
        if v.kind == "pipe":
            if "mariadb" in (v.src, v.dst) and "mariadb-client" in self.missing:
                return self.missing["mariadb-client"]
            return self.missing.get("pipe")
        if v.kind == "dlt":
            if v.backend == "connectorx" and "connectorx" in self.missing:
                return self.missing["connectorx"]
            return self.missing.get("dlt")
        if v.kind in ("sling", "ingestr"):
            return self.missing.get(v.kind)
        if v.kind == "lib" and v.checkpoints is False:
            return self.missing.get("nockpt")
        return None
