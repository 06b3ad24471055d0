"""An in-memory backend: the reference for the conformance suite and a fake for tests."""

from __future__ import annotations

from traceway.storage.memory.store import MemoryStore

__all__ = ["MemoryStore"]
