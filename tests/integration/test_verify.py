"""Verify between every directed pair of PostgreSQL, MariaDB and SQLite: a synced table
is equal, and damage placed at the first, the last and a middle key, in a composite-key
table whose columns are mostly NULL, is found as exactly what it is: missing, extra or
changed (with the column). Ranges are kept small here (segments of 300 rows, leaves of
8) so that every difference is bisected through several levels, as in a large table.
"""

from __future__ import annotations

from typing import Any

import pytest

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.engine.sides import open_sides
from syncbeat.engine.verify import Report, Verifier
from tests.integration.test_type_fidelity import PAIRS, _kind
from tests.support import sql

ROWS = 1200
GROUPS = ("A", "a", "b")  # text key values whose order is the same by code point everywhere


DDL = {
    "pg": "CREATE TABLE t (grp varchar(8), id integer, name varchar(40), amount numeric(12,2),"
    " note text, seen timestamp, flag boolean, PRIMARY KEY (grp, id))",
    "mariadb": "CREATE TABLE t (grp varchar(8) COLLATE utf8mb4_nopad_bin, id int,"
    " name varchar(40), amount decimal(12,2), note text, seen datetime(6), flag boolean,"
    " PRIMARY KEY (grp, id)) DEFAULT CHARSET utf8mb4",
    "sqlite": "CREATE TABLE t (grp varchar(8), id integer, name varchar(40),"
    " amount numeric(12,2), note text, seen datetime, flag boolean, PRIMARY KEY (grp, id))",
}


def make_table(url: str) -> None:
    """ROWS rows over three groups; most values NULL, a few '' (not NULL)."""
    kind = _kind(url)
    rows = []
    for i in range(1, ROWS + 1):
        grp = GROUPS[i * len(GROUPS) // (ROWS + 1)]
        name = f"'n{i}'" if i % 3 else "NULL"
        amount = f"{i}.25" if i % 4 == 0 else "NULL"
        note = "''" if i % 50 == 0 else "NULL"
        seen = f"'2024-02-29 12:34:{i % 60:02d}.{i:06d}'" if i % 5 == 0 else "NULL"
        flag = ("1" if kind != "pg" else "true") if i % 7 == 0 else "NULL"
        rows.append(f"('{grp}', {i}, {name}, {amount}, {note}, {seen}, {flag})")
    sql.execute(url, DDL[kind], "INSERT INTO t VALUES " + ", ".join(rows))


def synced(store: str, src_url: str, dst_url: str, name: str = "v") -> Syncbeat:
    sb = Syncbeat(store)
    spec = PipelineSpec(
        name=name, source_url=src_url, source_table="t", dest_url=dst_url, dest_table="copy_t"
    )
    _job, outcome = sb.sync(spec)
    assert outcome.status == "completed", outcome.message
    return sb


def verified(sb: Syncbeat, name: str = "v", **small: Any) -> Report:
    """Verify with small ranges (see the module), as the library runs it."""
    sides = open_sides(sb.pipeline_spec(name))
    try:
        sizes = {"segment_rows": 300, "leaf_rows": 8, "fanout": 4, **small}
        with Verifier(sides, **sizes) as verifier:
            return verifier.run()
    finally:
        sides.dispose()


def key(grp: str, i: int) -> list[Any]:
    return [grp, i]


@pytest.mark.parametrize("pair", PAIRS, indirect=True)
def test_damage_at_the_ends_and_the_middle_is_found_as_what_it_is(
    store_url: str, pair: tuple[str, str, str, str]
) -> None:
    _src, dst, src_url, dst_url = pair
    make_table(src_url)
    sql.execute(src_url, "DELETE FROM t WHERE id = 700")  # a gap, filled in the copy
    sb = synced(store_url, src_url, dst_url)
    equal = verified(sb)
    assert equal.equal, equal.to_json()
    assert (equal.source_rows, equal.destination_rows) == (ROWS - 1, ROWS - 1)
    assert sb.verify("v").equal  # the default sizes agree

    true = "1" if dst != "pg" else "true"
    sql.execute(
        dst_url,
        "DELETE FROM copy_t WHERE id = 1",  # the first key
        "UPDATE copy_t SET name = 'renamed' WHERE id = 600",  # the middle
        "UPDATE copy_t SET amount = 1 WHERE id = 1200",  # the last key
        "UPDATE copy_t SET note = NULL WHERE id = 550",  # '' became NULL
        f"UPDATE copy_t SET flag = {true} WHERE id = 15",  # NULL became true
        "INSERT INTO copy_t (grp, id) VALUES ('A', 0), ('a', 700), ('c', 1)",
    )
    report = verified(sb)
    found = report.to_json()
    assert not report.equal
    assert found["missing"] == {"count": 1, "keys": [key("A", 1)]}
    assert found["extra"] == {"count": 3, "keys": [key("A", 0), key("a", 700), key("c", 1)]}
    assert found["changed"]["keys"] == [key("A", 15), key("a", 550), key("a", 600), key("b", 1200)]
    assert found["changed"]["count"] == 4
    assert found["changed"]["columns"] == {"flag": 1, "note": 1, "name": 1, "amount": 1}
    assert report.rows_fetched < 200, "rows were fetched beyond the differing leaves"
    # The library's default sizes find the same.
    again = sb.verify("v").to_json()
    assert {k: again[k] for k in ("missing", "extra")} == {
        k: found[k] for k in ("missing", "extra")
    }
    assert again["changed"]["count"] == 4


@pytest.mark.parametrize("pair", [PAIRS[1], PAIRS[3], PAIRS[8]], indirect=True)
def test_a_destination_larger_or_smaller_than_its_source(
    store_url: str, pair: tuple[str, str, str, str]
) -> None:
    _src, _dst, src_url, dst_url = pair
    make_table(src_url)
    sb = synced(store_url, src_url, dst_url)
    sql.execute(dst_url, "DELETE FROM copy_t WHERE id > 400")  # smaller: two thirds gone
    smaller = verified(sb)
    assert (smaller.missing.count, smaller.extra.count, smaller.changed.count) == (ROWS - 400, 0, 0)
    assert smaller.destination_rows == 400
    sql.execute(dst_url, "DELETE FROM copy_t")
    assert verified(sb).missing.count == ROWS  # empty

    rows = ", ".join(f"('z', {i})" for i in range(1, 2 * ROWS + 1))
    sql.execute(dst_url, f"INSERT INTO copy_t (grp, id) VALUES {rows}")  # only extras
    larger = verified(sb)
    assert (larger.missing.count, larger.extra.count) == (ROWS, 2 * ROWS)
    assert len(larger.extra.keys) == 100 and larger.extra.keys[0] == key("z", 1)
