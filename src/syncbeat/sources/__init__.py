"""Where rows come from."""

from __future__ import annotations

from .sql import SqlSource

__all__ = ["SqlSource"]
