"""Progress lines of a benchmark run."""

from __future__ import annotations

import sys


def log(message: str) -> None:
    # stderr, flushed: stdout carries only the report, and a long run shows where it is.
    print(message, file=sys.stderr, flush=True)
