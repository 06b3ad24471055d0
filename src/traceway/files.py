"""Files other processes read while this one writes them."""

from __future__ import annotations

from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` in one step, so a reader never sees half of it (or an
    empty file, which a reader polling for the file's existence would otherwise)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)
