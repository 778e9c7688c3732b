"""Verify and repair, measured beside the sync they check, in one run.

    make bench-verify
    .venv/bin/python benchmarks/verify_bench.py [--rows N] [--reps N] [--damage K]

Fills the benchmark's ``items`` table (databases.py) on PostgreSQL, then, each
repetition: syncs it into a fresh MariaDB database with ``syncbeat sync`` (append);
verifies it with ``syncbeat verify --json`` (it must be equal); damages K rows of the
destination spread through the table (a third deleted, a third changed, a third added);
verifies again (it must find exactly them) and repairs with ``syncbeat repair`` (after
which verify must be equal). Every step is a CLI process timed from spawn to exit, as
a user runs it. The table gives each step's median seconds, its ratio to the sync of the
same run, and the rows verify fetched to find the damage (the rest was compared by
checksums inside the two databases). The targets: verify <= 0.35 x the sync; the rows a
repair reads grow with K times a leaf range, not with the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from databases import DST_DB, SRC_DB, make_sources
from progress import log
from report import format_table
from servers import Servers

BEGIN, END = "<!-- VERIFY:BEGIN -->", "<!-- VERIFY:END -->"
SYNCBEAT = str(Path(sys.executable).with_name("syncbeat"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the items table")
    p.add_argument("--reps", type=int, default=3, help="repetitions (median is reported)")
    p.add_argument("--damage", type=int, default=300, help="rows damaged before the repair")
    p.add_argument("--keep", action="store_true", help="reuse a kept source of the same size")
    p.add_argument("--update-doc", type=Path, metavar="MD", help=f"replace its {BEGIN} block")
    return p.parse_args(argv)


def timed(env: dict[str, str], *args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run([SYNCBEAT, *args], env=env, capture_output=True, text=True)
    return time.perf_counter() - started, done


def damage(servers: Servers, rows: int, k: int) -> None:
    """k rows differing, spread evenly: deleted, changed and added in thirds."""
    step = max(rows // k, 1)
    ids = list(range(step // 2 + 1, rows + 1, step))[:k]
    gone, changed = ids[0::3], ids[1::3]
    added = [rows + i + 1 for i in range(len(ids[2::3]))]
    conn = servers.maria.connect(DST_DB)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM items WHERE id IN ({', '.join(map(str, gone))})")
            cur.execute(
                f"UPDATE items SET qty = qty + 1 WHERE id IN ({', '.join(map(str, changed))})"
            )
            cur.executemany("INSERT INTO items (id, name) VALUES (%s, 'added')", added)
        conn.commit()
    finally:
        conn.close()


def one_run(servers: Servers, env: dict[str, str], rows: int, k: int) -> dict[str, float]:
    servers.maria.recreate(DST_DB)
    source, dest = servers.pg.syncbeat_url(SRC_DB), servers.maria.syncbeat_url(DST_DB)
    sync = ["sync", "--from", source, "--table", "items", "--to", dest, "--mode", "append"]
    seconds, done = timed(env, *sync, "--name", "bench")
    assert done.returncode == 0, done.stdout + done.stderr
    found: dict[str, float] = {"sync": seconds}
    seconds, done = timed(env, "verify", "bench", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    found["verify"] = seconds
    damage(servers, rows, k)
    seconds, done = timed(env, "verify", "bench", "--json")
    report = json.loads(done.stdout)
    differing = sum(report[kind]["count"] for kind in ("missing", "extra", "changed"))
    assert differing == k, report
    found["verify, damaged"], found["fetched"] = seconds, report["rows_fetched"]
    seconds, done = timed(env, "repair", "bench")
    assert done.returncode == 0, done.stdout + done.stderr
    found["repair"] = seconds
    assert timed(env, "verify", "bench")[1].returncode == 0, "not equal after the repair"
    return found


def render(runs: list[dict[str, float]], rows: int, k: int) -> str:
    sync = statistics.median(r["sync"] for r in runs)
    table = [["step", "seconds", "x sync", "rows fetched", "note"]]
    for step, note in (
        ("sync", f"{rows:,} rows PG->MariaDB, append"),
        ("verify", "equal"),
        ("verify, damaged", f"{k} rows differ: found, each by key"),
        ("repair", f"the {k} rows put right; verify equal after"),
    ):
        seconds = statistics.median(r[step] for r in runs)
        fetched = (
            f"{int(statistics.median(r['fetched'] for r in runs)):,}" if "damaged" in step else ""
        )
        table.append([step, f"{seconds:.2f}", f"{seconds / sync:.2f}", fetched, note])
    spread = {s: [round(r[s], 2) for r in runs] for s in ("sync", "verify", "repair")}
    lines = format_table(table)
    lines.append("")
    lines.append(f"Repetitions (seconds): {spread}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = " ".join(
        shlex.quote(a) for a in ["benchmarks/verify_bench.py", *(argv or sys.argv[1:])]
    )
    servers = Servers.from_environment()
    make_sources(servers, {("pg", SRC_DB)}, {SRC_DB: args.rows}, keep=args.keep)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SYNCBEAT_STORE": f"sqlite:///{tmp}/store.db"}
        runs = []
        for rep in range(args.reps):
            log(f"repetition {rep + 1} of {args.reps} ...")
            runs.append(one_run(servers, env, args.rows, args.damage))
            Path(tmp, "store.db").unlink()
    report = render(runs, args.rows, args.damage)
    print(report)
    if args.update_doc:
        text = args.update_doc.read_text()
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        block = f"{BEGIN}\nCommand: `{command}`\n\n```text\n{report}\n```\n{END}"
        args.update_doc.write_text(head + block + tail)
    if not args.keep:
        for db in (SRC_DB, DST_DB):
            (servers.pg if db == SRC_DB else servers.maria).drop(db)


if __name__ == "__main__":
    main()
