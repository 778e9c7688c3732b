"""The benchmark's own databases: their names, the ``items`` table, filling it, dropping them.

A run fills the same 10-column table on each server a variant reads from (one database
per table size); every variant copies into the one destination database, made afresh
before each measured run; the run drops them all at the end (``--keep`` keeps the
sources and a later run reuses them).
"""

from __future__ import annotations

import time

import psycopg
import pymysql  # type: ignore[import-untyped]  # no stubs shipped

from progress import log
from servers import Server, Servers

SRC_DB = "sbbench_src"  # --rows rows
SMALL_DB = "sbbench_src_small"  # --rows-small rows
BIG_DB = "sbbench_src_10m"  # 10M rows, with --with-10m
DST_DB = "sbbench_dst"
DLT_DATASET = "sbbench_dlt"  # a schema in sbbench_dst (PostgreSQL destination)
DATA_VERSION = "1"  # bump when the generated data changes: --keep then regenerates

# The same table on both servers: ~210 bytes a row on PostgreSQL (tuple size; the heap
# takes ~221 bytes a row with line pointers and page headers).
PG_DDL = """CREATE TABLE items (
    id bigint PRIMARY KEY,
    name text,
    email text,
    amount numeric(12,2),
    qty integer,
    created_at timestamptz,
    updated_at timestamptz,
    active boolean,
    attrs jsonb,
    note text
)"""
PG_FILL = """INSERT INTO items
SELECT g,
       'item ' || g || ' ' || substr(md5(g::text), 1, 10),
       'user' || g || '@example.com',
       ((g * 7919) % 10000000) / 100.0,
       ((g * 31) % 1000)::int,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second'
           + (g % 1000000) * interval '1 microsecond',
       g % 3 <> 0,
       jsonb_build_object('color', (ARRAY['red', 'green', 'blue', 'black', 'white'])[1 + g % 5],
                          'size', g % 50,
                          'tags', jsonb_build_array('t' || g % 7)),
       CASE WHEN g % 10 = 0 THEN NULL ELSE md5(g::text) END
FROM generate_series({lo}::bigint, {hi}::bigint) AS g"""
MARIADB_DDL = """CREATE TABLE items (
    id BIGINT PRIMARY KEY,
    name TEXT,
    email TEXT,
    amount DECIMAL(12,2),
    qty INT,
    created_at DATETIME(6),
    updated_at DATETIME(6),
    active BOOLEAN,
    attrs JSON,
    note TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"""
# The SEQUENCE engine's seq_LO_to_HI tables (built into MariaDB) give the rows fast.
MARIADB_FILL = """INSERT INTO items
SELECT seq,
       CONCAT('item ', seq, ' ', SUBSTR(MD5(seq), 1, 10)),
       CONCAT('user', seq, '@example.com'),
       ((seq * 7919) % 10000000) / 100,
       (seq * 31) % 1000,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND,
       TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND
           + INTERVAL (seq % 1000000) MICROSECOND,
       seq % 3 <> 0,
       JSON_OBJECT('color', ELT(1 + seq % 5, 'red', 'green', 'blue', 'black', 'white'),
                   'size', seq % 50,
                   'tags', JSON_ARRAY(CONCAT('t', seq % 7))),
       IF(seq % 10 = 0, NULL, MD5(seq))
FROM seq_{lo}_to_{hi}"""
FILL_CHUNK = 500_000


def source_sizes(rows: int, rows_small: int) -> dict[str, int]:
    """Rows in each source database, by name."""
    return {SRC_DB: rows, SMALL_DB: rows_small, BIG_DB: 10_000_000}


def make_sources(
    servers: Servers, source_dbs: set[tuple[str, str]], sizes: dict[str, int], *, keep: bool
) -> None:
    """Fill each (server kind, database) source, or with ``keep`` reuse one whose
    recorded size and data version still match."""
    for kind, db in sorted(source_dbs):
        server, rows = servers[kind], sizes[db]
        if keep and source_ok(server, db, rows):
            log(f"reusing {kind} {db} ({rows:,} rows)")
            continue
        log(f"generating {kind} {db}: {rows:,} rows ...")
        started = time.perf_counter()
        server.recreate(db)
        conn = server.connect(db)
        try:
            with conn.cursor() as cur:
                cur.execute(PG_DDL if kind == "pg" else MARIADB_DDL)
                for lo in range(1, rows + 1, FILL_CHUNK):
                    hi = min(lo + FILL_CHUNK - 1, rows)
                    fill = PG_FILL if kind == "pg" else MARIADB_FILL
                    cur.execute(fill.format(lo=lo, hi=hi))
                cur.execute("CREATE TABLE sbbench_meta (rows_ bigint, version text)")
                cur.execute("INSERT INTO sbbench_meta VALUES (%s, %s)", (rows, DATA_VERSION))
            if kind == "pg":
                # Set hint bits and the visibility map now, not in the first timed read.
                conn.execute("VACUUM (FREEZE, ANALYZE) items")
            else:
                with conn.cursor() as cur:
                    cur.execute("ANALYZE TABLE items")
                    cur.fetchall()
        finally:
            conn.close()
        log(f"  done in {time.perf_counter() - started:.1f} s")


def source_ok(server: Server, db: str, rows: int) -> bool:
    """Whether a kept source has the rows asked for, generated by this DATA_VERSION."""
    try:
        got = server.execute("SELECT rows_, version FROM sbbench_meta", db)
        return bool(got) and int(got[0][0]) == rows and got[0][1] == DATA_VERSION
    except (psycopg.Error, pymysql.Error):
        return False


def drop_all(servers: Servers, *, mariadb_unreachable: bool, keep: bool) -> None:
    """Drop every ``sbbench_*`` database (with ``keep``, only the destination), also
    those a run that was killed left behind."""
    for server in (servers.pg, servers.maria):
        if server.kind == "mariadb" and mariadb_unreachable:
            continue
        try:
            if server.kind == "pg":
                names = [
                    r[0]
                    for r in server.execute(
                        "SELECT datname FROM pg_database WHERE datname LIKE 'sbbench\\_%'"
                    )
                ]
            else:
                names = [r[0] for r in server.execute("SHOW DATABASES LIKE 'sbbench\\_%'")]
            for name in names:
                if keep and name != DST_DB:
                    continue
                server.drop(name)
        except (psycopg.Error, pymysql.Error) as exc:
            log(f"cleanup on {server.kind} failed: {exc}")
