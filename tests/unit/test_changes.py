"""When the row counts say a source changed during a run (``source_changed``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from syncbeat.connectors.sources import SqlSource
from syncbeat.engine.changes import noticed


def _source(dialect: str, table: str | None = "items") -> SqlSource:
    return cast(SqlSource, SimpleNamespace(dialect=dialect, table_name=table))


def test_exact_counts_notice_any_difference() -> None:
    mariadb = _source("mariadb")
    assert noticed(mariadb, 1_000, 1_000, 1_000) is None
    grew = noticed(mariadb, 1_000, 1_001, 1_001)
    assert grew is not None
    assert grew.data == {"rows_at_start": 1_000, "rows_at_end": 1_001, "rows_done": 1_001}
    assert "1,000 rows when this run started and 1,001 at its end" in grew.message
    # The same count at both ends, but rows deleted and inserted meanwhile.
    assert noticed(mariadb, 1_000, 1_000, 990) is not None


def test_a_large_postgresql_table_estimate_has_slack() -> None:
    big = 5_000_000
    pg = _source("postgresql")
    assert noticed(pg, big, big + big // 20, big) is None  # 5%: the estimate's noise
    assert noticed(pg, big, big + big // 5, big + big // 5) is not None  # 20%
    # A query is counted exactly, however large.
    assert noticed(_source("postgresql", None), big, big + 1, big + 1) is not None


def test_a_failed_count_says_nothing() -> None:
    assert noticed(_source("sqlite"), None, 10, 5) is None
    assert noticed(_source("sqlite"), 10, None, 5) is None
