"""What the benchmark compares: each variant is one way of copying the ``items`` table.

A variant's kind says how it is run (``pipe``: one client piped into another, pipes.py;
``cli``: the syncbeat command; ``lib``, ``naive`` and ``dlt``: a workload of workloads.py;
``sling`` and ``ingestr``: those programs, peers.py); its group is what ``--only`` selects
by, beside its name. Its ratio is to the raw pipe of its own direction (PIPES).
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
    kind: str  # pipe | cli | lib | naive | dlt | sling | ingestr
    src: str  # "pg" | "mariadb"
    dst: str  # "pg" | "mariadb"
    src_db: str = SRC_DB
    mode: str = "append"
    checkpoints: bool | None = None  # lib: None = RunHooks() defaults
    backend: str = ""  # dlt
    disposition: str = ""  # dlt
    note: str = ""
    samples: list[Sample] = dataclasses.field(default_factory=list)  # one per repetition

    @property
    def pipe(self) -> str:
        """The name of the raw pipe this variant's ``x pipe`` is against: its direction's,
        on the same table (the small table's PG pipe for the small-table rows)."""
        if (self.src, self.dst, self.src_db) == ("pg", "pg", SMALL_DB):
            return "copy_pipe_small"
        return PIPES[(self.src, self.dst)]


# Each direction's raw pipe, measured in the same run: a ratio is only fair against the
# limit of the same pair of servers (PG->MariaDB is bound by LOAD DATA, not by COPY).
PIPES = {
    ("pg", "pg"): "copy_pipe",
    ("pg", "mariadb"): "pipe_pg_to_mariadb",
    ("mariadb", "pg"): "pipe_mariadb_to_pg",
}


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
        *cross_variants("pg", "mariadb", dlt_cross_backend),
        *cross_variants("mariadb", "pg", dlt_cross_backend),
        Variant(
            "copy_pipe_small",
            "raw COPY pipe psql|psql, small",
            "scaling",
            "pipe",
            "pg",
            "pg",
            src_db=SMALL_DB,
            note="RSS: both psql processes added",
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


def cross_variants(src: str, dst: str, dlt_cross_backend: str) -> list[Variant]:
    """One direction across engines: its raw pipe, syncbeat, and the peers."""
    names = {"pg": "PG", "mariadb": "MariaDB"}
    pair = f"{names[src]}->{names[dst]}"
    tag = f"{src}_to_{dst}"
    into_maria = "sqlalchemy destination" if dst == "mariadb" else ""
    v = [
        Variant(
            f"pipe_{tag}",
            f"raw pipe {pair} ({'psql|mariadb' if src == 'pg' else 'mariadb|psql'})",
            "cross",
            "pipe",
            src,
            dst,
            note="RSS: both clients added",
        ),
        Variant(f"sb_{tag}", f"syncbeat {pair} append (CLI)", "cross", "cli", src, dst),
        Variant(
            f"dlt_{tag}",
            f"dlt {pair} {dlt_cross_backend} append",
            "cross",
            "dlt",
            src,
            dst,
            backend=dlt_cross_backend,
            disposition="append",
            note=into_maria,
        ),
    ]
    if src == "mariadb":
        # connectorx reads MariaDB in Rust straight into Arrow: dlt's fastest reader there,
        # where its other backends decode rows with PyMySQL in Python.
        v.append(
            Variant(
                f"dlt_cx_{tag}",
                f"dlt {pair} connectorx append",
                "cross",
                "dlt",
                src,
                dst,
                backend="connectorx",
                disposition="append",
            )
        )
    v += [
        Variant(
            f"sling_{tag}",
            f"Sling {pair} full-refresh",
            "cross",
            "sling",
            src,
            dst,
            note="defaults",
        ),
        Variant(
            f"ingestr_{tag}",
            f"ingestr {pair} replace",
            "cross",
            "ingestr",
            src,
            dst,
            note="defaults",
        ),
    ]
    return v


GROUPS = ("copy", "syncbeat", "nockpt", "naive", "dlt", "cross", "peers", "scaling")


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
    chosen = [v for v in variants if selected(v, wanted)]
    wanted |= {v.pipe for v in chosen}  # every ratio is to its direction's pipe, same run
    return [v for v in variants if selected(v, wanted)]


def selected(v: Variant, wanted: set[str]) -> bool:
    # "peers": every tool that is not syncbeat, across engines (dlt, Sling, ingestr).
    peer = v.group == "cross" and v.kind in ("dlt", "sling", "ingestr")
    return v.name in wanted or v.group in wanted or (peer and "peers" in wanted)
