"""Real hub processes (``gongyu serve``) on free loopback ports, for tests that need TCP and a browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_hub(
    log_path: Path, env: dict[str, str], port: int | None = None, args: Sequence[str] = ()
) -> Iterator[str]:
    """Start ``gongyu serve`` (with ``args``) and ``env`` on top of ours; yield its base URL once /readyz
    answers 200."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), *args],
            env={**os.environ, "GONGYU_PUBLIC_URL": base, **env},
            stdout=log,
            stderr=log,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(f"server did not become ready:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=10)
