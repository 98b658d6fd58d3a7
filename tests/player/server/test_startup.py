"""Start-up (issue 14): the steps are shown as they run, and typed text is answered while the voice
models are still loading (audio is answered ``busy`` until they are ready, then heard)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from player.app import Engines, build_engines, serve
from player.client import ServerError
from player.settings import Settings
from player.startup import PLAIN_EVERY_S, StartupProgress
from tests.support.server import MORNING, connect, copy_library, serving, spoken, with_silence


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=300))


class _Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_plain_progress_lines_start_count_every_few_seconds_and_end(caplog: pytest.LogCaptureFixture) -> None:
    """Off a terminal each step is a line when it starts, a count at most every PLAIN_EVERY_S while it
    runs, and a line with its time when it ends (or when the next step starts)."""
    caplog.set_level(logging.INFO, logger="player.startup")
    clock = _Clock()
    progress = StartupProgress(interactive=False, clock=clock)
    step = progress.step("scanning", 10)
    for _ in range(4):
        clock.now_s += PLAIN_EVERY_S / 2
        step.advance()
    clock.now_s += 1.0
    progress.step("loading the ranker")
    clock.now_s += 0.25
    progress.close()
    progress.close()  # closing twice is harmless
    assert [r.getMessage() for r in caplog.records] == [
        "scanning (10)",
        "scanning: 2/10 (2.0 s)",
        "scanning: 4/10 (4.0 s)",
        "scanning: done 4/10 in 5.0 s",
        "loading the ranker",
        "loading the ranker: done in 0.2 s",
    ]


def test_a_terminal_gets_a_live_display_and_no_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    """With the rich display the steps are not logged (the display shows them) and close stops it."""
    caplog.set_level(logging.INFO, logger="player.startup")
    progress = StartupProgress(interactive=True)
    step = progress.step("scanning", 3)
    step.advance(3)
    assert progress.bar is not None and progress.bar.tasks[0].completed == 3
    progress.close()
    assert progress.bar is None and caplog.records == []


@pytest.fixture(scope="module")
def text_first_engines(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Engines:
    """The demo library's engines as `cadence serve` builds them: voice models not loaded yet."""
    home = tmp_path_factory.mktemp("text-first")
    copy_library(demo_home, home)
    return build_engines(Settings(home=home), defer_voice=True)


@pytest.mark.integration
def test_text_is_answered_and_audio_is_busy_while_the_voice_models_load(
    text_first_engines: Engines, tmp_path: Path
) -> None:
    """Before the voice gate opens: a typed mood gets its mood and queue; audio gets `error busy` (and
    its `audio.stop` an ack) on the same connection, which stays usable."""
    engines = text_first_engines
    assert engines.voice is not None and not engines.voice.ready
    samples, rate = spoken("I feel great today")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], ServerError, dict[str, Any]]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            await client.send_text("I'm exhausted")
            mood = await client.wait_for("mood")
            queue = await client.wait_for("queue")
            await client.stream_audio(with_silence(samples, rate), rate, chunk_ms=40)
            with pytest.raises(ServerError) as busy:
                await client.wait_for("ack", timeout=30)
            await client.wait_for("ack", timeout=30)
            await client.send_text("something calmer")
            after = await client.wait_for("queue")
            await client.end_session()
            return mood, queue, busy.value, after

    mood, queue, busy, after = run(scenario())
    assert mood["label"] and queue["tracks"] and after["tracks"]
    assert busy.code == "busy" and "voice models" in busy.message
    assert not engines.voice.ready


@pytest.mark.slow
def test_serve_shows_its_steps_answers_text_then_hears_voice(
    demo_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`serve` (as `cadence serve` runs it) shows its steps, then answers text as soon as it is ready;
    once the voice models have loaded in the background, speech is heard."""
    caplog.set_level(logging.INFO)
    home = tmp_path / "home"
    copy_library(demo_home, home)
    settings = replace(Settings(home=home), port=0)
    samples, rate = spoken("I feel great today")

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        stop = asyncio.Event()
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        server = asyncio.create_task(serve(settings, ready=ready.set_result, stop=stop))
        try:
            url = await asyncio.wait_for(ready, timeout=120)
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            await client.send_text("I'm exhausted")
            queue = await client.wait_for("queue")
            for _ in range(600):  # the voice models load in the background: ask until they are ready
                await client.stream_audio(with_silence(samples, rate), rate, chunk_ms=40)
                try:
                    mood = await client.wait_for("mood", timeout=60)
                    break
                except ServerError as exc:
                    assert exc.code == "busy"
                    await client.wait_for("ack", timeout=30)
                    await asyncio.sleep(0.2)
            await client.end_session()
            return queue, mood
        finally:
            stop.set()
            await server

    queue, mood = run(scenario())
    assert queue["tracks"] and "great" in mood["transcript"].lower() and np.isfinite(mood["energy"])
    startup = [r.getMessage() for r in caplog.records if r.name == "player.startup"]
    assert startup[0] == "loading the library, the ranker and the text reader"
    assert startup[1].startswith("loading the library, the ranker and the text reader: done in ")
    assert any(r.getMessage().startswith("voice ready: models loaded and warmed in ") for r in caplog.records)
