"""The type matrix: per source engine, a table with one column per type family, the
values that break copies, and for each destination engine the column type syncbeat
creates and the rule each value follows. docs/types.md is this file in prose; the test
that holds syncbeat to it is tests/integration/test_type_fidelity.py.

A rule maps the value the source's driver returns to the value the destination's
driver must return: ``same`` (equal, strictly), a deliberate conversion, or ``Refused``
(syncbeat must fail the batch with an error naming the column and the row).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

UTC = dt.UTC
D = Decimal


class Refused(Exception):
    """The destination cannot hold this value: the sync must fail with a clear error."""


@dataclass(frozen=True)
class JsonValue:
    """A JSON document compared by value, numbers as exact decimals."""

    doc: Any


def json_value(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


# -- the rules (docs/types.md says each in prose) ----------------------------------------

Rule = Callable[[Any], Any]


def same(v: Any) -> Any:
    return v


def _nullable(rule: Rule) -> Rule:
    return lambda v: None if v is None else rule(v)


def utc_naive(v: dt.datetime) -> dt.datetime:
    return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v


def utc_aware(v: dt.datetime) -> dt.datetime:
    return v.replace(tzinfo=UTC)


def sqlite_datetime(v: dt.datetime) -> str:
    return utc_naive(v).isoformat(" ", "microseconds")


def sqlite_time(v: dt.time) -> str:
    return v.isoformat("microseconds")


def time_as_duration(v: dt.time) -> dt.timedelta:
    return dt.timedelta(
        hours=v.hour, minutes=v.minute, seconds=v.second, microseconds=v.microsecond
    )


def duration_as_time(v: dt.timedelta) -> dt.time:
    if not dt.timedelta(0) <= v < dt.timedelta(days=1):
        raise Refused(f"TIME {v} is not a time of day")
    return (dt.datetime.min + v).time()


def finite(v: float | Decimal) -> float | Decimal:
    if math.isnan(v) or math.isinf(v):
        raise Refused(f"{v} has no MariaDB form")
    return v


def scale_30(v: Decimal) -> Decimal:
    """MariaDB's widest DECIMAL, (65,30), rounds past 30 places, half away from zero."""
    finite(v)
    return v.quantize(D("1E-30"), ROUND_HALF_UP, Context(prec=100))


def mariadb_double(v: float) -> float:
    return float(finite(v)) + 0.0  # MariaDB keeps no negative zero: -0.0 + 0.0 is 0.0


def sqlite_double(v: float) -> float:
    return float(not_nan(v)) + 0.0  # SQLite stores an integral double as an integer


def not_nan(v: float | Decimal) -> float | Decimal:
    if math.isnan(v):
        raise Refused("SQLite stores NaN as NULL")
    return v


def decimal_text(v: Decimal) -> str:
    return format(v, "f") if v.is_finite() else str(v)


def float4(v: float) -> float:
    """A 4-byte float as the shortest decimal that is it (as PostgreSQL prints a real)."""
    for digits in range(6, 10):
        short = float(f"{v:.{digits}g}")
        if struct.unpack("f", struct.pack("f", short))[0] == v:
            return short
    return v


def sqlite_numeric(v: Decimal) -> int | float:
    """A decimal in SQLite's NUMERIC: an integer if it is one, else a double."""
    if v.is_nan():
        raise Refused("SQLite stores NaN as NULL")
    return int(v) if v.is_finite() and v == v.to_integral_value() else float(v)


def sqlite_number(v: int | float) -> Decimal:
    """SQLite's NUMERIC holds an int or a double: read as the exact decimal it shows."""
    return D(repr(v)) if isinstance(v, float) else D(v)


def json_of_array(v: list[Any]) -> JsonValue:
    return JsonValue(v)


def uuid_text(v: uuid.UUID) -> str:
    return str(v)


def boolean(v: int | str) -> bool:
    if v not in (0, 1):  # (SQLite's TRUE and FALSE are 1 and 0)
        raise Refused(f"{v!r} is not a boolean")
    return bool(v)


def boolean_int(v: int | str) -> int:
    return int(boolean(v))


def at_most_int64(v: int) -> int:
    if v > 2**63 - 1:
        raise Refused("SQLite integers stop at 2**63 - 1")
    return v


def at_most_40(v: str) -> str:
    if len(v) > 40:
        raise Refused("longer than VARCHAR(40)")
    return v


def scale_10(v: int | float) -> Decimal:
    """Rounded to DECIMAL(38,10)'s ten places, which SQLite does not enforce."""
    return sqlite_number(v).quantize(D("1E-10"), context=Context(prec=60))


