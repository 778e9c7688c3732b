"""The chaos suite's databases, source tables and pipelines.

One table of rows drawn from the seed is loaded into three sources (PostgreSQL, MariaDB,
SQLite) and copied by five pipelines. Keys have gaps, so a checkpoint is a key and not a
row number; values cover text with tabs, newlines, backslashes, quotes and 4-byte
characters, exact decimals, timestamps with microseconds, booleans and NULLs in every
nullable column. Destinations in append mode are made beforehand WITHOUT a primary key:
a row written twice stays there twice, where a key would have turned it into an error.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from syncbeat import PipelineSpec
from tests.support.databases import MARIADB_URL, PG_URL, FreshDatabases
from tests.support.sql import execute

Row = tuple[Any, ...]
COLUMNS = ("id", "name", "price", "qty", "created", "flag", "note")
KEY = "id"
SOURCE_TABLE = "items"

_NOTES = (
    "",
    "plain",
    "tab\there",
    "two\nlines",
    "back\\slash",
    "quotes ' and \"",
    "café crème",
    "emoji 😀 and 𝄞",
    "trailing space ",
    "  leading",
    "多语言文本",
    "\\N is not NULL",
)
_NAME_TAILS = ("", "é", "ß", "Ω", "😀", "x")
_EPOCH = dt.datetime(2020, 1, 1)


def make_rows(seed: int, count: int) -> list[Row]:
    """``count`` rows, the same for the same seed."""
    rng = random.Random(f"{seed}:rows")
    rows: list[Row] = []
    key = 0
    for i in range(count):
        key += rng.randint(1, 3)
        price = None if rng.random() < 0.09 else Decimal(rng.randint(-(10**11), 10**12)) / 100
        created = (
            None
            if rng.random() < 0.08
            else _EPOCH
            + dt.timedelta(seconds=rng.randint(0, 10**8), microseconds=rng.randint(0, 999_999))
        )
        flag = None if rng.random() < 0.06 else rng.random() < 0.5
        note = None if rng.random() < 0.4 else rng.choice(_NOTES) + f" {i}" * rng.randint(0, 12)
        name = f"item {i} {rng.choice(_NAME_TAILS)}"
        rows.append((key, name, price, rng.randint(-1000, 10**6), created, flag, note))
    return rows


# -- databases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Databases:
    """Where everything lives: the job store, two sources on servers and one SQLite file,
    two destinations (each server holds its sources and destinations apart)."""

    store: str
    pg_source: str
    pg_dest: str
    maria_source: str
    maria_dest: str
    sqlite_source: str

    def servers(self) -> dict[str, str]:
        """The server databases a fault may cut connections to, by role."""
        return {
            "store": self.store,
            "pg_source": self.pg_source,
            "pg_dest": self.pg_dest,
            "maria_source": self.maria_source,
            "maria_dest": self.maria_dest,
        }


class Servers:
    """Creates the suite's databases on the test servers and drops them at the end."""

    def __init__(self) -> None:
        self.pg = FreshDatabases(PG_URL, "PostgreSQL")
        self.maria = FreshDatabases(MARIADB_URL, "MariaDB")
        self.made: list[tuple[FreshDatabases, str]] = []

    def create(self, workdir: Path) -> Databases:
        def fresh(server: FreshDatabases) -> str:
            url = server.create()
            self.made.append((server, url))
            return url

        return Databases(
            store=fresh(self.pg),
            pg_source=fresh(self.pg),
            pg_dest=fresh(self.pg),
            maria_source=fresh(self.maria),
            maria_dest=fresh(self.maria),
            sqlite_source=f"sqlite:///{workdir / 'source.db'}",
        )

    def drop(self) -> None:
        for server, url in self.made:
            server.drop(url)
        self.pg.engine.dispose()
        self.maria.engine.dispose()


def database_name(url: str) -> str:
    name = make_url(url).database
    assert name, url
    return name


# -- sources and destinations -------------------------------------------------------------------

PG_COLUMNS = (
    "name varchar(60) NOT NULL, price numeric(12,2), qty integer, created timestamp, "
    "flag boolean, note text"
)
MARIA_COLUMNS = (
    "name VARCHAR(60) NOT NULL, price DECIMAL(12,2), qty INT, created DATETIME(6), "
    "flag BOOLEAN, note TEXT"
)
MARIA_OPTIONS = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"


