"""Canonical texts: for every directed pair of PostgreSQL, MariaDB and SQLite, the type
matrix's table synced by syncbeat gives, column by column and row by row, the same
``canonical.text_of`` in the source's database as in the destination's; and a value
changed in the destination (by one, by a microsecond, one character, a flipped boolean,
NULL for a value, '' for NULL) changes that one text and no other.

The table, its values and the pairs are the type-fidelity test's (``type_matrix``);
the rows a pair refuses are left out of the source, as that test leaves them out
after checking the refusal. The texts are computed by the databases themselves, in
sessions opened as syncbeat opens them (UTC), with canonical's SQLite functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from syncbeat import Syncbeat
from syncbeat.connectors import canonical, engines, typemap
from syncbeat.connectors.canonical import sqlite
from tests.integration.test_type_fidelity import (
    PAIRS,
    URL_FIXTURES,
    expected_refusals,
    make_source,
    read_raw,
    sync,
)
from tests.integration.type_matrix import BYTES
from tests.support.sql import execute

Texts = dict[int, dict[str, str | None]]


@dataclass(frozen=True)
class Copy:
    """The matrix table ``types`` synced from ``src`` into ``copy_types`` of ``dst``."""

    src: str
    dst: str
    src_url: str
    dst_url: str
    store_url: str


@pytest.fixture
def copy(request: pytest.FixtureRequest, store_url: str) -> Copy:
    src, dst = request.param
    src_url = request.getfixturevalue(URL_FIXTURES[src][0])
    dst_url = request.getfixturevalue(URL_FIXTURES[dst][1 if dst == src else 0])
    make_source(src_url, "types")
    refused = sorted({r[0] for r in expected_refusals(src, dst, read_raw(src_url, "types"))})
    if refused:
        execute(src_url, f"DELETE FROM types WHERE id IN ({', '.join(map(str, refused))})")
    done = sync(store_url, src_url, dst_url, "types")
    assert done.status == "completed", done.message
    return Copy(src, dst, src_url, dst_url, store_url)


def _open(url: str) -> sa.Engine:
    engine = engines.create_engine(url, poolclass=sa.pool.NullPool)
    typemap.exact_sessions(engine, writes=False)  # as verify opens it: UTC
    canonical.install(engine)
    return engine


def texts(url: str, table: str, other_url: str, other_table: str) -> Texts:
    """Every row's key and the canonical text of each column, computed by the database
    at ``url``; the column's type at ``other_url`` is its ``other``."""
    engine, other = _open(url), _open(other_url)
    try:
        with other.connect() as conn:
            theirs = typemap.reflect(conn, other_table)
        with engine.connect() as conn:
            mine = typemap.reflect(conn, table)
            columns = [c for c in mine.columns if c.name != "id"]
            assert {c.name for c in columns} == {c.name for c in theirs.columns} - {"id"}
            exprs = [
                canonical.text_of(
                    c,
                    c.type,
                    engine.dialect.name,
                    other=theirs.c[c.name].type,
                    other_dialect=other.dialect.name,
                ).label(c.name)
                for c in columns
            ]
            rows = conn.execute(sa.select(mine.c.id, *exprs).order_by(mine.c.id)).mappings()
            return {row["id"]: {c.name: row[c.name] for c in columns} for row in rows}
    finally:
        engine.dispose()
        other.dispose()


def differences(copy: Copy, source: Texts, dest: Texts) -> set[tuple[int, str]]:
    assert sorted(source) == sorted(dest), (copy.src, copy.dst)
    return {
        (key, column)
        for key, row in source.items()
        for column, text in row.items()
        if dest[key][column] != text
    }


def _short(text: str | None) -> str:
    return repr(text) if text is None or len(text) <= 120 else repr(text[:117] + "...")


def report(copy: Copy, cells: set[tuple[int, str]], source: Texts, dest: Texts) -> str:
    return "\n".join(
        f"{copy.src}-to-{copy.dst} column {column!r} key id={key}:"
        f" source {_short(source[key][column])} destination {_short(dest[key][column])}"
        for key, column in sorted(cells)
    )


