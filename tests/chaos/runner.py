"""The chaos runner: several pipelines synced at once by worker processes while a
seeded schedule of faults strikes them, then a row-by-row check of every destination.

    python -m tests.chaos.runner --seed 1234            # the CI short mode (1-3 minutes)
    python -m tests.chaos.runner --seed 1234 --soak 30  # rounds for 30 minutes
    python -m tests.chaos.runner --rows 20000 --min-faults 0   # a quick look

It prints the fault schedule, one line per fault as it strikes, and at the end one
summary line of figures with the seed; ``--seed`` replays a run (as far as timing
allows: the schedule and every worker's injected faults are drawn from the seed, the
moments the processes reach them are not).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import Syncbeat
from syncbeat.store.schema import jobs
from tests.chaos import data
from tests.chaos.fleet import MONITOR_APP, Cutter, Fleet
from tests.chaos.protocol import Tally, check_job
from tests.chaos.rows import RowDiff, Side, compare_ranges, key_ranges
from tests.chaos.schedule import (
    CONN_KILL,
    INJECTED,
    SIGKILL,
    SIGSTOP,
    Fault,
    Injection,
    Timing,
    plan,
)

MIN_GAP = 0.5
"""Seconds between two outside faults, so that each one has its own effect."""


@dataclass
class Config:
    seed: int
    rows: int = 200_000
    soak_minutes: float | None = None
    workers: int = 3
    concurrency: int = 2
    batch_size: int = 1_000
    faults: int = 40  # outside faults per round; the workers inject more themselves
    min_faults: int = 50
    deadline: float = 180.0  # seconds a round's jobs may take, faults included
    timing: Timing = field(default_factory=Timing)
    injection: Injection = field(default_factory=Injection)
    keep: bool = False  # keep the databases and logs
    keep_on_failure: bool = False  # ... when the run fails, to look at them


@dataclass
class Report:
    seed: int
    rows: int = 0
    rounds: int = 0
    struck: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    tally: Tally = field(default_factory=Tally)
    diff: RowDiff = field(default_factory=RowDiff)
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    storm_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def faults(self) -> int:
        return sum(self.struck.values())

    def summary(self) -> str:
        kinds = [SIGKILL, SIGSTOP, CONN_KILL, *INJECTED.values()]
        t, d = self.tally, self.diff
        return (
            f"chaos seed={self.seed} pipelines={len(data.PIPES)} rounds={self.rounds} "
            f"rows={self.rows} faults={self.faults} "
            f"({' '.join(f'{k}={self.struck[k]}' for k in kinds)}) "
            f"takeovers={t.takeovers} fenced_rejected={t.fenced_rejected} "
            f"(store={t.fenced_store} dest={t.fenced_dest}) self_stopped={t.self_stopped} "
            f"stuck={t.stuck} retries={t.retries} compared={d.compared} lost={d.lost} "
            f"duplicated={d.duplicated} changed={d.changed} extra={d.extra} "
            f"storm={self.storm_seconds:.0f}s elapsed={self.elapsed:.0f}s"
        )

    def failure_message(self) -> str:
        return (
            "\n".join(self.failures)
            + f"\n{self.summary()}\nreplay: python -m tests.chaos.runner --seed {self.seed}"
        )


class Chaos:
    """One run: databases, sources, workers, rounds of storm and verification."""

    def __init__(self, config: Config, workdir: Path, out: Callable[[str], None]) -> None:
        self.config, self.workdir, self.out = config, workdir, out
        self.report = Report(config.seed)
        self.started = time.monotonic()
        self.servers = data.Servers()
        self.source_sums: dict[str, list[tuple[int, str]]] = {}
        self.dbs: data.Databases
        self.ranges: list[tuple[int | None, int | None]]
        self.sb: Syncbeat
        self.cutter: Cutter
        self.fleet: Fleet

    def say(self, line: str) -> None:
        self.out(f"[{time.monotonic() - self.started:6.1f}s] {line}")

    def run(self) -> Report:
        c = self.config
        fleet: Fleet | None = None
        try:
            self.dbs = dbs = self.servers.create(self.workdir)
            rows = data.make_rows(c.seed, c.rows)
            data.load_sources(dbs, rows)
            self.ranges = key_ranges([r[0] for r in rows])
            self.say(f"{c.rows:,} rows in each source; store {make_url(dbs.store).database}")
            monitor_url = (
                make_url(dbs.store)
                .update_query_dict({"application_name": MONITOR_APP})
                .render_as_string(hide_password=False)
            )
            self.sb = Syncbeat(monitor_url)
            self.cutter = Cutter(dbs.servers())
            fleet = self.fleet = Fleet(
                dbs.store, c.seed, c.timing, c.injection, self.workdir, c.concurrency
            )
            while True:
                self._round()
                soak = (c.soak_minutes or 0) * 60
                if self.report.failures or time.monotonic() - self.started >= soak:
                    break
            self._count_injected()
            self.report.failures += fleet.unexpected_exits
            if c.soak_minutes is None and self.report.faults < c.min_faults:
                self.report.failures.append(
                    f"only {self.report.faults} faults struck, the short mode needs "
                    f"{c.min_faults}: the syncs ended too soon for the schedule"
                )
        finally:
            if fleet is not None:
                fleet.stop()
                if self.report.failures:
                    self.out(fleet.log_tail())
            for closing in ("cutter", "sb"):
                if hasattr(self, closing):
                    getattr(self, closing).close()
            if c.keep or (c.keep_on_failure and self.report.failures):
                kept = [data.database_name(url) for _, url in self.servers.made]
                self.out(f"kept the databases (the job store first): {' '.join(kept)}")
            else:
                self.servers.drop()
            self.report.elapsed = time.monotonic() - self.started
        return self.report

    # -- one round -----------------------------------------------------------------------

    def _round(self) -> None:
        c, report = self.config, self.report
        report.rounds += 1
        rng = random.Random(f"{c.seed}:round{report.rounds}")
        slots = [f"w{i + 1}" for i in range(c.workers)]
        schedule = plan(rng, c.faults, slots, c.timing)
        self.say(f"round {report.rounds} schedule: {' '.join(str(f) for f in schedule)}")
        job_ids: dict[str, int] = {}
        for pipe in data.PIPES:
            pipe.make_dest(self.dbs)
            self.sb.save_pipeline(pipe.spec(self.dbs, c.batch_size))
            job_ids[pipe.name] = self.sb.enqueue(pipe.name).id
        for slot in slots:
            if slot not in self.fleet.slots:
                self.fleet.start(slot)
        started = time.monotonic()
        self._storm(job_ids, schedule)
        report.storm_seconds += time.monotonic() - started
        report.rows += c.rows * len(data.PIPES)
        if not report.failures:
            self.say("all jobs completed; comparing every destination with its source")
            self._verify(job_ids)

    def _statuses(self, ids: list[int]) -> dict[int, tuple[str, int, str | None]] | None:
        try:
            with self.sb.store.begin() as conn:
                found = conn.execute(
                    sa.select(jobs.c.id, jobs.c.status, jobs.c.rows_done, jobs.c.last_error).where(
                        jobs.c.id.in_(ids)
                    )
                ).all()
        except sa.exc.DBAPIError:
            return None  # the store is busy or restarting: look again
        return {r.id: (r.status, r.rows_done, r.last_error) for r in found}

    def _storm(self, job_ids: dict[str, int], schedule: list[Fault]) -> None:
        c = self.config
        pending = deque(schedule)
        total = c.rows * len(job_ids)
        started = last = time.monotonic()
        while True:
            self.fleet.thaw()
            self.fleet.replace_exited()
            statuses = self._statuses(list(job_ids.values()))
            now = time.monotonic()
            if statuses is not None:
                if all(s[0] == "completed" for s in statuses.values()):
                    left = len(pending)
                    self.say(f"storm over after {now - started:.0f}s ({left} faults unused)")
                    return
                failed = {j: s for j, s in statuses.items() if s[0] in ("failed", "cancelled")}
                if failed:
                    self._job_failures(failed)
                    return
                done = sum(min(s[1], c.rows) for s in statuses.values()) / total
                if pending and pending[0].at <= done and now - last >= MIN_GAP:
                    self._strike(pending.popleft(), done)
                    last = time.monotonic()
            if now - started > c.deadline:
                where = (statuses or {}).items()
                self.report.failures.append(
                    f"jobs not completed after {c.deadline:g}s: "
                    + ", ".join(f"job {j} {s[0]} at row {s[1]}" for j, s in where)
                )
                return
            time.sleep(0.1)

    def _strike(self, fault: Fault, done: float) -> None:
        report, fleet = self.report, self.fleet
        what = f"{done:6.1%} {fault}"
        if fault.kind == SIGKILL:
            old = fleet.slots[fault.target].worker
            fleet.sigkill(fault.target)
            report.struck[SIGKILL] += 1
            self.say(f"{what}: killed {old}, started {fleet.slots[fault.target].worker}")
        elif fault.kind == SIGSTOP:
            frozen = fleet.sigstop(fault.target, fault.seconds)
            if frozen is not None:
                report.struck[SIGSTOP] += 1
                self.say(f"{what}: froze {frozen.worker}")
            else:
                report.missed[SIGSTOP] += 1
                self.say(f"{what}: missed (every other worker is frozen)")
        else:
            cut = self.cutter.cut(fault.target)
            report.struck[CONN_KILL] += bool(cut)
            report.missed[CONN_KILL] += not cut
            self.say(f"{what}: cut {cut} connection(s)")

    def _job_failures(self, failed: dict[int, tuple[str, int, str | None]]) -> None:
        for job_id, (status, rows_done, error) in failed.items():
            history = self.sb.events(job_id, limit=15)
            self.report.failures.append(
                f"job {job_id} {status} at row {rows_done}: {error}\n"
                + "\n".join(
                    f"    {e.kind} epoch={e.lease_epoch} {e.owner}: {e.message}" for e in history
                )
            )

    # -- checks ------------------------------------------------------------------------------

    def _verify(self, job_ids: dict[str, int]) -> None:
        report = self.report
        for pipe in data.PIPES:
            job = self.sb.job(job_ids[pipe.name], events=0)
            with self.sb.store.begin() as conn:
                uid = conn.execute(sa.select(jobs.c.uid).where(jobs.c.id == job.id)).scalar_one()
            report.failures += check_job(
                self.sb,
                job,
                uid,
                pipe.dest_url(self.dbs),
                self.config.rows,
                self.config.batch_size,
                report.tally,
            )
            diff = self._compare(pipe)
            report.diff.add(diff)
            if not diff.clean:
                report.failures.append(
                    f"{pipe.name}: lost={diff.lost} duplicated={diff.duplicated} "
                    f"changed={diff.changed} extra={diff.extra}\n    "
                    + "\n    ".join(diff.examples)
                )
            self.say(
                f"{pipe.name}: {diff.compared:,} rows compared ({diff.ranges_differing} "
                f"ranges differ), job {job.id} checked"
            )

    def _compare(self, pipe: data.Pipe) -> RowDiff:
        src = Side(pipe.source_url(self.dbs), data.SOURCE_TABLE)
        dst = Side(pipe.dest_url(self.dbs), pipe.dest_table)
        try:
            if pipe.source not in self.source_sums:
                self.source_sums[pipe.source] = list(src.summaries(self.ranges))
            return compare_ranges(src, dst, self.ranges, self.source_sums[pipe.source])
        finally:
            src.close()
            dst.close()

    def _count_injected(self) -> None:
        log = self.fleet.fault_log
        lines = log.read_text().split("\n") if log.exists() else []
        for line in lines:
            point = line.split(" ", 1)[0]
            if point in INJECTED:
                self.report.struck[INJECTED[point]] += 1


def run(config: Config, workdir: Path, out: Callable[[str], None] = print) -> Report:
    return Chaos(config, workdir, out).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos.runner", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=random.SystemRandom().randrange(2**31),
        help="the seed of the data and the fault schedule; a failed run prints its own "
        "(default: random)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        metavar="MINUTES",
        help="run round after round (each into fresh destination tables) for this long; "
        "default: one round",
    )
    parser.add_argument(
        "--rows", type=int, default=Config.rows, help="rows per source (default %(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=Config.workers,
        help="worker processes (default %(default)s)",
    )
    parser.add_argument(
        "--faults",
        type=int,
        default=Config.faults,
        help="kills, freezes and connection cuts per round, besides the injected faults "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--min-faults",
        type=int,
        default=Config.min_faults,
        help="fewer faults in all than this fails the run (default %(default)s)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the databases and worker logs afterwards"
    )
    args = parser.parse_args(argv)
    config = Config(
        seed=args.seed,
        rows=args.rows,
        soak_minutes=args.soak,
        workers=args.workers,
        faults=args.faults,
        min_faults=args.min_faults,
        keep=args.keep,
        keep_on_failure=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="syncbeat-chaos-"))
    print(f"chaos seed={config.seed} (logs in {workdir})", flush=True)
    try:
        report = run(config, workdir, lambda line: print(line, flush=True))
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:  # a server is unreachable
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    if report.ok:
        print(report.summary())
        if not config.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    print(f"FAILED\n{report.failure_message()}\n(logs in {workdir})")
    return 1


if __name__ == "__main__":
    sys.exit(main())
