"""Small units with no I/O: URL secrets, checkpoint encoding, progress and ETA, what is
retried, and what a pipeline definition accepts."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from syncbeat.connectors import engines, failures, hints
from syncbeat.engine import progress, retry
from syncbeat.vocabulary import checkpoint, urls
from syncbeat.vocabulary.checkpoint import Checkpoint
from syncbeat.vocabulary.errors import (
    ConfigError,
    ConnectionUrlError,
    DestinationError,
    KeyColumnError,
    SourceError,
    SyncbeatError,
    TransientError,
)
from syncbeat.vocabulary.pipeline import PipelineSpec, default_name

# -- urls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://app:s3cret@db/shop", "postgresql://app:***@db/shop"),
        (
            "postgresql+psycopg://app:s3cret@db:5432/shop?sslmode=require",
            "postgresql+psycopg://app:***@db:5432/shop?sslmode=require",
        ),
        (
            "mysql+pymysql://root:p%40ss@127.0.0.1:3306/x",
            "mysql+pymysql://root:***@127.0.0.1:3306/x",
        ),
        ("mysql://u:p:w/x@h/d", "mysql://u:***@h/d"),  # ':' and '/' inside the password
        ("postgresql://app:p@ss@db/x", "postgresql://app:***@db/x"),  # '@' inside it
        ("postgresql://:s3cret@db/shop", "postgresql://:***@db/shop"),
        # A reference names a secret, it is not one: kept as written.
        ("postgresql://app:${PGPASS}@db/shop", "postgresql://app:${PGPASS}@db/shop"),
        # Text around a reference is a literal password after all.
        ("postgresql://app:x${PGPASS}@db/shop", "postgresql://app:***@db/shop"),
        # Nothing to mask.
        ("postgresql://app@db/shop", "postgresql://app@db/shop"),
        ("postgresql://db/shop", "postgresql://db/shop"),
        ("sqlite:///data.db", "sqlite:///data.db"),
        ("sqlite:////tmp/a:b@c.db", "sqlite:////tmp/a:b@c.db"),
    ],
)
def test_mask(url: str, masked: str) -> None:
    assert urls.mask(url) == masked
    assert urls.has_literal_password(url) == (url != masked)
    assert urls.mask(masked) == masked  # masking is idempotent


def test_describe_never_shows_a_password() -> None:
    label = urls.describe("postgresql://app:s3cret@db.example/shop")
    assert label == "postgresql:db.example/shop"
    name = default_name("postgresql://app:s3cret@db/shop", "orders", "sqlite:///w.db", None)
    assert "s3cret" not in name
    assert "s3cret" not in urls.describe("postgresql://app:s3cret@db:notaport/shop")


def test_resolve_substitutes_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_UNIT_USER", "app")
    monkeypatch.setenv("SB_UNIT_PASS", "p@ss:word")
    url = "postgresql://${SB_UNIT_USER}:${SB_UNIT_PASS}@db/shop"
    # In the user name and password a value stands for itself: percent-encoded, so that
    # its @ and : are not read as the end of the password or a port.
    assert urls.resolve(url) == "postgresql://app:p%40ss%3Aword@db/shop"
    parsed = urls.parse(urls.resolve(url))
    assert (parsed.username, parsed.password, parsed.host) == ("app", "p@ss:word", "db")
    assert urls.resolve("sqlite:///plain.db") == "sqlite:///plain.db"
    # Only ${NAME} is a reference; a lone $ is data.
    assert urls.resolve("postgresql://app:pa$s@db/x") == "postgresql://app:pa$s@db/x"


def test_a_query_parameter_secret_stays_whole_and_out_of_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ${VAR} value in ?password= is one parameter's value, whatever it holds, and an
    error about the URL shows the reference, never a piece of the value."""
    monkeypatch.setenv("SB_UNIT_PW", "se&cret=x")
    url = "postgresql://db/shop?password=${SB_UNIT_PW}"
    assert urls.parse(urls.resolve(url)).query["password"] == "se&cret=x"
    with pytest.raises(ConnectionUrlError) as caught:
        engines.create_engine("postgresql://db:notaport/shop?password=${SB_UNIT_PW}")
    assert "cret" not in caught.value.message and "${SB_UNIT_PW}" in caught.value.message


def test_resolve_names_a_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_UNIT_SET", "x")
    monkeypatch.delenv("SB_UNIT_MISSING", raising=False)
    with pytest.raises(ConnectionUrlError) as caught:
        urls.resolve("postgresql://app:${SB_UNIT_MISSING}@${SB_UNIT_SET}/shop")
    assert "SB_UNIT_MISSING" in caught.value.message
    assert caught.value.hint is not None and "export SB_UNIT_MISSING=" in caught.value.hint
    assert isinstance(caught.value, ConfigError)  # the CLI exits 2 on it


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", ["is not a connection URL"]),
        ("postgresql://app@db:port/shop", ["is not a connection URL", "port"]),
        ("foo://x", ["Unknown database driver 'foo'"]),
        ("postgresql+nodriver://db/shop", ["Unknown database driver"]),
    ],
)
def test_check_rejects_urls_that_cannot_work(url: str, words: list[str]) -> None:
    with pytest.raises(ConnectionUrlError) as caught:
        engines.check(url)
    for word in words:
        assert word in caught.value.message
    assert caught.value.hint


