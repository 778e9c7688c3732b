"""One benchmark run: every selected variant, round-robin, each measured in a fresh process.

Round-robin (one repetition of every variant, then the next) spreads a noisy neighbour
or a warming cache over all variants instead of billing one. Untimed before each
measured run: the destination database is made again, empty, and PostgreSQL is
CHECKPOINTed, so no run pays for the writes of the one before. After it the
destination's rows are counted, so a fast but incomplete copy shows as an error.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from availability import Availability
from commands import command_for
from databases import (
    DLT_DATASET,
    DST_DB,
    MARIADB_DDL,
    PG_DDL,
    drop_all,
    make_sources,
    source_sizes,
)
from facts import collect_facts
from measurement import Sample, measure
from naive import NaivePlan, extrapolate
from progress import log
from report import Report, describe
from servers import Servers
from variants import Variant, all_variants, select_variants


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.servers = Servers.from_environment()
        self.sizes = source_sizes(args.rows, args.rows_small)
        self.variants = select_variants(
            all_variants(args.with_10m, args.dlt_cross_backend), args.only
        )
        self.naive = NaivePlan.for_table(args.rows, args.naive_batches)
        self.availability = Availability()  # checked when the run starts
        self.facts: dict[str, str] = {}

    def rows(self, v: Variant) -> int:
        return self.sizes[v.src_db]

    def source_dbs(self) -> set[tuple[str, str]]:
        """The (server kind, database) sources of the variants that can run here."""
        return {(v.src, v.src_db) for v in self.variants if self.availability.reason(v) is None}

    def run(self) -> None:
        self.availability = Availability.check(self.servers, self.variants)
        self._drop_databases()  # also those a killed run left behind
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
            self._drop_databases()

    def report(self) -> Report:
        return Report(self.variants, self.sizes, self.facts, self.args.reps, self.naive)

    def run_once(self, v: Variant) -> Sample:
        reason = self.availability.reason(v)
        if reason:
            return Sample(na=reason)
        self._prepare(v)
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
        got, want = self._dest_count(v), self._expected_rows(v)
        if got != want:
            sample.error = f"destination has {got:,} rows, expected {want:,}"
        return sample

    def _prepare(self, v: Variant) -> None:
        dst = self.servers[v.dst]
        dst.recreate(DST_DB)
        if v.kind in ("pipe", "naive"):
            # An empty copy of the table (with its primary key): a pipe only moves rows.
            dst.execute(PG_DDL if v.dst == "pg" else MARIADB_DDL, DST_DB)
        self.servers.pg.checkpoint()

    def _expected_rows(self, v: Variant) -> int:
        if v.kind == "naive":
            return self.naive.expected_rows(self.rows(v))
        return self.rows(v)

    def _dest_count(self, v: Variant) -> int:
        table = f"{DLT_DATASET}.items" if v.kind == "dlt" and v.dst == "pg" else "items"
        return self.servers[v.dst].count(DST_DB, table)

    def _drop_databases(self) -> None:
        drop_all(
            self.servers,
            mariadb_unreachable=self.availability.mariadb_unreachable,
            keep=self.args.keep,
        )