def load_sources(dbs: Databases, rows: list[Row]) -> None:
    """The same rows into the PostgreSQL, MariaDB and SQLite source tables."""
    engine = sa.create_engine(dbs.pg_source)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE {SOURCE_TABLE} (id integer PRIMARY KEY, {PG_COLUMNS})"
            )
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cur.copy(f"COPY {SOURCE_TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            conn.exec_driver_sql(f"ANALYZE {SOURCE_TABLE}")
    finally:
        engine.dispose()

    # LOAD DATA from a file: pymysql's INSERT escaping would take most of the setup.
    tsv = Path(tempfile.mkstemp(prefix="chaos-", suffix=".tsv")[1])
    lines = ("\t".join(_tsv(v) for v in row) + "\n" for row in rows)
    tsv.write_text("".join(lines), encoding="utf-8")
    engine = sa.create_engine(dbs.maria_source, connect_args={"local_infile": True})
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE {SOURCE_TABLE} (id INT PRIMARY KEY, {MARIA_COLUMNS}) {MARIA_OPTIONS}"
            )
            loaded = conn.exec_driver_sql(
                f"LOAD DATA LOCAL INFILE '{tsv}' INTO TABLE {SOURCE_TABLE} CHARACTER SET "
                "utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
                "LINES TERMINATED BY '\\n'"
            ).rowcount
        assert loaded == len(rows), f"LOAD DATA kept {loaded} of {len(rows)} rows"
    finally:
        engine.dispose()
        tsv.unlink()

    path = make_url(dbs.sqlite_source).database
    assert path
    with sqlite3.connect(path) as lite:
        lite.execute(
            f"CREATE TABLE {SOURCE_TABLE} (id INTEGER PRIMARY KEY, name VARCHAR(60) NOT NULL, "
            "price NUMERIC(12,2), qty INTEGER, created TIMESTAMP, flag BOOLEAN, note TEXT)"
        )
        lite.executemany(
            f"INSERT INTO {SOURCE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_sqlite_row(row) for row in rows),
        )
    lite.close()


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n"})


def _tsv(value: Any) -> str:
    """A value in LOAD DATA's default text format (written here, not borrowed from
    syncbeat's bulk loader: the sources must not share a bug with what is tested)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value).translate(_TSV_ESCAPES)


def _sqlite_row(row: Row) -> Row:
    """SQLAlchemy's own storage forms: timestamps as text with six decimals."""
    key, name, price, qty, created, flag, note = row
    return (
        key,
        name,
        None if price is None else str(price),
        qty,
        None if created is None else created.strftime("%Y-%m-%d %H:%M:%S.%f"),
        flag,
        note,
    )


# -- pipelines ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pipe:
    """One pipeline of the suite: where from, where to, how."""

    name: str
    source: str  # pg, maria or sqlite
    dest: str  # pg or maria
    dest_table: str
    mode: str

    def source_url(self, dbs: Databases) -> str:
        return {"pg": dbs.pg_source, "maria": dbs.maria_source, "sqlite": dbs.sqlite_source}[
            self.source
        ]

    def dest_url(self, dbs: Databases) -> str:
        return {"pg": dbs.pg_dest, "maria": dbs.maria_dest}[self.dest]

    def spec(self, dbs: Databases, batch_size: int) -> PipelineSpec:
        return PipelineSpec(
            name=self.name,
            source_url=self.source_url(dbs),
            source_table=SOURCE_TABLE,
            dest_url=self.dest_url(dbs),
            dest_table=self.dest_table,
            mode=self.mode,
            batch_size=batch_size,
            # Faults, not bad data, fail these batches and claims: no limit may end the
            # job before the faults stop (a job that fails anyway is a finding).
            batch_max_retries=100,
            max_attempts=1000,
        )

    def make_dest(self, dbs: Databases) -> None:
        """Append destinations exist beforehand, without a key; upsert ones are made by
        syncbeat (with the key as primary key). Drops what an earlier round left."""
        url = self.dest_url(dbs)
        execute(url, f"DROP TABLE IF EXISTS {self.dest_table}")
        if self.mode != "append":
            return
        if self.dest == "pg":
            execute(url, f"CREATE TABLE {self.dest_table} (id integer NOT NULL, {PG_COLUMNS})")
        else:
            execute(
                url,
                f"CREATE TABLE {self.dest_table} (id INT NOT NULL, {MARIA_COLUMNS}) "
                f"{MARIA_OPTIONS}",
            )


PIPES = (
    Pipe("pg_pg_append", "pg", "pg", "pg_append", "append"),  # binary COPY pass-through
    Pipe("pg_pg_upsert", "pg", "pg", "pg_upsert", "upsert"),  # COPY pass-through, upsert
    Pipe("pg_maria_append", "pg", "maria", "pg_append", "append"),  # LOAD DATA LOCAL
    Pipe("maria_pg_upsert", "maria", "pg", "maria_upsert", "upsert"),  # COPY + ON CONFLICT
    Pipe("sqlite_pg_append", "sqlite", "pg", "sqlite_append", "append"),  # rows via COPY
)
