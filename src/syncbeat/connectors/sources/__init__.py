"""Where rows come from."""

from __future__ import annotations

from syncbeat.connectors.sources.sql import SqlSource

__all__ = ["SqlSource"]
