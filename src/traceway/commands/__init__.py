"""One module per ``traceway`` sub-command, each with ``add_parser`` and ``run``."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

__all__ = ["Command"]


class Command(Protocol):
    """What a sub-command module provides."""

    def add_parser(self, commands: argparse._SubParsersAction[Any]) -> None:
        """Add the sub-command and its flags to ``traceway``'s parser."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the work; return the process exit status."""
