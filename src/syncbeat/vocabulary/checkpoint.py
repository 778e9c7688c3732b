"""The checkpoint: where a job stands after its last committed batch.

Keys are tuples of database values (ints, strings, decimals, floats, timestamps,
durations, UUIDs, bytes); they travel through JSON with a type tag, so a resumed job
compares exactly the value it stopped at, not a string that looks like it (a float as
the shortest text that is the same double, so every bit survives).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from syncbeat.vocabulary.errors import KeyColumnError

Key = tuple[Any, ...]


def encode_value(value: Any) -> Any:
    """A JSON-safe form of one key value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"time": value.isoformat()}
    if isinstance(value, dt.timedelta):  # a MariaDB TIME: a duration, maybe negative
        return {"duration": str(value // dt.timedelta(microseconds=1))}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": base64.b64encode(bytes(value)).decode()}
    raise KeyColumnError(
        f"A key value of type {type(value).__name__} ({value!r}) cannot be kept in a "
        "checkpoint: syncbeat pages on numbers, text, dates and times, UUIDs and bytes.",
        hint="Give --key columns of one of those types, or select the key as text in a "
        "--query (PostgreSQL: k::text AS k), if its text sorts and compares as you need.",
    )


_DECODERS: dict[str, Any] = {
    "float": float,
    "decimal": Decimal,
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "duration": lambda micros: dt.timedelta(microseconds=int(micros)),
    "uuid": uuid.UUID,
    "bytes": base64.b64decode,
}


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        ((tag, text),) = value.items()
        return _DECODERS[tag](text)
    return value


def encode_key(key: Key | None) -> list[Any] | None:
    return None if key is None else [encode_value(v) for v in key]


def decode_key(data: list[Any] | None) -> Key | None:
    return None if data is None else tuple(decode_value(v) for v in data)


@dataclass(frozen=True)
class Checkpoint:
    """The position after the last committed batch.

    ``last_key`` is the key of the last row written (keyset paging) or, for a source
    with no key, the number of rows read (OFFSET paging). ``None`` means nothing yet.
    """

    last_key: Key | None = None
    batch_index: int = 0
    rows_done: int = 0
    batch_retries: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        return self.batch_index > 0

    def advance(self, last_key: Key, rows: int, retries: int) -> Checkpoint:
        return Checkpoint(last_key, self.batch_index + 1, self.rows_done + rows, retries)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_key"] = encode_key(self.last_key)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Checkpoint:
        if not data:
            return cls()
        return cls(
            last_key=decode_key(data.get("last_key")),
            batch_index=int(data.get("batch_index", 0)),
            rows_done=int(data.get("rows_done", 0)),
            batch_retries=int(data.get("batch_retries", 0)),
            extra=dict(data.get("extra") or {}),
        )

    def describe(self) -> str:
        if not self.started:
            return "the start"
        return f"batch {self.batch_index}, row {self.rows_done:,}, after key {self.last_key!r}"
