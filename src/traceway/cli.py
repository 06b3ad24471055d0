"""The ``traceway`` command line: one sub-command per module of ``traceway.commands``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from traceway import __version__
from traceway.commands import Command, demo, load, serve

__all__ = ["main"]

COMMANDS: dict[str, Command] = {"serve": serve, "demo": demo, "load": load}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="traceway", description="Follow a request across Python microservices."
    )
    parser.add_argument("--version", action="version", version=f"traceway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS.values():
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