def test_check_accepts_good_urls_without_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SB_UNIT_PASS", "x")
    # Hosts that do not exist: nothing is connected, so nothing fails.
    engines.check("postgresql://app:${SB_UNIT_PASS}@no-such-host.invalid/shop")
    engines.check("mysql://app:lit@no-such-host.invalid/shop")
    engines.check("sqlite://")


def test_a_masked_password_is_refused_with_a_hint() -> None:
    with pytest.raises(ConnectionUrlError) as caught:
        engines.create_engine("postgresql://app:***@db/shop")
    assert caught.value.hint is not None and "${VAR}" in caught.value.hint


# -- checkpoint ---------------------------------------------------------------------------

KEYS: list[Any] = [
    0,
    -(2**63),
    2**63 - 1,
    "",
    "Zürich 🚀",
    "42",  # a string that looks like a number stays a string
    Decimal("12345678901234567890.000000001"),
    Decimal("1.10"),  # the exponent survives: 1.10, not 1.1
    dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
    dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=dt.UTC),
    dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-3, minutes=-30))),
    dt.date(1999, 12, 31),
    dt.time(8, 30, 15, 5),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xff\x10binary",
    b"",
    True,
    0.1,
]


@pytest.mark.parametrize("value", KEYS, ids=[f"{type(v).__name__}-{i}" for i, v in enumerate(KEYS)])
def test_checkpoint_key_round_trip(value: Any) -> None:
    point = Checkpoint(last_key=(value, 7), batch_index=3, rows_done=15_000, batch_retries=2)
    stored = json.loads(json.dumps(point.to_json()))  # as the store keeps it
    back = Checkpoint.from_json(stored)
    assert back == point
    restored = back.last_key
    assert restored is not None
    assert type(restored[0]) is type(value)
    assert restored[0] == value
    if isinstance(value, dt.datetime | dt.time):
        assert restored[0].utcoffset() == value.utcoffset()  # aware stays aware, naive naive
    if isinstance(value, Decimal):
        assert str(restored[0]) == str(value)


def test_checkpoint_composite_key_and_empty() -> None:
    key = (dt.date(2020, 1, 1), "b", uuid.uuid4(), Decimal("-0.5"), None)
    assert checkpoint.decode_key(json.loads(json.dumps(checkpoint.encode_key(key)))) == key
    assert Checkpoint.from_json(None) == Checkpoint()
    assert Checkpoint.from_json({}) == Checkpoint()
    assert not Checkpoint().started
    assert Checkpoint().describe() == "the start"
    after = Checkpoint().advance((5,), 5, 1)
    assert (after.batch_index, after.rows_done, after.batch_retries) == (1, 5, 1)
    assert after.started


def test_checkpoint_refuses_a_value_it_cannot_restore() -> None:
    with pytest.raises(KeyColumnError, match="cannot be kept in a checkpoint"):
        checkpoint.encode_value(object())


# -- progress -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    # the time module progress calls time.monotonic() on (the same module object)
    monkeypatch.setattr(time, "monotonic", fake)
    return fake


def test_eta_unknown_before_the_first_batch(clock: FakeClock) -> None:
    p = progress.Progress(rows_done=500, rows_total=1000)
    snap = p.snapshot()
    assert snap.rate is None and snap.eta_seconds is None
    assert snap.percent == 50.0


def test_rate_is_an_ewma_of_this_runs_batches(clock: FakeClock) -> None:
    p = progress.Progress(rows_done=0, rows_total=10_000, smoothing=0.3)
    clock.now += 50  # time before the first batch (a resume, a pause) is not work
    p.batch_started()
    clock.now += 1.0
    p.batch_done(100)
    assert p.rate == pytest.approx(100.0)
    assert p.snapshot().eta_seconds == pytest.approx((10_000 - 100) / 100.0)
    clock.now += 30  # backoff between batches is not work either
    p.batch_started()
    clock.now += 0.5
    p.batch_done(100)  # 200 rows/s
    assert p.rate == pytest.approx(0.3 * 200 + 0.7 * 100)
    snap = p.snapshot()
    assert snap.rows_done == 200
    assert snap.eta_seconds == pytest.approx(9_800 / 130.0)


def test_no_division_by_zero(clock: FakeClock) -> None:
    p = progress.Progress(rows_done=0, rows_total=0)
    p.batch_started()
    p.batch_done(10)  # no time passed at all
    assert p.rate is not None and math.isfinite(p.rate) and p.rate > 0
    empty = progress.Progress(rows_done=0, rows_total=None)
    empty.batch_started()
    empty.batch_done(0)  # an empty batch says nothing about the rate
    assert empty.rate is None and empty.snapshot().eta_seconds is None
    assert empty.snapshot().percent is None
    assert progress.Snapshot(0, 0, None, None).percent is None
    assert progress.eta(10, 100, 0.0) is None
    assert progress.eta(10, None, 5.0) is None