def parse_date(v: str) -> dt.date:
    return dt.date.fromisoformat(v)


def parse_time(v: str) -> dt.time:
    return dt.time.fromisoformat(v)


def parse_datetime(v: str) -> dt.datetime:
    return utc_naive(dt.datetime.fromisoformat(v))


def sqlite_reformat_datetime(v: str) -> str:
    return sqlite_datetime(dt.datetime.fromisoformat(v))


# -- the fixtures -----------------------------------------------------------------------


ENGINES = ("pg", "mariadb", "sqlite")


@dataclass(frozen=True)
class Column:
    """One source column: its native type, the type syncbeat creates for it on each
    engine (in ENGINES' order), and the rule its values follow where not ``same``."""

    name: str
    ddl: str
    created: tuple[str, str, str]
    rules: dict[str, Rule] = field(default_factory=dict)

    def type_on(self, dst: str) -> str:
        return self.created[ENGINES.index(dst)]

    def rule(self, dst: str) -> Rule:
        return _nullable(self.rules.get(dst, same))


C = Column
# fmt: off
PG_COLUMNS = [
    C("i16", "smallint", ("smallint", "smallint(6)", "SMALLINT")),
    C("i32", "integer", ("integer", "int(11)", "INTEGER")),
    C("i64", "bigint", ("bigint", "bigint(20)", "BIGINT")),
    C("d38", "numeric(38,10)",
      ("numeric(38,10)", "decimal(38,10)", "TEXT"),
      {"mariadb": finite, "sqlite": decimal_text}),
    C("d12", "numeric(12,2)", ("numeric(12,2)", "decimal(12,2)", "NUMERIC(12, 2)"),
      {"mariadb": finite, "sqlite": sqlite_numeric}),
    C("dnum", "numeric", ("numeric", "decimal(65,30)", "TEXT"),
      {"mariadb": scale_30, "sqlite": decimal_text}),
    C("f32", "real", ("real", "double", "FLOAT"),
      {"mariadb": mariadb_double, "sqlite": sqlite_double}),
    C("f64", "double precision",
      ("double precision", "double", "DOUBLE"),
      {"mariadb": mariadb_double, "sqlite": sqlite_double}),
    C("txt", "text", ("text", "longtext", "TEXT")),
    C("vch", "varchar(40)",
      ("character varying(40)", "varchar(40)", "VARCHAR(40)")),
    C("bin", "bytea", ("bytea", "longblob", "BLOB")),
    C("flag", "boolean", ("boolean", "tinyint(1)", "BOOLEAN"),
      {"mariadb": int, "sqlite": int}),
    C("day", "date", ("date", "date", "DATE"),
      {"sqlite": dt.date.isoformat}),
    C("tod", "time", ("time without time zone", "time(6)", "TIME"),
      {"mariadb": time_as_duration, "sqlite": sqlite_time}),
    C("ts", "timestamp",
      ("timestamp without time zone", "datetime(6)", "DATETIME"),
      {"sqlite": sqlite_datetime}),
    C("tstz", "timestamptz",
      ("timestamp with time zone", "datetime(6)", "DATETIME"),
      {"mariadb": utc_naive, "sqlite": sqlite_datetime}),
    C("js", "json", ("json", "json", "JSON")),
    C("jsb", "jsonb", ("jsonb", "json", "JSON")),
    C("uid", "uuid", ("uuid", "char(36)", "CHAR(36)"),
      {"mariadb": uuid_text, "sqlite": uuid_text}),
    C("mood", "mood", ("mood", "varchar(9)", "VARCHAR(9)")),
    C("ints", "integer[]", ("integer[]", "json", "JSON"),
      {"mariadb": json_of_array, "sqlite": json_of_array}),
    C("texts", "text[]", ("text[]", "json", "JSON"),
      {"mariadb": json_of_array, "sqlite": json_of_array}),
]