def both_texts(copy: Copy) -> tuple[Texts, Texts]:
    source = texts(copy.src_url, "types", copy.dst_url, "copy_types")
    dest = texts(copy.dst_url, "copy_types", copy.src_url, "types")
    return source, dest


# Some of row 3's texts, as docs/types.md writes them, whatever the pair: equal texts
# alone would also be two databases printing a value alike by chance.
ROW_3 = {
    "pg": {"d12": "0.01", "f32": "3.14", "f64": "0.30000000000000004", "flag": "1",
           "bin": BYTES.hex(), "tod": "12:34:56.789012", "tstz": "2024-03-30 19:45:00.123456",
           "ints": "[-1, 0, 1]"},
    "mariadb": {"f32": "123456790", "flag": "1", "vbin": "005c090a", "tod": "12:34:56.789012",
                "tsz": "2024-03-31 01:30:00.123456", "tags": "a,c"},
    "sqlite": {"num": "0.000000000000001", "flag": "1", "tod": "12:34:56.789000",
               "ts": "2024-02-29 10:34:56.789000"},
}  # fmt: skip


@pytest.mark.parametrize("copy", PAIRS, indirect=True)
def test_a_synced_value_has_the_same_text_on_both_sides(copy: Copy) -> None:
    source, dest = both_texts(copy)
    assert len(source) >= 5  # rows 1 to 5 hold a value of every family, or NULL
    expected = ROW_3[copy.src]
    assert {c: source[3][c] for c in expected} == expected
    wrong = differences(copy, source, dest)
    assert not wrong, "texts differ (pair, column, key, both texts):\n" + report(
        copy, wrong, source, dest
    )


# -- one value changed in the destination -------------------------------------------------

# A change per family, by the destination's kind ({c}: the column). Each keeps the
# type and changes the value as little as SQL easily does.
PLUS_ONE = {"pg": "{c} + 1", "mariadb": "{c} + 1", "sqlite": "{c} + 1"}
NEXT_MICROSECOND = {
    "pg": "{c} + interval '1 microsecond'",
    "mariadb": "{c} + INTERVAL 1 MICROSECOND",
    "sqlite": "'2024-02-29 12:34:56.789013'",
}
ONE_CHAR = {
    "pg": "'X' || substr({c}, 2)",
    "mariadb": "CONCAT('X', SUBSTRING({c}, 2))",
    "sqlite": "'X' || substr({c}, 2)",
}


def everywhere(value: str) -> dict[str, str]:
    return {"pg": value, "mariadb": value, "sqlite": value}


FAMILY_CHANGES: dict[str, dict[str, str]] = {
    "integer": PLUS_ONE,
    "decimal": PLUS_ONE,
    "float": everywhere("{c} * 2"),  # + 1 is lost in a FLOAT of 123456792
    "text": ONE_CHAR,
    "binary": {"pg": "decode('0102', 'hex')", "mariadb": "X'0102'", "sqlite": "X'0102'"},
    "boolean": {"pg": "NOT {c}", "mariadb": "1 - {c}", "sqlite": "1 - {c}"},
    "date": {"pg": "{c} + 1", "mariadb": "{c} + INTERVAL 1 DAY", "sqlite": "date({c}, '+1 day')"},
    "time": {
        "pg": "{c} + interval '1 microsecond'",
        "mariadb": "ADDTIME({c}, '00:00:00.000001')",
        "sqlite": "'12:34:56.789013'",
    },
    "timestamp": NEXT_MICROSECOND,
    "instant": everywhere("NULL"),  # NULL instead of a value
    "json": everywhere("'[1]'"),
    "uuid": everywhere("'123e4567-e89b-12d3-a456-426614174001'"),
    "label": everywhere("'happy'"),
    "members": everywhere("'a'"),
    "ints": {"pg": "'{1}'", "mariadb": "'[1]'", "sqlite": "'[1]'"},
    "texts": {"pg": "'{a}'", "mariadb": "'[\"a\"]'", "sqlite": "'[\"a\"]'"},
}
# The family of each matrix column, by its name (the same name in every source).
FAMILY_OF = {
    **dict.fromkeys(["i8", "u8", "i16", "u16", "i24", "u24", "i32", "u32", "i64", "u64"],
                    "integer"),
    **dict.fromkeys(["d38", "d12", "dnum", "num"], "decimal"),
    **dict.fromkeys(["f32", "f64"], "float"),
    **dict.fromkeys(["txt", "vch"], "text"),
    **dict.fromkeys(["bin", "vbin"], "binary"),
    "flag": "boolean", "day": "date", "tod": "time", "ts": "timestamp", "tstz": "instant",
    "tsz": "instant", "js": "json", "jsb": "json", "uid": "uuid", "mood": "label",
    "tags": "members", "ints": "ints", "texts": "texts",
}  # fmt: skip
CHANGED_ROW = 3  # ordinary values, none of them NULL, in every source


