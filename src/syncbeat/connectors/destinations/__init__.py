"""Where rows go."""

from __future__ import annotations

from syncbeat.connectors.destinations.sql import SqlDestination

__all__ = ["SqlDestination"]
