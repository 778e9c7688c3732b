"""The key matrix: per source engine, every column type a user can page on, with values
that sort differently in Python and in the database (case, trailing spaces, combining
accents, enum order, 4-byte floats, the ends of each range). test_key_fidelity.py syncs
each one in batches small enough to cross every boundary, into every engine, and
compares the destination with the source row by row; docs/types.md ("Keys") says the
same in prose.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from syncbeat.engine.compare import normalise
from tests.integration.type_matrix import float4

D = Decimal
UTC = dt.UTC


@dataclass(frozen=True)
class KeyType:
    """One key column type of one engine, and the values its table holds."""

    name: str
    ddl: str
    values: list[Any]
    float4: bool = False  # a 4-byte float: compared as the shortest decimal that is it


TEXTS = ["", " ", "A", "a", "a ", "B", "b", "é", "e\u0301", "😀", "z" * 200]
FLOATS = [-3.4e38, -1.5, -0.1, 0.0, 1e-38, 0.1, 0.2, 0.3, 1 / 3, 3.14, 16777217.0, 3.4e38]
DOUBLES = [-1.7e308, -0.1, 0.0, 5e-324, 0.1, 0.2, 0.3, 0.30000000000000004, 1 / 3, 1e308]
UUIDS = [uuid.UUID(int=0), uuid.UUID(int=1), uuid.UUID(int=2**127), uuid.UUID(int=2**128 - 1)]
DATES = [dt.date(1, 1, 1), dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31)]
TIMES = [
    dt.datetime(1, 1, 1),
    dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
    dt.datetime(2024, 2, 29, 12, 34, 56, 789013),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
]
CLOCK = [dt.time(0, 0), dt.time(0, 0, 0, 1), dt.time(12, 34, 56, 789012), dt.time(23, 59, 59)]
BYTES = [b"", b"\x00", b"\x00\x00", b"\x01", b"a", b"\xff"]
DECIMALS = [D("-99999.5"), D("-0.00001"), D(0), D("0.00001"), D("1.5"), D("123456789012345.125")]

PG_KEYS = [
    KeyType("i16", "smallint", [-(2**15), -1, 0, 1, 2**15 - 1]),
    KeyType("i32", "integer", [-(2**31), -7, 0, 7, 2**31 - 1]),
    KeyType("i64", "bigint", [-(2**63), -1, 0, 1, 2**63 - 1]),
    KeyType("dec", "numeric(20,5)", DECIMALS),
    KeyType("f32", "real", FLOATS, float4=True),
    KeyType("f64", "double precision", DOUBLES),
    KeyType("txt", "text", TEXTS),
    KeyType("vch", 'varchar(255) COLLATE "C"', TEXTS),
    KeyType("uid", "uuid", UUIDS),
    KeyType("day", "date", DATES),
    KeyType("ts", "timestamp", TIMES),
    KeyType("tod", "time", CLOCK),
    KeyType("tstz", "timestamptz", [t.replace(tzinfo=UTC) for t in TIMES]),
    KeyType("bin", "bytea", BYTES),
    KeyType("mood", "mood", ["happy", "sad", "Happy", "ok"]),
    KeyType("flag", "boolean", [False, True]),
]
PG_TYPES = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'Happy')"

MARIADB_KEYS = [
    KeyType("i8", "TINYINT", [-128, -1, 0, 1, 127]),
    KeyType("i32", "INT", [-(2**31), -7, 0, 7, 2**31 - 1]),
    KeyType("i64", "BIGINT", [-(2**63), -1, 0, 1, 2**63 - 1]),
    KeyType("u64", "BIGINT UNSIGNED", [0, 1, 2**62 + 1, 2**63 - 1]),
    KeyType("dec", "DECIMAL(20,5)", DECIMALS),
    KeyType("f32", "FLOAT", FLOATS, float4=True),
    KeyType("f64", "DOUBLE", DOUBLES),
    KeyType("bin_text", "VARCHAR(255) COLLATE utf8mb4_nopad_bin", TEXTS),
    KeyType("ci_text", "VARCHAR(40)", ["", "a", "B", "c ", "é2", "D", "😀"]),
    KeyType("uid", "UUID", UUIDS),
    KeyType("day", "DATE", DATES),
    KeyType("ts", "DATETIME(6)", TIMES),
    KeyType("tod", "TIME(6)", CLOCK),
    KeyType("tsz", "TIMESTAMP(6)", [dt.datetime(1970, 1, 1, 0, 0, 1), *TIMES[1:3]]),
    KeyType("vbin", "VARBINARY(16)", BYTES),
    KeyType("mood", "ENUM('sad', 'ok', 'happy')", ["happy", "sad", "ok"]),
    KeyType("flag", "BOOLEAN", [0, 1]),
]

SQLITE_TIMES = [
    "0001-01-01 00:00:00",
    "2024-02-29 12:34:56",
    "2024-02-29 12:34:56.5",
    "9999-12-31 23:59:59.999999",
]
SQLITE_KEYS = [
    KeyType("i64", "INTEGER", [-(2**63), -1, 0, 1, 2**63 - 1]),
    KeyType("num", "NUMERIC", [-(2**62) - 1, -1, 0, 0.5, 2**53 + 1, 2**62 + 1]),
    KeyType("f64", "REAL", DOUBLES),
    KeyType("txt", "TEXT", TEXTS),
    KeyType("bin", "BLOB", BYTES),
    KeyType("day", "DATE", ["0001-01-01", "1970-01-01", "2024-02-29", "9999-12-31"]),
    KeyType("ts", "DATETIME", SQLITE_TIMES),
    KeyType("flag", "BOOLEAN", [0, 1]),
]

KEYS = {"pg": PG_KEYS, "mariadb": MARIADB_KEYS, "sqlite": SQLITE_KEYS}


def canonical(value: Any, key_type: KeyType) -> Any:
    """One form per key value, whichever engine holds it: the rules of docs/types.md
    (a UUID as its text, a timestamp in UTC, a number as its exact decimal...) applied
    to both sides, so that a row found at another key fails the comparison."""
    if key_type.float4 and isinstance(value, float):
        value = float4(value)
    if isinstance(value, dt.timedelta):  # a MariaDB TIME: as a time of day elsewhere
        value = (dt.datetime.min + value).time()
    value = normalise(value)
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        return value
    if len(value) in (32, 36):
        try:
            return uuid.UUID(value).hex
        except ValueError:
            pass
    try:
        return normalise(Decimal(value))
    except ArithmeticError:
        pass
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        try:
            return dt.time.fromisoformat(value).isoformat(timespec="microseconds")
        except ValueError:
            return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")
