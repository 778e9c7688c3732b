"""The REST API (and the dashboard's routes): a thin skin over :class:`syncbeat.Syncbeat`.

``syncbeat serve`` runs :func:`create_app` under uvicorn; tests and embedders can call it
directly.
"""

from __future__ import annotations

from syncbeat.api.app import create_app

__all__ = ["create_app"]
