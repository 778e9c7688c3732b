"""Upsert beside other unique indexes: a source row whose value another destination row
already holds in a unique index that is not the key's.

PostgreSQL and SQLite raise a unique violation for it, which is turned into an error
that names the index. MySQL/MariaDB's ``ON DUPLICATE KEY UPDATE`` would instead update
the *other* row (the one that holds the value), so on MySQL/MariaDB each batch is
checked in its staging table before it is merged, and a collision fails the batch the
same way: no row is ever overwritten or deleted for a row with another key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from syncbeat.vocabulary.errors import DestinationError

_PG_UNIQUE_VIOLATION = "23505"
_HINT = (
    "Make those values unique in the source, change or delete the other row in the "
    "destination, or drop that unique index; the job keeps its checkpoint, so run it "
    "again afterwards."
)


@dataclass(frozen=True)
class UniqueIndex:
    name: str
    columns: tuple[str, ...]
    # MySQL/MariaDB: how many leading characters (bytes, for binary) of each column the
    # index holds; UNIQUE (u(10)) holds two values with the same first 10 equal.
    prefixes: tuple[int | None, ...] = ()

    @property
    def shown(self) -> str:
        prefixes = self.prefixes or (None,) * len(self.columns)
        parts = (f"{c}({n})" if n else c for c, n in zip(self.columns, prefixes, strict=True))
        return ", ".join(parts)

    def part(self, alias: str, column: str, quote: Callable[[str], str]) -> str:
        """The column as the index compares it, for a row of ``alias``."""
        at = self.columns.index(column)
        prefix = self.prefixes[at] if self.prefixes else None
        expression = f"{alias}{quote(column)}"
        return f"LEFT({expression}, {int(prefix)})" if prefix else expression


def _prefixes(index: Any) -> tuple[int | None, ...]:
    options = index.get("dialect_options", {})
    lengths = options.get("mysql_length") or options.get("mariadb_length") or {}
    if isinstance(lengths, int):
        lengths = {index["column_names"][0]: lengths}
    found = tuple(lengths.get(c) for c in index["column_names"])
    return found if any(found) else ()


def secondary_unique_indexes(
    inspector: Any,
    table: sa.Table,
    schema: str | None,
    key: Sequence[str],
    source_columns: Sequence[str],
) -> list[UniqueIndex]:
    """The destination's unique indexes other than the key's, which a MySQL/MariaDB
    upsert must check each batch against. One over a column the source lacks cannot be
    checked (the value a new row gets there is the column's default), so it is refused
    here, before the first batch; an AUTO_INCREMENT column never collides."""
    found: dict[tuple[tuple[str, ...], tuple[int | None, ...]], str] = {}
    primary = tuple(table.primary_key.columns.keys())
    if primary:
        found[primary, ()] = "PRIMARY"
    for index in inspector.get_indexes(table.name, schema=schema):
        if index["unique"]:
            found.setdefault((tuple(index["column_names"]), _prefixes(index)), index["name"])
    for constraint in inspector.get_unique_constraints(table.name, schema=schema):
        if not constraint.get("duplicates_index"):  # MySQL: an index, listed above
            found.setdefault((tuple(constraint["column_names"]), ()), constraint["name"])
    generated = {c.name for c in table.columns if c.autoincrement is True}
    checked = []
    for (columns, prefixes), name in found.items():
        if set(columns) == set(key) and not prefixes:
            continue  # the key's own index: the merge's ON DUPLICATE KEY
        missing = [c for c in columns if c not in source_columns]
        if missing and set(missing) <= generated:
            continue
        if missing:
            raise DestinationError(
                f"Upsert into {table.name!r} cannot be done in place: its unique index "
                f"{name!r} covers the column(s) {', '.join(missing)}, which the source "
                "does not have, so a new row could take another row's place.",
                hint="Drop that unique index, add the column(s) to the source (a --query), "
                "or use --mode append or --mode replace.",
            )
        checked.append(UniqueIndex(name, columns, prefixes))
    return checked


def mysql_check(
    cur: Any,
    stage: str,
    target: str,
    table_name: str,
    key: Sequence[str],
    indexes: Sequence[UniqueIndex],
    quote: Callable[[str], str],
) -> None:
    """Fail the batch if a staged row holds another row's value in a secondary unique
    index: another staged row's (within the batch), or a destination row's with another
    key. NULLs never collide, as in the index itself; the comparisons are the server's,
    with the columns' collations, as the index's are."""
    for index in indexes:
        cols = ", ".join(index.part("", c, quote) for c in index.columns)
        not_null = " AND ".join(f"{quote(c)} IS NOT NULL" for c in index.columns)
        cur.execute(
            f"SELECT {cols} FROM {stage} WHERE {not_null} GROUP BY {cols} "  # noqa: S608 (quoted identifiers from the reflected tables, values bound)
            "HAVING COUNT(*) > 1 LIMIT 1"
        )
        twice = cur.fetchone()
        if twice is not None:
            raise _collision(table_name, index, twice, "two rows of this batch")
        same = " AND ".join(
            f"{index.part('t.', c, quote)} = {index.part('s.', c, quote)}" for c in index.columns
        )
        same_key = " AND ".join(f"t.{quote(k)} <=> s.{quote(k)}" for k in key)
        keys = ", ".join(f"s.{quote(k)}" for k in key)
        cur.execute(
            f"SELECT {keys} FROM {stage} s JOIN {target} t ON {same} WHERE NOT ({same_key}) LIMIT 1"  # noqa: S608 (quoted identifiers from the reflected tables, values bound)
        )
        clash = cur.fetchone()
        if clash is not None:
            at = ", ".join(f"{k}={v!r}" for k, v in zip(key, clash, strict=True))
            raise _collision(table_name, index, None, f"the source row {at} and another row")


def _collision(
    table_name: str, index: UniqueIndex, values: Sequence[Any] | None, who: str
) -> DestinationError:
    shown = "" if values is None else f" ({', '.join(repr(v) for v in values)})"
    return DestinationError(
        f"Upsert into {table_name!r} stopped: {who} hold the same value{shown} in the "
        f"unique index {index.name!r} on ({index.shown}). Updating in place "
        "would overwrite the other row, so nothing of this batch was written.",
        hint=_HINT,
    )


def from_violation(exc: BaseException, table_name: str) -> DestinationError | None:
    """The error for a unique violation raised by an upsert (PostgreSQL's ON CONFLICT
    on the key meets another unique index; SQLite's likewise), or None if ``exc`` is
    something else."""
    orig = getattr(exc, "orig", exc)
    text = (str(orig).strip().splitlines() or [""])[0]
    diag = getattr(orig, "diag", None)
    if getattr(orig, "sqlstate", None) == _PG_UNIQUE_VIOLATION:
        name = getattr(diag, "constraint_name", None) or "?"
        detail = getattr(diag, "message_detail", None) or text
    elif "UNIQUE constraint failed" in text:  # SQLite names the columns, not the index
        name, detail = text.partition(": ")[2], text
    else:
        return None
    return DestinationError(
        f"Upsert into {table_name!r} stopped: a source row holds another destination "
        f"row's value in the unique index {name!r} ({detail}). Updating in place would "
        "need to overwrite that other row, so nothing of this batch was written.",
        hint=_HINT,
    )
