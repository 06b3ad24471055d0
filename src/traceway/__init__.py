"""traceway: follow a request across Python microservices."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
