"""Start-up progress with a step in the background: the first run's demo catalog goes on alongside the
next steps and after the display closes ("ready"), as log lines, until it ends."""

from __future__ import annotations

import logging

import pytest

from player.startup import PLAIN_EVERY_S, StartupProgress


class _Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_a_background_step_outlives_later_steps_and_the_display(caplog: pytest.LogCaptureFixture) -> None:
    """A later step and close() end the foreground step only; the background step keeps counting in
    log lines and ends with its own "done" line."""
    caplog.set_level(logging.INFO, logger="player.startup")
    clock = _Clock()
    progress = StartupProgress(interactive=False, clock=clock)
    demo = progress.step("making the catalog", 10, background=True)
    loading = progress.step("loading")
    clock.now_s += 1.0
    demo.advance(4)
    progress.step("warming")
    assert loading.finished and not demo.finished
    progress.close()
    assert not demo.finished
    clock.now_s += PLAIN_EVERY_S
    demo.advance(3)
    clock.now_s += 1.0
    demo.advance(3)
    demo.finish()
    assert [r.getMessage() for r in caplog.records] == [
        "making the catalog (10)",
        "loading",
        "loading: done in 1.0 s",
        "warming",
        "warming: done in 0.0 s",
        "making the catalog: 7/10 (3.0 s)",
        "making the catalog: done 10/10 in 4.0 s",
    ]


def test_closing_the_display_leaves_a_background_step_running() -> None:
    """On a terminal, close() stops the display but not the background step: its row says it goes on,
    and it counts on (as log lines) until it finishes."""
    progress = StartupProgress(interactive=True)
    demo = progress.step("making the catalog", 3, background=True)
    demo.advance()
    bar = progress.bar
    progress.step("loading")
    progress.close()
    assert progress.bar is None and not demo.finished
    assert bar.tasks[0].description == "making the catalog (goes on in the background)"
    assert bar.tasks[1].finished
    demo.advance(2)
    demo.finish()
    assert demo.finished and demo.done == 3