MARIADB_COLUMNS = [
    C("i8", "TINYINT", ("smallint", "tinyint(4)", "SMALLINT")),
    C("u8", "TINYINT UNSIGNED",
      ("smallint", "tinyint(3) unsigned", "SMALLINT")),
    C("i16", "SMALLINT", ("smallint", "smallint(6)", "SMALLINT")),
    C("u16", "SMALLINT UNSIGNED",
      ("integer", "smallint(5) unsigned", "INTEGER")),
    C("i24", "MEDIUMINT", ("integer", "mediumint(9)", "INTEGER")),
    C("u24", "MEDIUMINT UNSIGNED",
      ("integer", "mediumint(8) unsigned", "INTEGER")),
    C("i32", "INT", ("integer", "int(11)", "INTEGER")),
    C("u32", "INT UNSIGNED",
      ("bigint", "int(10) unsigned", "BIGINT")),
    C("i64", "BIGINT", ("bigint", "bigint(20)", "BIGINT")),
    C("u64", "BIGINT UNSIGNED",
      ("numeric(20,0)", "bigint(20) unsigned", "BIGINT"),
      {"pg": D, "sqlite": at_most_int64}),
    C("d38", "DECIMAL(38,10)",
      ("numeric(38,10)", "decimal(38,10)", "TEXT"),
      {"sqlite": decimal_text}),
    C("f32", "FLOAT", ("double precision", "float", "FLOAT"),
      {"pg": float4, "sqlite": float4}),
    C("f64", "DOUBLE", ("double precision", "double", "DOUBLE")),
    C("txt", "TEXT", ("text", "text", "TEXT")),
    C("vch", "VARCHAR(40)",
      ("character varying(40)", "varchar(40)", "VARCHAR(40)")),
    C("bin", "BLOB", ("bytea", "blob", "BLOB")),
    C("vbin", "VARBINARY(16)", ("bytea", "varbinary(16)", "BLOB")),
    C("flag", "BOOLEAN", ("boolean", "tinyint(1)", "BOOLEAN"),
      {"pg": boolean, "sqlite": boolean_int}),
    C("day", "DATE", ("date", "date", "DATE"),
      {"sqlite": dt.date.isoformat}),
    C("tod", "TIME(6)", ("time without time zone", "time(6)", "TIME"),
      {"pg": duration_as_time, "sqlite": lambda v: sqlite_time(duration_as_time(v))}),
    C("ts", "DATETIME(6)",
      ("timestamp without time zone", "datetime(6)", "DATETIME"),
      {"sqlite": sqlite_datetime}),
    C("tsz", "TIMESTAMP(6) NULL",
      ("timestamp with time zone", "timestamp(6)", "DATETIME"),
      {"pg": utc_aware, "sqlite": sqlite_datetime}),
    C("js", "JSON", ("json", "json", "JSON")),
    C("uid", "UUID", ("uuid", "uuid", "CHAR(36)"),
      {"pg": uuid.UUID}),
    C("mood", "ENUM('happy','sad','ünïcödé ✓')",
      ("character varying(9)", "enum('happy','sad','ünïcödé ✓')", "VARCHAR(9)")),
    C("tags", "SET('a','b','c')",
      ("character varying(5)", "set('a','b','c')", "VARCHAR(5)")),
]

SQLITE_COLUMNS = [
    C("i64", "INTEGER", ("bigint", "bigint(20)", "INTEGER")),
    C("num", "NUMERIC", ("numeric", "decimal(65,30)", "NUMERIC"),
      {"pg": sqlite_number, "mariadb": sqlite_number}),
    C("d38", "DECIMAL(38,10)",
      ("numeric(38,10)", "decimal(38,10)", "DECIMAL(38, 10)"),
      {"pg": scale_10, "mariadb": scale_10}),
    C("f64", "REAL", ("double precision", "double", "REAL"),
      {"mariadb": mariadb_double}),
    C("txt", "TEXT", ("text", "longtext", "TEXT")),
    C("vch", "VARCHAR(40)",
      ("character varying(40)", "varchar(40)", "VARCHAR(40)"),
      {"pg": at_most_40, "mariadb": at_most_40}),
    C("bin", "BLOB", ("bytea", "longblob", "BLOB")),
    C("flag", "BOOLEAN", ("boolean", "tinyint(1)", "BOOLEAN"),
      {"pg": boolean, "mariadb": boolean_int}),
    C("day", "DATE", ("date", "date", "DATE"),
      {"pg": parse_date, "mariadb": parse_date}),
    C("tod", "TIME", ("time without time zone", "time(6)", "TIME"),
      {"pg": parse_time, "mariadb": lambda v: time_as_duration(parse_time(v)),
       "sqlite": lambda v: sqlite_time(parse_time(v))}),
    C("ts", "DATETIME",
      ("timestamp without time zone", "datetime(6)", "DATETIME"),
      {"pg": parse_datetime, "mariadb": parse_datetime, "sqlite": sqlite_reformat_datetime}),
    C("js", "JSON", ("json", "json", "JSON")),
]

