"""What `cadence serve` shows while it prepares: one line per start-up step (synthesising and scanning
the demo catalog n/N, loading the library and the ranker, …).

On a terminal (stderr is a TTY) the steps are a rich live display on stderr, each with its elapsed time
and, for counted steps, a bar and n/N. Anywhere else (a service, a pipe, a test) they are plain log lines
on the ``player.startup`` logger at INFO: when a step starts, every :data:`PLAIN_EVERY_S` seconds while
a counted step advances, and when it ends. The caller closes the display before it prints "ready", so
the ready line is never drawn over.

A *background* step (the first run's demo catalog, which a server starts serving before it is
complete) runs alongside the steps after it: they do not end it, and neither does closing the display;
from then on it goes on as plain log lines until it ends (thread-safe: it is advanced from the thread
doing the work).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["PLAIN_EVERY_S", "ProgressStep", "StartupProgress"]

_log = logging.getLogger(__name__)

PLAIN_EVERY_S = 2.0
"""Plain mode: at most one progress line per step this often (plus its first and last)."""


class ProgressStep:
    """One step of the start-up; made by :meth:`StartupProgress.step`."""

    def __init__(
        self, owner: StartupProgress, label: str, total: int | None, task: Any, *, background: bool = False
    ) -> None:
        self._owner = owner
        self.label = label
        self.total = total
        self.background = background
        """Runs alongside the later steps and outlives the display (see the module docstring)."""
        self.done = 0
        self.started_s = owner.clock()
        self._last_line_s = self.started_s
        self._task = task
        self.finished = False

    def advance(self, count: int = 1) -> None:
        """``count`` more of the step's ``total`` are done."""
        self.done += count
        now_s = self._owner.clock()
        bar = self._owner.bar
        if bar is not None:
            bar.update(self._task, completed=self.done, count=self._count())
        elif now_s - self._last_line_s >= PLAIN_EVERY_S:
            self._last_line_s = now_s
            _log.info("%s: %s (%.1f s)", self.label, self._count(), now_s - self.started_s)

    def finish(self) -> None:
        """The step is over (its line stays, with its time)."""
        if self.finished:
            return
        self.finished = True
        elapsed_s = self._owner.clock() - self.started_s
        bar = self._owner.bar
        if bar is not None:
            bar.update(
                self._task, completed=self.total if self.total is not None else 1, total=self.total or 1
            )
            bar.stop_task(self._task)
        else:
            counted = f" {self._count()}" if self.total is not None else ""
            _log.info("%s: done%s in %.1f s", self.label, counted, elapsed_s)

    def _count(self) -> str:
        return f"{self.done}/{self.total}" if self.total is not None else ""


class StartupProgress:
    """The start-up's steps, shown as they run (rich on a terminal, else log lines).

    ``interactive``: True forces the rich display, False plain lines, None picks rich when stderr is a
    terminal. ``clock``: monotonic seconds (passed in so tests control time).
    """

    def __init__(
        self, *, interactive: bool | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.bar: Any = None
        self._steps: list[ProgressStep] = []
        self._rerouted: list[tuple[logging.StreamHandler[Any], Any]] = []
        if sys.stderr.isatty() if interactive is None else interactive:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                SpinnerColumn(finished_text="[green]✓"),
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self.bar.start()
            self._reroute_logging()

    def step(self, label: str, total: int | None = None, *, background: bool = False) -> ProgressStep:
        """Start a step (the previous unfinished one is finished first, unless it runs in the
        background); ``total``: how many it counts; ``background``: it runs alongside the next steps
        and goes on after :meth:`close`, until its :meth:`~ProgressStep.finish`."""
        self._finish_foreground()
        task = None
        if self.bar is not None:
            task = self.bar.add_task(label, total=total, count=f"0/{total}" if total is not None else "")
        else:
            _log.info("%s%s", label, f" ({total})" if total is not None else "")
        step = ProgressStep(self, label, total, task, background=background)
        self._steps.append(step)
        return step

    def close(self) -> None:
        """Finish the running step and stop the display; background steps go on as log lines."""
        self._finish_foreground()
        if self.bar is not None:
            for step in self._steps:
                if step.background and not step.finished:
                    self.bar.update(step._task, description=f"{step.label} (goes on in the background)")
            self.bar.stop()
            self.bar = None
            for handler, stream in self._rerouted:
                handler.setStream(stream)
            self._rerouted = []

    def _finish_foreground(self) -> None:
        for step in self._steps:
            if not step.background and not step.finished:
                step.finish()

    def _reroute_logging(self) -> None:
        """Log lines printed while the display is live go above it (through rich's stderr proxy)
        instead of being drawn over by it."""
        for handler in logging.getLogger().handlers:
            if type(handler) is logging.StreamHandler and handler.stream is sys.__stderr__:
                previous = handler.setStream(sys.stderr)
                if previous is not None:
                    self._rerouted.append((handler, previous))
