"""Run `cadence serve` as a child process on a free loopback port, for benchmarks and load tests.

A server in its own process has its own interpreter and GIL, so clients driving it from the parent
measure the server rather than a shared event loop, and a ``SIGKILL`` hits the server alone. Used by
``bench/serve.py`` and ``tests/player/server/test_server_load.py``.

The child is started with ``--port 0`` (the kernel picks a free port, so two launches never race for
one) and is ready when it prints ``cadence: ready on ws://…``; the URL is read from that line. A
thread keeps draining the child's output afterwards so it never blocks on a full pipe, and keeps the
last lines for error messages.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["READY_PATTERN", "ServerProcess", "ServerStartError", "launch_server_process"]

READY_PATTERN = re.compile(r"cadence: ready on (wss?://\S+)")
"""The line `cadence serve` prints once it listens; group 1 is its URL."""

_KEPT_LINES = 200
"""Lines of the child's output kept for error messages."""

_REPO_ROOT = Path(__file__).resolve().parents[2]


class ServerStartError(RuntimeError):
    """`cadence serve` exited, or did not say it was ready in time; the message ends with its output."""


@dataclass
class ServerProcess:
    """A running `cadence serve` child; use it as a context manager to stop it on exit."""

    process: subprocess.Popen[str]
    url: str
    """``ws://127.0.0.1:PORT`` the child listens on."""
    home: Path
    """The child's ``--home`` (its library.db and log.db)."""
    startup_s: float
    """Seconds from the spawn to the ready line (engines loaded and warmed, library scanned if empty)."""
    output: deque[str] = field(default_factory=lambda: deque(maxlen=_KEPT_LINES))
    """The child's last lines of stdout and stderr, newest last."""

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.process.pid

    def alive(self) -> bool:
        """True while the child has not exited."""
        return self.process.poll() is None

    def kill(self) -> int:
        """``SIGKILL`` the child (no shutdown code runs) and reap it; returns its exit status."""
        if self.alive():
            self.process.kill()
        return self.process.wait()

    def stop(self, timeout_s: float = 30.0) -> int:
        """``SIGTERM`` the child (a clean shutdown), ``SIGKILL`` it after ``timeout_s``; its exit status."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                return self.kill()
        return self.process.wait()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _drain(
    stream: IO[str], lines: queue.Queue[str | None], kept: deque[str], launched: threading.Event
) -> None:
    """Read the child's output to its end: every line into ``kept``, and into ``lines`` until launched."""
    for line in stream:
        kept.append(line)
        if not launched.is_set():
            lines.put(line)
    lines.put(None)


def launch_server_process(
    home: Path,
    extra_args: Sequence[str] = (),
    *,
    ready_timeout_s: float = 900.0,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> ServerProcess:
    """Start ``python -m player serve --home HOME --port 0 *extra_args`` and wait until it is ready.

    ``ready_timeout_s`` covers loading and warming the engines, and on an empty ``home`` building
    and scanning the demo library first (minutes on a cold machine). ``env`` is added to this
    process's environment.

    Raises:
        ServerStartError: If the child exits before it is ready, or is not ready in ``ready_timeout_s``
            (it is then killed).
    """
    began = time.monotonic()
    process = subprocess.Popen(
        [python, "-m", "player", "serve", "--home", str(home), "--port", "0", *extra_args],
        cwd=_REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    assert process.stdout is not None  # stdout=PIPE
    kept: deque[str] = deque(maxlen=_KEPT_LINES)
    lines: queue.Queue[str | None] = queue.Queue()
    launched = threading.Event()
    threading.Thread(
        target=_drain,
        args=(process.stdout, lines, kept, launched),
        name=f"cadence-serve-{process.pid}",
        daemon=True,
    ).start()
    deadline = began + ready_timeout_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            process.kill()
            process.wait()
            raise ServerStartError(
                f"cadence serve was not ready within {ready_timeout_s:.0f} s:\n" + "".join(kept)
            ) from None
        if line is None:
            status = process.wait()
            raise ServerStartError(
                f"cadence serve exited with {status} before it was ready:\n" + "".join(kept)
            )
        ready = READY_PATTERN.search(line)
        if ready is not None:
            launched.set()
            return ServerProcess(process, ready.group(1), home, time.monotonic() - began, kept)