# fmt: on
COLUMNS = {"pg": PG_COLUMNS, "mariadb": MARIADB_COLUMNS, "sqlite": SQLITE_COLUMNS}

TEXT = "naïve e\u0301 😀 𝄞 日本語 \t tab \n line \\N back\\slash 'q' \"dq\" \r"
BYTES = b"\x00\x01\t\n\\N\xff\x00 end\x00"
JSON_DOC = (
    '{"b": [1, 2.50, {"c": "ü 😀 \\u00e9"}], "a": 12345678901234567890.123456789012345678901, '
    '"tiny": 1E-30, "n": null, "t": true}'
)
AWARE = dt.datetime(
    2024, 3, 31, 1, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))
)
MAX_DEC = D("9999999999999999999999999999.9999999999")
MIN_DEC = D("-9999999999999999999999999999.9999999999")  # not -MAX_DEC: 28-digit context

# Row ids: 1 lower bounds, 2 upper bounds, 3 ordinary values, 4 NULL everywhere, 5 empty
# and zero values; 6 and up: values some destinations cannot hold (see Refused).
# fmt: off
PG_ROWS: dict[int, dict[str, Any]] = {
    1: dict(i16=-(2**15), i32=-(2**31), i64=-(2**63), d38=MIN_DEC, d12=D("-9999999999.99"),
            dnum=D("-12345678901234567890123456789012345.123456789"), f32=-3.4028234663852886e38,
            f64=-1.7976931348623157e308, txt="a", vch="b", bin=b"\x00", flag=False,
            day=dt.date(1, 1, 1), tod=dt.time(0, 0), ts=dt.datetime(1, 1, 1),
            tstz=dt.datetime(1, 1, 1, tzinfo=UTC), js="{}", jsb="[]", uid=uuid.UUID(int=0),
            mood="happy", ints=[-(2**31)], texts=[""]),
    2: dict(i16=2**15 - 1, i32=2**31 - 1, i64=2**63 - 1, d38=MAX_DEC, d12=D("9999999999.99"),
            dnum=D("0.000000000000000000000000000001"), f32=3.4028234663852886e38,
            f64=1.7976931348623157e308, txt="z" * 5000, vch="😀" * 40, bin=bytes(range(256)),
            flag=True, day=dt.date(9999, 12, 31), tod=dt.time(23, 59, 59, 999999),
            ts=dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
            tstz=dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            js='[1, "two", 3.0]', jsb='{"k": [1, 2]}', uid=uuid.UUID(int=2**128 - 1),
            mood="ünïcödé 😀", ints=[2**31 - 1, None], texts=[None]),
    3: dict(i16=7, i32=-7, i64=1234567890123, d38=D("0.0000000001"), d12=D("0.01"),
            dnum=D("3.14159265358979323846264338327950288"), f32=3.14,
            f64=0.30000000000000004, txt=TEXT, vch="e\u0301 😀 日本", bin=BYTES, flag=True,
            day=dt.date(2024, 2, 29), tod=dt.time(12, 34, 56, 789012),
            ts=dt.datetime(2024, 2, 29, 12, 34, 56, 789012), tstz=AWARE, js=JSON_DOC,
            jsb=JSON_DOC, uid=uuid.UUID("123e4567-e89b-12d3-a456-426614174000"), mood="sad",
            ints=[-1, 0, 1], texts=["a", "ü😀", "", "NULL", "with,comma", 'quote"']),
    4: {},
    5: dict(i16=0, i32=0, i64=0, d38=D(0), d12=D("5.00"), dnum=D(0), f32=-0.0, f64=-0.0,
            txt="", vch="", bin=b"",
            flag=False, day=dt.date(1970, 1, 1), tod=dt.time(0, 0), ts=dt.datetime(1970, 1, 1),
            tstz=dt.datetime(1970, 1, 1, tzinfo=UTC), js='""', jsb="null",
            uid=uuid.UUID(int=1), mood="happy", ints=[], texts=[]),
    6: dict(d38=D("NaN"), d12=D("NaN"), dnum=D("NaN"), f32=math.nan, f64=math.nan),
    7: dict(f32=math.inf, f64=math.inf, dnum=D("Infinity")),
    8: dict(f32=-math.inf, f64=-math.inf),
    9: dict(f32=1e-45, f64=5e-324),
}

