"""Key boundaries without a database: what the checkpoint carries, and which neighbours
are asked about. (The comparisons themselves are the database's: tests/integration.)"""

from __future__ import annotations

import datetime as dt
import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from syncbeat.connectors import keys
from syncbeat.vocabulary.checkpoint import Checkpoint


@given(st.floats(allow_nan=False) | st.floats(width=32, allow_nan=False))
def test_a_float_key_survives_the_checkpoint_with_its_exact_bits(value: float) -> None:
    """Through the store's JSON and the destination's state row alike."""
    stored = json.loads(json.dumps(Checkpoint((value, 7), 3, 9).to_json()))
    (back, seven) = Checkpoint.from_json(stored).last_key or ()
    assert struct.pack("d", back) == struct.pack("d", value) and seven == 7


def test_nan_and_infinities_survive_the_checkpoint() -> None:
    stored = json.loads(json.dumps(Checkpoint((math.nan, math.inf, -math.inf), 1).to_json()))
    nan, inf, minus_inf = Checkpoint.from_json(stored).last_key or ()
    assert math.isnan(nan) and inf == math.inf and minus_inf == -math.inf


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_a_4_byte_float_read_as_its_shortest_decimal_widens_back_to_itself(
    value: float,
) -> None:
    """MariaDB's FLOAT boundary: read as the shortest decimal (0.1), bound as the double
    the stored float is (0.10000000149011612)."""
    shortest = float(f"{value:.9g}")
    assert keys.widened(shortest) == value


@pytest.mark.parametrize(
    ("name", "exact"),
    [
        ("utf8mb4_general_ci", False),
        ("utf8mb4_bin", False),  # PAD SPACE: 'a' = 'a '
        ("utf8mb4_unicode_520_ci", False),
        ("utf8mb4_nopad_bin", True),
        ("utf8mb4_0900_bin", True),
        ("binary", True),
    ],
)
def test_only_no_pad_binary_mariadb_collations_tell_every_string_apart(
    name: str, exact: bool
) -> None:
    assert keys.mysql_collation_exact(name) is exact


def test_the_boundary_pair_is_always_asked_about() -> None:
    """Equal keys lose rows only at the boundary: that pair goes to the database even
    when nothing about it looks alike; within the batch, only look-alikes do."""
    page = [("a",), ("b",), ("B",), ("c",), ("x",), ("y",)]
    assert keys.candidates(page, 4) == [(("c",), ("x",)), (("b",), ("B",))]
    assert keys.candidates([("e",), ("é",), ("f",)], 5) == [(("e",), ("é",))]
    assert keys.candidates([("a ",), ("a",)], 5) == [(("a ",), ("a",))]


@given(st.timedeltas(min_value=-dt.timedelta(hours=839), max_value=dt.timedelta(hours=839)))
def test_a_duration_key_survives_the_checkpoint(value: dt.timedelta) -> None:
    """A MariaDB TIME key: negative, or past 24 hours."""
    stored = json.loads(json.dumps(Checkpoint((value,), 1).to_json()))
    assert Checkpoint.from_json(stored).last_key == (value,)
