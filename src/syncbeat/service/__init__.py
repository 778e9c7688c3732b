"""The service layer: the library's facade (:class:`Syncbeat`) and the worker."""

from __future__ import annotations

from syncbeat.service.facade import Syncbeat

__all__ = ["Syncbeat"]