MARIADB_ROWS: dict[int, dict[str, Any]] = {
    1: dict(i8=-128, u8=0, i16=-(2**15), u16=0, i24=-(2**23), u24=0, i32=-(2**31), u32=0,
            i64=-(2**63), u64=0, d38=MIN_DEC, f32=-3.40282e38, f64=-1.7976931348623157e308,
            txt="a", vch="b", bin=b"\x00", vbin=b"\x00", flag=0, day="0001-01-01",
            tod="00:00:00", ts="0001-01-01 00:00:00", tsz="1970-01-01 00:00:01", js="{}",
            uid="00000000-0000-0000-0000-000000000000", mood="happy", tags=""),
    2: dict(i8=127, u8=255, i16=2**15 - 1, u16=2**16 - 1, i24=2**23 - 1, u24=2**24 - 1,
            i32=2**31 - 1, u32=2**32 - 1, i64=2**63 - 1, u64=2**63 - 1, d38=MAX_DEC,
            f32=3.40282e38, f64=1.7976931348623157e308, txt="z" * 5000, vch="😀" * 40,
            bin=bytes(range(256)), vbin=b"\xff" * 16, flag=1, day="9999-12-31",
            tod="23:59:59.999999", ts="9999-12-31 23:59:59.999999",
            tsz="2038-01-19 03:14:07.999999", js='[1, "two", 3.0]',
            uid="ffffffff-ffff-ffff-ffff-ffffffffffff", mood="ünïcödé ✓", tags="a,b,c"),
    3: dict(i8=7, u8=7, i16=7, u16=7, i24=7, u24=7, i32=-7, u32=7, i64=1234567890123, u64=7,
            d38=D("0.0000000001"), f32=123456789.0, f64=0.30000000000000004, txt=TEXT,
            vch="e\u0301 😀 日本", bin=BYTES, vbin=b"\x00\\\t\n", flag=1, day="2024-02-29",
            tod="12:34:56.789012", ts="2024-02-29 12:34:56.789012",
            tsz="2024-03-31 01:30:00.123456", js=JSON_DOC,
            uid="123e4567-e89b-12d3-a456-426614174000", mood="sad", tags="c,a"),
    4: {},
    5: dict(i8=0, u8=0, i16=0, u16=0, i24=0, u24=0, i32=0, u32=0, i64=0, u64=0, d38=D(0),
            f32=-0.0, f64=-0.0, txt="", vch="", bin=b"", vbin=b"", flag=0, day="1970-01-01",
            tod="00:00:00", ts="1970-01-01 00:00:00", tsz="1970-01-01 00:00:01", js='""',
            uid="00000000-0000-0000-0000-000000000001", mood="happy", tags=""),
    6: dict(tod="-00:00:01.5", flag=2),
    7: dict(tod="838:59:59"),
    8: dict(u64=2**64 - 1),
    9: dict(f32=1e-38, f64=5e-324),
}

SQLITE_ROWS: dict[int, dict[str, Any]] = {
    1: dict(i64=-(2**63), num=-(2**63), d38="-12345678901234.5", f64=-1.7976931348623157e308,
            txt="a", vch="b", bin=b"\x00", flag=0, day="0001-01-01", tod="00:00:00",
            ts="0001-01-01 00:00:00", js="{}"),
    2: dict(i64=2**63 - 1, num=2**63 - 1, d38="12345678901234567890.0123456789",
            f64=1.7976931348623157e308, txt="z" * 5000, vch="😀" * 40, bin=bytes(range(256)),
            flag=1, day="9999-12-31", tod="23:59:59.999999", ts="9999-12-31 23:59:59.999999",
            js='[1, "two", 3.0]'),
    3: dict(i64=1234567890123, num="0.000000000000001", d38="0.1", f64=0.30000000000000004,
            txt=TEXT, vch="e\u0301 😀 日本", bin=BYTES, flag=1, day="2024-02-29",
            tod="12:34:56.789", ts="2024-02-29T12:34:56.789+02:00", js=JSON_DOC),
    4: {},
    5: dict(i64=0, num=0, d38=0, f64=-0.0, txt="", vch="", bin=b"", flag=0, day="1970-01-01",
            tod="00:00:00", ts="1970-01-01 00:00:00", js='""'),
    6: dict(f64=math.inf),
    7: dict(f64=-math.inf, flag="false"),
    8: dict(vch="x" * 41),
    9: dict(f64=5e-324, num=math.nan, d38=0.123456789012345),  # NaN: SQLite stores NULL
}

# fmt: on
ROWS = {"pg": PG_ROWS, "mariadb": MARIADB_ROWS, "sqlite": SQLITE_ROWS}
