"""What the benchmark compares: each variant is one way of copying the ``items`` table.

A variant's kind says how it is run (``pipe``: psql piped into psql; ``cli``: the syncbeat
command; ``lib``, ``naive`` and ``dlt``: a workload of workloads.py); its group is what
``--only`` selects by, beside its name.
"""

from __future__ import annotations

import dataclasses

from databases import BIG_DB, SMALL_DB, SRC_DB
from measurement import Sample


@dataclasses.dataclass
class Variant:
    name: str
    label: str
    group: str
    kind: str  # pipe | cli | lib | naive | dlt
    src: str  # "pg" | "mariadb"
    dst: str  # "pg" | "mariadb"
    src_db: str = SRC_DB
    mode: str = "append"
    checkpoints: bool | None = None  # lib: None = RunHooks() defaults
    backend: str = ""  # dlt
    disposition: str = ""  # dlt
    note: str = ""
    samples: list[Sample] = dataclasses.field(default_factory=list)  # one per repetition


def all_variants(with_10m: bool, dlt_cross_backend: str) -> list[Variant]:
    """Every variant, in the order each repetition runs them and the table lists them."""
    v = [
        Variant(
            "copy_pipe",
            "raw COPY pipe psql|psql (binary)",
            "copy",
            "pipe",
            "pg",
            "pg",
            note="RSS: both psql processes added",
        ),
        Variant("sb_append", "syncbeat PG->PG append (CLI)", "syncbeat", "cli", "pg", "pg"),
        Variant(
            "sb_upsert",
            "syncbeat PG->PG upsert (CLI)",
            "syncbeat",
            "cli",
            "pg",
            "pg",
            mode="upsert",
            note="into an empty table",
        ),
        Variant("sb_append_lib", "syncbeat PG->PG append (library)", "nockpt", "lib", "pg", "pg"),
        Variant(
            "sb_append_nockpt",
            "  same, checkpoints+heartbeats off",
            "nockpt",
            "lib",
            "pg",
            "pg",
            checkpoints=False,
        ),
        Variant(
            "sb_upsert_lib",
            "syncbeat PG->PG upsert (library)",
            "nockpt",
            "lib",
            "pg",
            "pg",
            mode="upsert",
            note="into an empty table",
        ),
        Variant(
            "sb_upsert_nockpt",
            "  same, checkpoints+heartbeats off",
            "nockpt",
            "lib",
            "pg",
            "pg",
            mode="upsert",
            checkpoints=False,
            note="into an empty table",
        ),
        Variant(
            "naive_offset",
            "naive OFFSET/LIMIT 100 + checkpoint",
            "naive",
            "naive",
            "pg",
            "pg",
            note="extrapolated from timed prefixes",
        ),
    ]
    for backend in ("pyarrow", "sqlalchemy"):
        for disposition in ("replace", "merge"):
            v.append(
                Variant(
                    f"dlt_{backend}_{disposition}",
                    f"dlt PG->PG {backend} {disposition}",
                    "dlt",
                    "dlt",
                    "pg",
                    "pg",
                    backend=backend,
                    disposition=disposition,
                    note="primary_key=id hint" if disposition == "merge" else "",
                )
            )
    v += [
        Variant(
            "sb_pg_to_mariadb", "syncbeat PG->MariaDB append (CLI)", "cross", "cli", "pg", "mariadb"
        ),
        Variant(
            "dlt_pg_to_mariadb",
            f"dlt PG->MariaDB {dlt_cross_backend} append",
            "cross",
            "dlt",
            "pg",
            "mariadb",
            backend=dlt_cross_backend,
            disposition="append",
            note="sqlalchemy destination",
        ),
        Variant(
            "sb_mariadb_to_pg", "syncbeat MariaDB->PG append (CLI)", "cross", "cli", "mariadb", "pg"
        ),
        Variant(
            "dlt_mariadb_to_pg",
            f"dlt MariaDB->PG {dlt_cross_backend} append",
            "cross",
            "dlt",
            "mariadb",
            "pg",
            backend=dlt_cross_backend,
            disposition="append",
        ),
        Variant(
            "sb_append_small",
            "syncbeat PG->PG append, small",
            "scaling",
            "cli",
            "pg",
            "pg",
            src_db=SMALL_DB,
        ),
    ]
    if with_10m:
        v.append(
            Variant(
                "sb_append_10m",
                "syncbeat PG->PG append, 10M",
                "scaling",
                "cli",
                "pg",
                "pg",
                src_db=BIG_DB,
            )
        )
    return v


GROUPS = ("copy", "syncbeat", "nockpt", "naive", "dlt", "cross", "scaling")


def select_variants(variants: list[Variant], only: str | None) -> list[Variant]:
    """The variants ``--only`` names (by name or group), plus those their ratios need."""
    if not only:
        return variants
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    known = {v.name for v in variants} | set(GROUPS)
    unknown = wanted - known
    if unknown:
        raise SystemExit(
            f"--only: unknown {', '.join(sorted(unknown))}; names: "
            f"{', '.join(v.name for v in variants)}; groups: {', '.join(GROUPS)}"
        )
    if "scaling" in wanted or any(v.name in wanted for v in variants if v.group == "scaling"):
        wanted.add("sb_append")  # time(1M) / time(small) needs the full-size run
    wanted.add("copy_pipe")  # every ratio is to the pipe of the same run
    return [v for v in variants if v.name in wanted or v.group in wanted]