def change_one_value_each(copy: Copy, columns: list[str]) -> set[tuple[int, str]]:
    """Change, in the destination, row 3's value of every column, and the text column
    twice more: NULL instead of row 2's value, '' instead of row 4's NULL. The cells
    changed."""
    statements = [
        f"UPDATE copy_types SET {name} = "
        + FAMILY_CHANGES[FAMILY_OF[name]][copy.dst].replace("{c}", name)
        + f" WHERE id = {CHANGED_ROW}"
        for name in columns
    ]
    statements += [
        "UPDATE copy_types SET txt = NULL WHERE id = 2",
        "UPDATE copy_types SET txt = '' WHERE id = 4",
    ]
    execute(copy.dst_url, *statements)
    return {(CHANGED_ROW, name) for name in columns} | {(2, "txt"), (4, "txt")}


@pytest.mark.parametrize("copy", PAIRS, indirect=True)
def test_a_changed_value_changes_its_text_only(copy: Copy) -> None:
    source, before = both_texts(copy)
    assert not differences(copy, source, before), report(
        copy, differences(copy, source, before), source, before
    )
    sb = Syncbeat(copy.store_url)
    try:
        # Through verify's checksums too: the copy is equal (every conversion on purpose
        # compares equal), and then each changed cell is found, by row and column.
        before_report = sb.verify("types-types")
        assert before_report.equal, before_report.to_json()
        changed = change_one_value_each(copy, list(source[CHANGED_ROW]))
        after_report = sb.verify("types-types")
    finally:
        sb.close()
    _, after = both_texts(copy)
    found = differences(copy, source, after)
    missed, extra = changed - found, found - changed
    assert not missed, "a change the texts do not show:\n" + report(copy, missed, source, after)
    assert not extra, "texts that changed with no change:\n" + report(copy, extra, source, after)
    assert after_report.changed.keys == [2, 3, 4], after_report.to_json()
    assert (after_report.missing.count, after_report.extra.count) == (0, 0)
    assert after_report.changed_columns == {name: 1 for _, name in changed} | {"txt": 3}


def test_sqlite_functions_keep_null_apart_from_empty_text(sqlite_url: str) -> None:
    """NULL stays NULL and '' stays '' through every registered SQLite function."""
    engine = _open(sqlite_url)
    try:
        with engine.connect() as conn:
            for name, (arity, _) in sqlite.SQLITE_FUNCTIONS.items():
                extra = ", NULL, 0" if arity == 3 else ""
                row = conn.exec_driver_sql(f"SELECT {name}(NULL{extra}), {name}(''{extra})").one()
                assert tuple(row) == (None, ""), name
    finally:
        engine.dispose()


def test_an_array_json_cannot_match_is_refused_by_name() -> None:
    from sqlalchemy.dialects import postgresql

    from syncbeat.vocabulary.errors import ConfigError

    with pytest.raises(ConfigError) as refused:
        canonical.text_of(
            sa.column("xs"),
            postgresql.ARRAY(sa.Double()),
            "postgresql",
            other=sa.JSON(),
            other_dialect="sqlite",
        )
    assert "DOUBLE" in str(refused.value) and "sqlite" in str(refused.value)
    assert refused.value.hint
