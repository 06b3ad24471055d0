"""``traceway serve`` as a subprocess on ephemeral ports of 127.0.0.1, for the benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Server",
    "children",
    "cpu_seconds",
    "has_py_spy",
    "peak_rss_bytes",
    "start_server",
]

STARTUP_TIMEOUT_S = 60


@dataclass
class Server:
    """A running ``traceway serve`` and where it listens."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    otlp_http_port: int
    port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM, then wait: the server commits what it accepted and closes the store."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(data_dir: Path, log_path: Path, extra_args: Sequence[str] = ()) -> Server:
    """Start ``traceway serve --data-dir data_dir [extra_args]``; its output goes to
    ``log_path``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ready = data_dir / "ready.json"
    ready.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "traceway.cli", "serve", "--data-dir", str(data_dir),
        "--otlp-grpc-port", "0", "--otlp-http-port", "0", "--port", "0",
        "--ready-file", str(ready), *extra_args,
    ]  # fmt: skip
    log = log_path.open("wb")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not ready.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"traceway serve did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        ports = json.loads(ready.read_text())
    except BaseException:
        process.kill()  # a failed run leaves no server behind, holding its ports
        process.wait()
        raise
    return Server(process, data_dir, ports["otlp_http_port"], ports["port"])


def peak_rss_bytes(pid: int) -> int:
    """The peak resident set size of a running process (Linux ``VmHWM``), 0 if unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a running process has used so far (Linux), 0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux), e.g. the server's decode workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def has_py_spy() -> bool:
    return shutil.which("py-spy") is not None or Path(sys.executable).with_name("py-spy").exists()