def test_rows_total_grows_when_rows_were_added(clock: FakeClock) -> None:
    p = progress.Progress(rows_done=90, rows_total=100)
    p.batch_started()
    clock.now += 1
    p.batch_done(30)
    snap = p.snapshot()
    assert snap.rows_total == 120 == snap.rows_done
    assert snap.percent == 100.0
    assert snap.eta_seconds == 0.0


def test_percent_never_exceeds_100() -> None:
    assert progress.Snapshot(150, 100, None, None).percent == 100.0
    assert progress.eta(150, 100, 10.0) == 0.0


# -- what is retried -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (TransientError("connection lost"), True),
        (SourceError("no such table"), False),
        (KeyColumnError("not unique"), False),
        (DestinationError("type mismatch"), False),
        (ConfigError("bad option"), False),
        (ConnectionUrlError("bad url"), False),
        (SyncbeatError("anything"), False),
        (ValueError("a bug"), False),
        (KeyError("a bug"), False),
    ],
)
def test_is_transient(exc: BaseException, transient: bool) -> None:
    assert failures.is_transient(exc) is transient


def test_retrying_retries_transient_errors_then_succeeds() -> None:
    calls: list[int] = []
    retried: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientError("connection reset")
        return "done"

    policy = retry.retrying(5, lambda n, exc, wait: retried.append(n), initial=0.001, maximum=0.002)
    assert policy(flaky) == "done"
    assert len(calls) == 3
    assert retried == [1, 2]


def test_retrying_gives_up_after_max_retries() -> None:
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise TransientError("still down")

    policy = retry.retrying(2, lambda *a: None, initial=0.001, maximum=0.002)
    with pytest.raises(TransientError):
        policy(down)
    assert len(calls) == 3  # the first try and 2 retries


def test_retrying_fails_at_once_on_a_permanent_error() -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise SourceError("no such table")

    policy = retry.retrying(5, lambda *a: None, initial=0.001, maximum=0.002)
    with pytest.raises(SourceError):
        policy(broken)
    assert len(calls) == 1


# -- pipeline definitions -----------------------------------------------------------------


def _spec(**changes: Any) -> PipelineSpec:
    fields: dict[str, Any] = {
        "name": "orders",
        "source_url": "sqlite:///a.db",
        "source_table": "orders",
        "dest_url": "sqlite:///b.db",
        "dest_table": "orders",
    }
    fields.update(changes)
    return PipelineSpec(**{k: v for k, v in fields.items() if v is not ...})


def _rejects(field: str, **changes: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        _spec(**changes)
    assert field in str(caught.value), caught.value


def test_a_valid_spec_has_safe_defaults() -> None:
    spec = _spec()
    # batch_size None: adaptive, aiming at a batch duration rather than a row count.
    assert spec.mode == "upsert" and spec.batch_size is None and spec.key == []
    assert spec.lease_ttl > spec.heartbeat_interval


@pytest.mark.parametrize("size", [0, -1])
def test_batch_size_below_one_is_rejected(size: int) -> None:
    _rejects("batch_size", batch_size=size)


@pytest.mark.parametrize("ttl", [10.0, 5.0])
def test_lease_ttl_must_outlast_the_heartbeat(ttl: float) -> None:
    _rejects("lease_ttl", heartbeat_interval=10.0, lease_ttl=ttl)
    assert _spec(heartbeat_interval=10.0, lease_ttl=30.0).lease_ttl == 30.0


def test_exactly_one_of_table_and_query() -> None:
    _rejects("exactly one of source_table and source_query", source_query="SELECT 1")
    _rejects("exactly one of source_table and source_query", source_table=None)
    assert _spec(source_table=None, source_query="SELECT 1 AS id").source_query


def test_other_bad_definitions_are_rejected() -> None:
    _rejects("mode", mode="merge")
    _rejects("name", name="")
    _rejects("name", name="has space")
    _rejects("key", key=["id", "id"])
    _rejects("unexpected", unexpected=1)  # a typo in a field name is not ignored


def test_stored_spec_masks_literal_passwords_and_keeps_references() -> None:
    spec = _spec(
        source_url="postgresql://app:s3cret@db/shop",
        dest_url="postgresql://app:${DEST_PASS}@db2/shop",
    )
    stored = spec.stored()
    assert stored.source_url == "postgresql://app:***@db/shop"
    assert stored.dest_url == "postgresql://app:${DEST_PASS}@db2/shop"
    assert "s3cret" not in stored.model_dump_json()
    assert spec.source_url == "postgresql://app:s3cret@db/shop"  # the original is untouched


def test_a_collation_the_destination_lacks_gets_its_own_hint_on_both_engines() -> None:
    pg = hints.for_driver_error(
        "42704", None, 'collation "sb_ci" for encoding "UTF8" does not exist'
    )
    mysql = hints.for_driver_error(None, 1273, "Unknown collation: 'utf8mb4_0900_ai_ci'")
    assert "lacks a collation" in pg
    assert mysql == pg
    other = hints.for_driver_error("42704", None, 'type "citext" does not exist')
    assert "lacks a collation" not in other
