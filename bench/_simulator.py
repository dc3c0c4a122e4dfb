"""What the benchmarks share: a simulator in a child process, and CPU readings.

Each benchmark starts ``divalto simulator serve`` on a free loopback port, so that
the process it measures is not the one that answers, and reads the CPU time of
both from ``/proc`` to show which side holds a figure back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

STARTUP_SECONDS = 30.0
"""How long a simulator may take to answer its health check."""


def free_port() -> int:
    """A loopback port nothing listens on at the moment of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def served_simulator(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """``divalto simulator serve`` on ``port`` in a child process.

    Yields the process once its health check answers; stops it on the way out.
    Raises RuntimeError, with the child's standard error, when it exits or stays
    silent at start.
    """
    command = [sys.executable, "-m", "divalto.cli", "simulator", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as errors:
        # The command is this interpreter and constants: nothing untrusted.
        process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=errors
        )
        try:
            _wait_until_up(process, port, errors)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)


def _wait_until_up(
    process: subprocess.Popen[bytes], port: int, errors: IO[bytes]
) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    url = f"http://127.0.0.1:{port}/_simulator/health"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors.seek(0)
            text = errors.read().decode("utf-8", "replace")
            raise RuntimeError(f"the simulator exited at start:\n{text}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the simulator did not answer on port {port}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, from ``/proc`` (Linux only)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks
