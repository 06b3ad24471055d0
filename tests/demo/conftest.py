"""Fixtures for the demo's tests."""

from __future__ import annotations

from traceway.testing import spans  # noqa: F401  (the fixture, until the pytest11 entry point)
