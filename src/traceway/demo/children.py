"""The supervisor's child processes: started, their output relayed, waited for, stopped.

Each child runs in its own session, so the terminal's Ctrl-C reaches only the supervisor,
which then stops the children in its own order. Each child's stdin is a pipe from the
supervisor: if the supervisor dies, the pipe closes and the child stops itself.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["Child", "ChildFailed", "OutputSink"]

_TAIL_LINES = 40
_ANSI_COLORS = (36, 33, 35, 32, 34, 31, 90)


class ChildFailed(RuntimeError):
    """A child that did not start; the message has the end of its output."""


class OutputSink:
    """Where children's lines go: one stream, each line prefixed with who said it."""

    def __init__(self, stream: TextIO = sys.stdout, *, color: bool | None = None) -> None:
        self._stream = stream
        if color is None:
            color = stream.isatty() and not os.environ.get("NO_COLOR")
        self._color = color
        self._colors: dict[str, int] = {}

    def line(self, label: str, text: str) -> None:
        """Print one line of ``label``'s output."""
        prefix = f"{label:>16} |"
        if self._color:
            color = self._colors.setdefault(label, _ANSI_COLORS[len(self._colors) % 7])
            prefix = f"\x1b[{color}m{prefix}\x1b[0m"
        self._stream.write(f"{prefix} {text}\n")
        self._stream.flush()

    def say(self, text: str = "") -> None:
        """Print the supervisor's own text."""
        self._stream.write(text + "\n")
        self._stream.flush()


class Child:
    """One child process and the file it writes once it is ready."""

    def __init__(
        self,
        label: str,
        process: asyncio.subprocess.Process,
        ready_file: Path,
        sink: OutputSink,
        *,
        show_stdout: bool,
    ) -> None:
        self.label = label
        self.process = process
        self.ready_file = ready_file
        self.expected_exit = False
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._relays = [
            asyncio.create_task(self._relay(process.stdout, sink if show_stdout else None)),
            asyncio.create_task(self._relay(process.stderr, sink)),
        ]

    @classmethod
    async def start(
        cls,
        label: str,
        command: Sequence[str],
        environ: Mapping[str, str],
        ready_file: Path,
        sink: OutputSink,
        *,
        show_stdout: bool = True,
    ) -> Child:
        """Start ``command`` in its own session with ``environ``."""
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(environ),
            start_new_session=True,
        )
        return cls(label, process, ready_file, sink, show_stdout=show_stdout)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def _relay(self, stream: asyncio.StreamReader | None, sink: OutputSink | None) -> None:
        if stream is None:
            return
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip()
            self._tail.append(text)
            if sink is not None:
                sink.line(self.label, text)

    async def ready(self, timeout_s: float) -> dict[str, Any]:
        """The ready file's content, once written; ChildFailed if the child exits first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            with contextlib.suppress(FileNotFoundError, ValueError):
                content: dict[str, Any] = json.loads(self.ready_file.read_text())
                return content
            if not self.running:
                await asyncio.gather(*self._relays)
                raise ChildFailed(self._failure(f"exited with status {self.process.returncode}"))
            if loop.time() > deadline:
                raise ChildFailed(self._failure(f"was not ready after {timeout_s:.0f}s"))
            await asyncio.sleep(0.05)

    def _failure(self, what: str) -> str:
        output = "\n".join(f"    {line}" for line in self._tail)
        return f"{self.label} {what}" + (f"; its last output:\n{output}" if output else "")

    async def wait(self) -> int:
        """Wait for the child to exit and its output to be relayed; its exit status."""
        status = await self.process.wait()
        await asyncio.gather(*self._relays)
        return status

    async def stop(self, timeout_s: float) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; the exit status."""
        self.expected_exit = True
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            return await self.wait()

    def kill(self) -> None:
        """SIGKILL, now (a second Ctrl-C)."""
        self.expected_exit = True
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
