"""Where rows go."""

from __future__ import annotations

from syncbeat.connectors.destinations.sql import MODES, SqlDestination

__all__ = ["MODES", "SqlDestination"]
