"""The report: the results table, the naive and scaling sections, the targets' check.

Every figure is a median over the repetitions whose sample has neither an error nor an
n/a; a rate is rows over those median wall seconds, and a ratio (``x pipe``) is to the raw
pipe of the variant's own direction in the same run, named in the ``pipe`` column.
"""

from __future__ import annotations

import dataclasses
import re
import statistics
from pathlib import Path

from measurement import Sample
from naive import NaivePlan
from variants import Variant

BEGIN, END = "<!-- BENCH:BEGIN -->", "<!-- BENCH:END -->"  # --update-doc replaces between


@dataclasses.dataclass
class Report:
    variants: list[Variant]
    sizes: dict[str, int]  # rows in each source database
    facts: dict[str, str]  # the machine, the servers, the versions
    reps: int
    naive: NaivePlan

    def rows(self, v: Variant) -> int:
        return self.sizes[v.src_db]

    def pipe_rate(self, v: Variant) -> float | None:
        """rows/s of the raw pipe ``v`` is measured against (None: not run or failed)."""
        pipe = self.by_name(v.pipe)
        return rate(pipe, self.rows(pipe)) if pipe else None

    def render(self) -> str:
        copy = self.by_name("copy_pipe")
        copy_rate = rate(copy, self.rows(copy)) if copy else None
        header = [
            "benchmark",
            "name",
            "rows",
            "rows/s",
            "x pipe",
            "pipe",
            "RSS MB",
            "seconds",
            "spread",
            "note",
        ]
        table = [header]
        for v in self.variants:
            n = self.rows(v)
            r = rate(v, n)
            bad = [s for s in v.samples if s.error or s.na]
            if not v.samples or len(bad) == len(v.samples):
                s = bad[0] if bad else Sample(na="not run")
                status = f"n/a ({s.na})" if s.na else f"error: {(s.error or '')[:100]}"
                table.append([v.label, v.name, f"{n:,}", "-", "-", v.pipe, "-", "-", "-", status])
                continue
            good = [s for s in v.samples if not (s.error or s.na)]
            secs = [s.seconds for s in good if s.seconds is not None]
            rss = statistics.median(s.rss_mb or 0 for s in good)
            note = v.note
            if len(bad):
                why = (bad[0].error or "")[:80]
                note = (note + "; " if note else "") + f"{len(bad)} failed: {why}"
            spread = (max(secs) - min(secs)) / statistics.median(secs) if len(secs) > 1 else 0
            pipe_rate = self.pipe_rate(v)
            table.append(
                [
                    v.label,
                    v.name,
                    f"{n:,}",
                    f"{r:,.0f}" if r else "-",
                    f"{r / pipe_rate:.2f}" if r and pipe_rate else "-",
                    v.pipe,
                    f"{rss:.0f}",
                    f"{statistics.median(secs):.2f}",
                    f"{spread * 100:.0f}%",
                    note,
                ]
            )
        lines = [
            "Machine:",
            *(f"  {k}: {val}" for k, val in self.facts.items()),
            "",
            f"Results: median of {self.reps} repetition(s), variants interleaved "
            "round-robin; rows/s = rows / wall seconds of the whole process; x pipe = rows/s "
            "over that of the raw pipe of the same direction, named under pipe (copy_pipe: "
            "psql|psql binary COPY; pipe_pg_to_mariadb: psql COPY text | mariadb LOAD DATA; "
            "pipe_mariadb_to_pg: mariadb --batch | psql COPY); RSS = peak RSS (ru_maxrss); "
            "spread = (max-min)/median of the seconds.",
            "",
            *format_table(table),
        ]
        lines += self.sections(copy_rate)
        return "\n".join(lines)

    def by_name(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)

    def sections(self, copy_rate: float | None) -> list[str]:
        out: list[str] = []
        naive = self.by_name("naive_offset")
        good = [s for s in naive.samples if not (s.error or s.na)] if naive else []
        if naive and good:
            out += [
                "",
                f"Naive OFFSET paging: median cost of one 100-row batch (rows + "
                f"checkpoint committed), timed over {self.naive.batches} batches at each "
                "offset:",
            ]
            for off in self.naive.offsets:
                cost = statistics.median(s.result["per_batch"][str(off)] for s in good)
                out.append(f"  offset {off:>10,}: {cost * 1000:8.2f} ms/batch")
            total = statistics.median(s.seconds for s in good if s.seconds)
            out.append(f"  extrapolated full table ({self.rows(naive):,} rows): {total:,.0f} s")
        small, full, big = (
            self.by_name(n) for n in ("sb_append_small", "sb_append", "sb_append_10m")
        )
        small_seconds = median_seconds(small) if small else None
        full_seconds = median_seconds(full) if full else None
        if small and full and small_seconds and full_seconds:
            out += ["", "Scaling (syncbeat PG->PG append, CLI):"]
            for v in (small, full, big):
                if v and (seconds := median_seconds(v)):
                    out.append(
                        f"  {self.rows(v):>12,} rows: {seconds:8.2f} s, "
                        f"peak RSS {median_rss(v):.0f} MB"
                    )
            ratio = full_seconds / small_seconds
            linear = self.rows(full) / self.rows(small)
            out.append(
                f"  time({self.rows(full):,}) / time({self.rows(small):,}) = "
                f"{ratio:.2f} (linear: {linear:.1f})"
            )
            if big and (big_seconds := median_seconds(big)):
                out.append(
                    f"  time(10,000,000) / time({self.rows(full):,}) = "
                    f"{big_seconds / full_seconds:.2f}"
                )
        out += self.targets(copy_rate)
        return out

    def targets(self, copy_rate: float | None) -> list[str]:
        def ratio(name: str) -> float | None:
            v = self.by_name(name)
            r = rate(v, self.rows(v)) if v else None
            return r / copy_rate if r and copy_rate else None

        checks: list[tuple[str, str, bool | None]] = []
        for name, goal in (("sb_append", 0.70), ("sb_upsert", 0.40)):
            got = ratio(name)
            if got is not None:
                checks.append((f"{name} >= {goal:.2f} x COPY", f"{got:.2f}", got >= goal))
        for sb, dl in (
            ("sb_pg_to_mariadb", "dlt_pg_to_mariadb"),
            ("sb_mariadb_to_pg", "dlt_mariadb_to_pg"),
        ):
            a, b = self.by_name(sb), self.by_name(dl)
            ra = rate(a, self.rows(a)) if a else None
            rb = rate(b, self.rows(b)) if b else None
            if ra and rb:
                checks.append((f"{sb} >= 3 x {dl}", f"{ra / rb:.1f}x", ra / rb >= 3))
        for on, off in (
            ("sb_append_lib", "sb_append_nockpt"),
            ("sb_upsert_lib", "sb_upsert_nockpt"),
        ):
            a, b = self.by_name(on), self.by_name(off)
            on_seconds = median_seconds(a) if a else None
            off_seconds = median_seconds(b) if b else None
            if on_seconds and off_seconds:
                cost = on_seconds / off_seconds - 1
                checks.append(
                    (
                        f"checkpoint+heartbeat cost ({on} vs {off}) <= 3%",
                        f"{cost * 100:+.1f}%",
                        cost <= 0.03,
                    )
                )
        small, full = self.by_name("sb_append_small"), self.by_name("sb_append")
        small_seconds = median_seconds(small) if small else None
        full_seconds = median_seconds(full) if full else None
        if small and full and small_seconds and full_seconds:
            got = full_seconds / small_seconds
            limit = 10.5 * (self.rows(full) / self.rows(small)) / 10
            checks.append((f"time(full)/time(small) <= {limit:.1f}", f"{got:.2f}", got <= limit))
        syncbeat = [v for v in self.variants if v.name.startswith("sb_") and median_rss(v)]
        if syncbeat:
            worst = max(syncbeat, key=median_rss)
            checks.append(
                (
                    "syncbeat peak RSS <= 150 MB",
                    f"{median_rss(worst):.0f} MB ({worst.name})",
                    median_rss(worst) <= 150,
                )
            )
        if not checks:
            return []
        rows = [["target (issue 4)", "got", ""]] + [
            [what, got, "ok" if ok else "MISSED"] for what, got, ok in checks
        ]
        return ["", *format_table(rows)]


