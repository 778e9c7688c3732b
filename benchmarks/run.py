"""syncbeat benchmark: syncbeat beside each direction's raw pipe, OFFSET paging and peers.

    make bench                                  # installs .[bench], then runs this file
    .venv/bin/python benchmarks/run.py [--rows N] [--reps N] [--only NAMES] [--quick] ...

It creates its own databases (named ``sbbench_*``) on the PostgreSQL server of
SYNCBEAT_BENCH_PG (default postgresql://postgres@127.0.0.1:5432/postgres) and the MariaDB
server of SYNCBEAT_BENCH_MARIADB (default mysql://root@127.0.0.1:3306), fills the same
10-column ``items`` table in both, then measures every variant in its own subprocess,
round-robin (one repetition of every variant, then the next repetition), and prints the
median of the repetitions: rows/s, the ratio to the raw pipe of the variant's direction
in the same run (binary COPY for PG->PG; psql|mariadb and mariadb|psql across engines),
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
import sys
import time
from pathlib import Path

from report import BEGIN, END, update_doc
from runner import Runner
from variants import GROUPS, all_variants


def parse_args(argv: list[str] | None) -> argparse.Namespace:
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
        help="comma-separated variant or group names (the raw pipe of each selected "
        "variant's direction always runs: it is that ratio's denominator)",
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
    return args


def write_json(path: Path, command: str, runner: Runner) -> None:
    """The raw samples of every variant, for comparing runs beyond the medians."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "command": command,
                "facts": runner.facts,
                "variants": [
                    {
                        "name": v.name,
                        "label": v.label,
                        "rows": runner.rows(v),
                        "samples": [dataclasses.asdict(s) for s in v.samples],
                    }
                    for v in runner.variants
                ],
            },
            indent=2,
        )
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # The command as typed, for the doc block: the report is only comparable with its options.
    command = " ".join(shlex.quote(a) for a in ["benchmarks/run.py", *(argv or sys.argv[1:])])

    runner = Runner(args)
    started = time.monotonic()
    runner.run()
    report = runner.report().render()
    report += f"\n\nTotal benchmark time: {(time.monotonic() - started) / 60:.1f} min"
    print(report)
    if args.json:
        write_json(args.json, command, runner)
    if args.update_doc:
        update_doc(args.update_doc, command, report)


if __name__ == "__main__":
    main()
