"""Key fidelity: every key type of ``key_matrix``, synced between every directed pair of
PostgreSQL, MariaDB and SQLite in batches of 1 (upsert) and 3 (append), so that every
value is a batch boundary; the destination must hold each source row exactly once, at
its key, compared row by row with the raw drivers.

A key the database compares differently from syncbeat's boundary shows here as a row
missing (skipped at a boundary), a run that does not end (the boundary row read again:
stopped by the guard in ``sync``), or a duplicate key in append mode.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.key_matrix import KEYS, PG_TYPES, KeyType, canonical
from tests.integration.test_key_order import sync
from tests.integration.test_type_fidelity import PAIRS, _engine, _kind


def make_key_table(url: str, key_type: KeyType) -> str:
    table = f"k_{key_type.name}"
    kind = _kind(url)
    engine = _engine(url)
    with engine.begin() as conn:
        if kind == "pg" and key_type.ddl == "mood":
            conn.exec_driver_sql(PG_TYPES)
        options = " DEFAULT CHARSET utf8mb4" if kind == "mariadb" else ""
        conn.exec_driver_sql(
            f"CREATE TABLE {table} (k {key_type.ddl} PRIMARY KEY, v integer){options}"
        )
        mark = ":k, :v" if kind == "sqlite" else "%(k)s, %(v)s"
        if kind == "pg" and key_type.ddl == "mood":
            mark = "%(k)s::mood, %(v)s"
        conn.exec_driver_sql(
            f"INSERT INTO {table} (k, v) VALUES ({mark})",
            [{"k": value, "v": i} for i, value in enumerate(key_type.values, 1)],
        )
    engine.dispose()
    return table


def rows_by_payload(url: str, table: str, key_type: KeyType) -> dict[int, Any]:
    """Each row's key, by its payload, as the driver reads it (a MariaDB FLOAT widened
    to the double it is: its text has six digits)."""
    engine = _engine(url)
    with engine.connect() as conn:
        key = "k"
        if _kind(url) == "mariadb":
            declared = conn.exec_driver_sql(
                "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA ="
                f" DATABASE() AND TABLE_NAME = '{table}' AND COLUMN_NAME = 'k'"
            ).scalar_one()
            key = "CAST(k AS DOUBLE)" if declared == "float" else "k"
        found = conn.exec_driver_sql(f"SELECT {key}, v FROM {table}").all()
    engine.dispose()
    by_payload = {int(v): canonical(k, key_type) for k, v in found}
    assert len(by_payload) == len(found), f"{table}: a source row arrived twice"
    return by_payload


@pytest.mark.parametrize("pair", PAIRS, indirect=True)
def test_every_key_type_pages_every_row_exactly_once(
    store_url: str, pair: tuple[str, str, str, str]
) -> None:
    src, _dst, src_url, dst_url = pair
    wrong = []
    for key_type in KEYS[src]:
        table = make_key_table(src_url, key_type)
        expected = rows_by_payload(src_url, table, key_type)
        for mode, batch_size in (("upsert", 1), ("append", 3)):
            copy = f"{mode}_{key_type.name}"
            status, message = sync(
                store_url, src_url, dst_url, mode=mode, batch_size=batch_size,
                rows=len(expected), name=copy, table=table, to=copy,
            )  # fmt: skip
            if status != "completed":
                wrong.append(f"{key_type.ddl} ({mode}): {status}: {message}")
                continue
            got = rows_by_payload(dst_url, copy, key_type)
            if got != expected:
                missing = sorted(set(expected) - set(got))
                changed = {v: (expected[v], got[v]) for v in got if got[v] != expected.get(v)}
                wrong.append(f"{key_type.ddl} ({mode}): missing {missing}, changed {changed}")
    assert not wrong, "\n".join(wrong)