def good_samples(v: Variant) -> list[Sample]:
    return [s for s in v.samples if not (s.error or s.na) and s.seconds]


def median_seconds(v: Variant) -> float | None:
    good = good_samples(v)
    return statistics.median(s.seconds for s in good if s.seconds) if good else None


def median_rss(v: Variant) -> float:
    good = good_samples(v)
    return statistics.median(s.rss_mb or 0 for s in good) if good else 0.0


def rate(v: Variant | None, rows: int) -> float | None:
    secs = median_seconds(v) if v else None
    return rows / secs if secs else None


def describe(v: Variant, s: Sample, rows: int) -> str:
    if s.na:
        return f"n/a ({s.na})"
    if s.error:
        return f"ERROR {s.error}"
    rss = "+".join(f"{kb / 1024:.0f}" for kb in s.rss_kb)
    extra = ""
    if v.kind == "naive":
        costs = ", ".join(
            f"{int(k):,}: {c * 1000:.1f} ms" for k, c in s.result["per_batch"].items()
        )
        extra = f" (extrapolated; per batch {costs})"
    assert s.seconds is not None  # measured: a sample with neither error nor n/a has it
    return f"{s.seconds:.2f} s, {rows / s.seconds:,.0f} rows/s, RSS {rss} MB{extra}"


def format_table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    numeric = [
        i
        for i in range(len(widths))
        if all(re.fullmatch(r"[-+]?[\d,.]+[%x]?|-", r[i]) for r in rows[1:])
    ]
    out = []
    for n, r in enumerate(rows):
        cells = [
            c.rjust(widths[i]) if i in numeric and n else c.ljust(widths[i])
            for i, c in enumerate(r)
        ]
        out.append("  ".join(cells).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def update_doc(path: Path, command: str, report: str) -> None:
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{path}: no {BEGIN} ... {END} block to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    block = f"{BEGIN}\nCommand: `{command}`\n\n```text\n{report}\n```\n{END}"
    path.write_text(head + block + tail)
