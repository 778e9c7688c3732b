"""Waiting for something to become true, with a deadline: never a sleep that hopes.

``wait_for`` asks ``probe`` again and again until it returns something truthy and
returns that; past the deadline the test fails, saying what it waited for and the last
value ``probe`` returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

INTERVAL = 0.05
"""Seconds between two probes."""
LAST_SEEN = 500
"""Characters of the last value shown when a wait fails."""


def wait_for(
    what: str,
    probe: Callable[[], T | None],
    timeout: float = 30.0,
    diagnostics: Callable[[], str] = lambda: "",
    *,
    interval: float = INTERVAL,
) -> T:
    """Poll ``probe`` until it returns something truthy and return it; fail after
    ``timeout`` seconds with ``what``, the last value seen and ``diagnostics()``.

    ``probe`` runs at least once, and once more after the deadline has passed, so a slow
    probe is never cut short of its last look. An exception in ``probe`` (an assertion
    that must hold on every poll) ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = repr(value)
            if len(seen) > LAST_SEEN:
                seen = seen[: LAST_SEEN - 4] + " ..."
            details = diagnostics()
            pytest.fail(
                f"timed out after {timeout:g}s waiting for {what} (last seen: {seen})"
                + (f"\n{details}" if details else "")
            )
        time.sleep(interval)
