"""The workers under test, and the hands that strike them and their servers.

:class:`Fleet` keeps one `syncbeat worker` process per slot; a worker killed by a fault
is replaced at once by a new one in its slot (a new name and fault seed: ``w2.3`` is the
third replacement in slot w2). :class:`Cutter` cuts a server's connections to one
database, as an administrator or a failover would: ``pg_terminate_backend`` on
PostgreSQL, ``KILL`` on MariaDB.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.chaos.data import database_name
from tests.chaos.schedule import Injection, Timing
from tests.support.cli import syncbeat_command

MONITOR_APP = "syncbeat-chaos-monitor"
"""application_name of the suite's own store connection, which no fault cuts."""


@dataclass
class Slot:
    name: str
    generation: int = 0
    proc: subprocess.Popen[bytes] | None = None
    frozen_until: float | None = None  # monotonic time of its SIGCONT, while SIGSTOPped
    worker: str = ""

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Fleet:
    store: str
    seed: int
    timing: Timing
    injection: Injection | None
    logs: Path
    concurrency: int
    slots: dict[str, Slot] = field(default_factory=dict)
    unexpected_exits: list[str] = field(default_factory=list)

    @property
    def fault_log(self) -> Path:
        return self.logs / "faults.log"

    def start(self, slot_name: str) -> None:
        slot = self.slots.setdefault(slot_name, Slot(slot_name))
        slot.generation += 1
        slot.worker = f"{slot_name}.{slot.generation}"
        env = {**os.environ, "SYNCBEAT_STORE": self.store, "COLUMNS": "200", "NO_COLOR": "1"}
        env.pop("SYNCBEAT_FAULTS", None)
        if self.injection is not None:
            env["SYNCBEAT_FAULTS"] = self.injection.environment(
                f"{self.seed}:{slot.worker}", self.timing, str(self.fault_log)
            )
        command = [
            *syncbeat_command(),
            "worker",
            "--name",
            slot.worker,
            "--concurrency",
            str(self.concurrency),
            *self.timing.worker_options(),
        ]
        with (self.logs / f"{slot.worker}.log").open("wb") as out:
            slot.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        slot.frozen_until = None

    def sigkill(self, slot_name: str) -> bool:
        """Kill the slot's worker (frozen or not) and start a new one in its place."""
        slot = self.slots[slot_name]
        if slot.proc is not None and slot.alive:
            slot.proc.kill()  # SIGKILL ends a stopped process too
            slot.proc.wait(timeout=30)
        self.start(slot_name)
        return True

    def sigstop(self, slot_name: str, seconds: float) -> Slot | None:
        """Freeze the slot's worker for ``seconds`` or, if it is frozen already, the
        next one that is not; never the last worker still running (None then)."""
        names = list(self.slots)
        start = names.index(slot_name)
        awake = [
            self.slots[n]
            for n in names[start:] + names[:start]
            if self.slots[n].frozen_until is None and self.slots[n].alive
        ]
        if len(awake) < 2:
            return None
        slot = awake[0]
        assert slot.proc is not None
        os.kill(slot.proc.pid, signal.SIGSTOP)
        slot.frozen_until = time.monotonic() + seconds
        return slot

    def thaw(self, *, everyone: bool = False) -> None:
        """SIGCONT each worker whose freeze is over (or every frozen one). A worker that
        froze itself (an injected fault) is found here and thawed a lease and a half
        later: long enough that its jobs are taken over meanwhile."""
        now = time.monotonic()
        for slot in self.slots.values():
            if slot.frozen_until is None and slot.proc is not None and _stopped(slot.proc.pid):
                slot.frozen_until = now + 1.5 * self.timing.lease_ttl
            due = slot.frozen_until is not None and (everyone or slot.frozen_until <= now)
            if due and slot.proc is not None:
                if slot.alive:
                    os.kill(slot.proc.pid, signal.SIGCONT)
                slot.frozen_until = None

    def replace_exited(self) -> None:
        """A worker that exited without being killed is a finding; the run goes on with
        a replacement."""
        for slot in self.slots.values():
            if slot.proc is not None and slot.proc.poll() is not None:
                self.unexpected_exits.append(
                    f"worker {slot.worker} exited with {slot.proc.returncode}"
                )
                self.start(slot.name)

    def stop(self, timeout: float = 20) -> None:
        """Thaw, drain (SIGTERM), and kill what has not exited in time."""
        self.thaw(everyone=True)
        alive = [s.proc for s in self.slots.values() if s.proc is not None and s.alive]
        for proc in alive:
            os.kill(proc.pid, signal.SIGCONT)  # in case it froze itself just now
            proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in alive:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)

    def log_tail(self, chars: int = 2500) -> str:
        parts = []
        for path in sorted(self.logs.glob("w*.log")):
            text = path.read_text(errors="replace")
            if text.strip():
                parts.append(f"--- {path.name}:\n{text[-chars:]}")
        return "\n".join(parts)


def _stopped(pid: int) -> bool:
    """Whether the process is stopped (by SIGSTOP), from its /proc state."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


class Cutter:
    """Cuts every connection to one database of a server (the suite's own excepted)."""

    def __init__(self, databases: dict[str, str]) -> None:
        self.databases = databases
        self.admins: dict[str, sa.Engine] = {}

    def _admin(self, url: str) -> sa.Engine:
        # The server's maintenance database: the admin session is never one it cuts.
        backend = make_url(url).get_backend_name()
        admin_db = "postgres" if backend == "postgresql" else "mysql"
        admin_url = make_url(url).set(database=admin_db).render_as_string(hide_password=False)
        if admin_url not in self.admins:
            self.admins[admin_url] = sa.create_engine(
                admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True
            )
        return self.admins[admin_url]

    def cut(self, role: str) -> int:
        """Connections cut; 0 when nobody was connected."""
        url = self.databases[role]
        name = database_name(url)
        with self._admin(url).connect() as conn:
            if make_url(url).get_backend_name() == "postgresql":
                return int(
                    conn.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :db AND pid <> pg_backend_pid() "
                            "AND application_name <> :monitor"
                        ),
                        {"db": name, "monitor": MONITOR_APP},
                    ).scalar_one()
                )
            ids = (
                conn.execute(
                    sa.text(
                        "SELECT id FROM information_schema.processlist "
                        "WHERE db = :db AND id <> CONNECTION_ID()"
                    ),
                    {"db": name},
                )
                .scalars()
                .all()
            )
            cut = 0
            for thread in ids:
                try:
                    conn.exec_driver_sql(f"KILL {int(thread)}")
                    cut += 1
                except sa.exc.DBAPIError:  # it ended on its own meanwhile
                    pass
            return cut

    def close(self) -> None:
        for engine in self.admins.values():
            engine.dispose()
