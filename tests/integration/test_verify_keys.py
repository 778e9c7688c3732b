"""Verify over every key type of the key matrix, between every directed pair, and what
it refuses.

Verify cuts both tables into the same key ranges, so it holds only where both
databases order the key alike. For each key type it must either find the copy equal,
and then find a deleted row at exactly its key (a key ordered differently shows as
rows missing in one range and extra in another), or refuse before reading a row, with
a message that names the column. It must never report a difference that is not there.
"""

from __future__ import annotations

import pytest

from syncbeat import PipelineSpec, Syncbeat
from syncbeat.connectors.checksums import Bound
from syncbeat.engine.sides import Sides, open_sides
from syncbeat.engine.verify import Report, Verifier
from syncbeat.vocabulary.errors import ConfigError, DestinationError
from tests.integration.key_matrix import KEYS
from tests.integration.test_key_fidelity import make_key_table
from tests.integration.test_key_order import sync
from tests.integration.test_type_fidelity import PAIRS
from tests.support import sql

# A key type may be refused only across engines (a SQLite source's dates and times
# anywhere), and only for these reasons.
REFUSALS = (
    "an enum sorts",
    "SQLite holds dates",
    "MariaDB sorts a UUID",
    "text under",
    "text in the other",
)


def small_verify(sb: Syncbeat, name: str) -> Report:
    sides = open_sides(sb.pipeline_spec(name))
    try:
        with Verifier(sides, segment_rows=2, leaf_rows=1, fanout=2) as verifier:
            return verifier.run()
    finally:
        sides.dispose()


@pytest.mark.parametrize("pair", PAIRS, indirect=True)
def test_every_key_type_is_verified_or_refused_never_misjudged(
    store_url: str, pair: tuple[str, str, str, str]
) -> None:
    src, dst, src_url, dst_url = pair
    sb = Syncbeat(store_url)
    wrong, refused = [], []
    for key_type in KEYS[src]:
        table = make_key_table(src_url, key_type)
        copy = f"v_{key_type.name}"
        rows = len(key_type.values)
        status, message = sync(
            store_url, src_url, dst_url, rows=rows, name=copy, table=table, to=copy, batch_size=100
        )
        assert status == "completed", message
        try:
            report = small_verify(sb, copy)
        except ConfigError as exc:
            refused.append(key_type.name)
            dates = src == "sqlite" and "SQLite holds dates" in exc.message  # any destination
            if (src == dst and not dates) or not any(why in exc.message for why in REFUSALS):
                wrong.append(f"{key_type.ddl}: refused: {exc.message}")
            elif "k" not in exc.message.split(":")[0]:
                wrong.append(f"{key_type.ddl}: the refusal does not name the column")
            continue
        if not report.equal:
            wrong.append(f"{key_type.ddl}: a faithful copy reported: {report.to_json()}")
            continue
        middle = rows // 2 + 1  # the payload v of the middle row
        sql.execute(dst_url, f"DELETE FROM {copy} WHERE v = {middle}")
        damaged = small_verify(sb, copy)
        shape = (damaged.missing.count, damaged.extra.count, damaged.changed.count)
        if shape != (1, 0, 0):
            wrong.append(f"{key_type.ddl}: one deleted row reported as {damaged.to_json()}")
    assert not wrong, "\n".join(wrong)
    if src == dst != "sqlite":
        assert not refused


def test_what_cannot_be_compared_is_refused_with_a_way_out(
    store_url: str, pg_url: str, mariadb_url: str
) -> None:
    sb = Syncbeat(store_url)
    sql.execute(
        mariadb_url,
        "CREATE TABLE people (email varchar(40) PRIMARY KEY, n int) DEFAULT CHARSET utf8mb4",
        "INSERT INTO people VALUES ('a@x', 1), ('B@x', 2)",
    )
    spec = PipelineSpec(
        name="ci", source_url=mariadb_url, source_table="people", dest_url=pg_url,
        dest_table="people",
    )  # fmt: skip
    assert sb.sync(spec)[1].status == "completed"
    with pytest.raises(ConfigError) as refused:
        sb.verify("ci")
    assert "key column email" in refused.value.message
    assert "utf8mb4_general_ci" in refused.value.message
    assert refused.value.hint and "COLLATE" in refused.value.hint

    sql.execute(pg_url, "DROP TABLE people")
    with pytest.raises(DestinationError) as gone:
        sb.verify("ci")
    assert "does not exist" in gone.value.message and "sync" in (gone.value.hint or "")

    keyless = spec.model_copy(
        update={"name": "nokey", "source_table": None, "source_query": "SELECT n FROM people"}
    )
    sb.save_pipeline(keyless.model_copy(update={"dest_table": "n"}))
    with pytest.raises(ConfigError) as no_key:
        sb.verify("nokey")
    assert "has no key" in no_key.value.message and "--key" in (no_key.value.hint or "")


class SecondLook(Verifier):
    """A verifier during whose run the destination is written once, for real: after a
    leaf range's rows were found to differ and before the second look, the row is put
    right, as a sync running beside it would."""

    def __init__(self, sides: Sides, fix: str, dst_url: str) -> None:
        super().__init__(sides, segment_rows=100, leaf_rows=10)
        self.fix, self.dst_url = fix, dst_url

    def _still_differs(self, lo: Bound | None, hi: Bound | None) -> bool:
        sql.execute(self.dst_url, self.fix)
        return super()._still_differs(lo, hi)


def test_a_range_that_changes_while_verify_looks_is_not_reported_as_drift(
    store_url: str, pg_url: str, pg_url2: str
) -> None:
    sql.execute(
        pg_url,
        "CREATE TABLE t (id int PRIMARY KEY, v text)",
        "INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g",
    )
    sb = Syncbeat(store_url)
    spec = PipelineSpec(
        name="live", source_url=pg_url, source_table="t", dest_url=pg_url2, dest_table="t"
    )
    assert sb.sync(spec)[1].status == "completed"
    sql.execute(pg_url2, "UPDATE t SET v = 'stale' WHERE id = 250")
    sides = open_sides(sb.pipeline_spec("live"))
    try:
        fix = "UPDATE t SET v = 'v250' WHERE id = 250"
        with SecondLook(sides, fix, pg_url2) as verifier:
            report = verifier.run()
    finally:
        sides.dispose()
    assert report.equal, report.to_json()
    assert report.changed_during_verify == 1
    assert "changed while verify ran" in report.describe()
    # Without the writer, the same damage is drift.
    sql.execute(pg_url2, "UPDATE t SET v = 'stale' WHERE id = 250")
    assert sb.verify("live").changed.keys == [250]
