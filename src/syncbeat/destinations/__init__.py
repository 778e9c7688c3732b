"""Where rows go."""

from __future__ import annotations

from .sql import MODES, SqlDestination

__all__ = ["MODES", "SqlDestination"]
