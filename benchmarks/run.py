"""syncbeat benchmark: syncbeat side by side with the raw COPY pipe, OFFSET paging and dlt.

    make bench                                  # installs .[bench], then runs this file
    .venv/bin/python benchmarks/run.py [--rows N] [--reps N] [--only NAMES] [--quick] ...

It creates its own databases (named ``sbbench_*``) on the PostgreSQL server of
SYNCBEAT_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres) and the MariaDB
server of SYNCBEAT_BENCH_MARIADB (default mysql://root@127.0.0.1:3306), fills the same
10-column ``items`` table in both, then measures every variant in its own subprocess,
round-robin (one repetition of every variant, then the next repetition), and prints the
median of the repetitions: rows/s, the ratio to the raw binary COPY pipe of the same run,
peak RSS (``ru_maxrss`` from ``os.wait4``) and seconds. The databases are dropped at the
end (``--keep`` keeps them, and a later run with ``--keep`` reuses them).

Seconds are wall-clock seconds of the whole measured process, start-up and imports
included, from spawning it to reaping it; untimed before each run: the destination
database is dropped and created again, and PostgreSQL is CHECKPOINTed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from availability import Availability
from commands import command_for
from databases import (
    DLT_DATASET,
    DST_DB,
    PG_DDL,
    drop_all,
    make_sources,
    source_sizes,
)
from facts import collect_facts
from measurement import Sample, measure
from naive import NaivePlan, extrapolate
from progress import log
from report import BEGIN, END, Report, describe, update_doc
from servers import Server, Servers
from variants import GROUPS, Variant, all_variants, select_variants

# -- the benchmark --------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.servers = Servers.from_environment()
        self.pg, self.maria = self.servers.pg, self.servers.maria
        self.sizes = source_sizes(args.rows, args.rows_small)
        self.variants = select_variants(
            all_variants(args.with_10m, args.dlt_cross_backend), args.only
        )
        self.facts: dict[str, str] = {}
        self.availability = Availability()  # checked when the run starts
        self.naive = NaivePlan.for_table(args.rows, args.naive_batches)

    def server(self, kind: str) -> Server:
        return self.servers[kind]

    def rows(self, v: Variant) -> int:
        return self.sizes[v.src_db]

    # .. setup ..........................................................................

    def source_dbs(self) -> set[tuple[str, str]]:
        return {(v.src, v.src_db) for v in self.variants if self.availability.reason(v) is None}

    # .. one run ........................................................................

    def prepare(self, v: Variant) -> None:
        dst = self.server(v.dst)
        dst.recreate(DST_DB)
        if v.kind in ("pipe", "naive"):
            dst.execute(PG_DDL, DST_DB)  # an empty copy of the table
        self.pg.checkpoint()

    def expected_rows(self, v: Variant, sample: Sample) -> int:
        if v.kind == "naive":
            return self.naive.expected_rows(self.rows(v))
        return self.rows(v)

    def dest_count(self, v: Variant) -> int:
        table = f"{DLT_DATASET}.items" if v.kind == "dlt" and v.dst == "pg" else "items"
        return self.server(v.dst).count(DST_DB, table)

    def run_once(self, v: Variant) -> Sample:
        reason = self.availability.reason(v)
        if reason:
            return Sample(na=reason)
        self.prepare(v)
        tmp = Path(tempfile.mkdtemp(prefix="sbbench_"))
        try:
            commands, env = command_for(v, self.servers, self.naive, tmp)
            sample = measure(commands, workdir=tmp, env=env, timeout=self.args.timeout)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if sample.error or sample.na:
            return sample
        if v.kind == "naive":
            sample.seconds = extrapolate(sample.result["per_batch"], self.rows(v))
        got, want = self.dest_count(v), self.expected_rows(v, sample)
        if got != want:
            sample.error = f"destination has {got:,} rows, expected {want:,}"
        return sample

    def run(self) -> None:
        self.availability = Availability.check(self.servers, self.variants)
        self.drop_databases()
        try:
            make_sources(self.servers, self.source_dbs(), self.sizes, keep=self.args.keep)
            self.facts = collect_facts(
                self.servers,
                mariadb_unreachable=self.availability.mariadb_unreachable,
                source_dbs=self.source_dbs(),
                sizes=self.sizes,
            )
            for rep in range(self.args.reps):
                for v in self.variants:
                    sample = self.run_once(v)
                    v.samples.append(sample)
                    log(
                        f"[rep {rep + 1}/{self.args.reps}] {v.name}: "
                        + describe(v, sample, self.rows(v))
                    )
        finally:
            self.drop_databases()

    def drop_databases(self) -> None:
        drop_all(
            self.servers,
            mariadb_unreachable=self.availability.mariadb_unreachable,
            keep=self.args.keep,
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="variants: "
        + ", ".join(v.name for v in all_variants(True, "pyarrow"))
        + "\ngroups: "
        + ", ".join(GROUPS),
    )
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the main table")
    p.add_argument(
        "--rows-small", type=int, default=100_000, help="rows in the small table (scaling row)"
    )
    p.add_argument("--with-10m", action="store_true", help="add the 10M-row scaling run")
    p.add_argument("--reps", type=int, default=3, help="repetitions (median is reported)")
    p.add_argument(
        "--only",
        help="comma-separated variant or group names (copy_pipe always "
        "runs: it is every ratio's denominator)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: --rows 50000 --rows-small 10000 --reps 1, 20-batch prefixes",
    )
    p.add_argument(
        "--naive-batches",
        type=int,
        default=200,
        help="batches timed at each offset by the naive variant",
    )
    p.add_argument(
        "--dlt-cross-backend",
        default="pyarrow",
        choices=["pyarrow", "sqlalchemy"],
        help="dlt backend for the cross-engine pairs",
    )
    p.add_argument("--timeout", type=float, default=3600, help="seconds per measured run")
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated source databases (and reuse kept ones)",
    )
    p.add_argument(
        "--json", type=Path, help="also write raw samples here (benchmarks/results/ is gitignored)"
    )
    p.add_argument(
        "--update-doc",
        type=Path,
        metavar="MD",
        help=f"replace the {BEGIN} ... {END} block of this file with the report",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.rows_small, args.reps = 50_000, 10_000, 1
        args.naive_batches = min(args.naive_batches, 20)
    if args.reps < 1 or args.rows < 100 or args.rows_small < 100:
        p.error("--reps must be >= 1 and --rows/--rows-small >= 100")
    command = " ".join(shlex.quote(a) for a in ["benchmarks/run.py", *(argv or sys.argv[1:])])

    bench = Bench(args)
    started = time.monotonic()
    bench.run()
    report = Report(bench.variants, bench.sizes, bench.facts, args.reps, bench.naive).render()
    report += f"\n\nTotal benchmark time: {(time.monotonic() - started) / 60:.1f} min"
    print(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "command": command,
                    "facts": bench.facts,
                    "variants": [
                        {
                            "name": v.name,
                            "label": v.label,
                            "rows": bench.rows(v),
                            "samples": [dataclasses.asdict(s) for s in v.samples],
                        }
                        for v in bench.variants
                    ],
                },
                indent=2,
            )
        )
    if args.update_doc:
        update_doc(args.update_doc, command, report)


if __name__ == "__main__":
    main()
