"""Streaming recognition on a real server: hands-free espeak-ng speech streamed at real time through
real VAD and Whisper; ``transcript.partial`` while the listener speaks, then ``mood`` and ``queue``.
And the speech pool's rule for the partial decodes (unit)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from player.app import Engines
from player.server.shell import SpeechPool
from tests.support.server import MORNING, connect, serving, shared_engines, spoken, with_silence


@pytest.fixture(scope="module")
def engines(demo_home: Path) -> Engines:
    return shared_engines(demo_home)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=300))


@pytest.mark.slow
def test_hands_free_speech_gets_partials_before_its_mood_and_queue(engines: Engines, tmp_path: Path) -> None:
    """A client streaming a 4 s request at real time, hands-free (the server's endpointing, no
    audio.stop until after it), receives `transcript.partial` before the `mood`, all with the
    utterance's start_s, then the `queue`; the mood's transcript is the whole request."""

    async def scenario() -> list[dict[str, Any]]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            samples, rate = spoken("I had a long day at work, please play something calm and quiet")
            # 3 s of silence after it: time for the endpoint to close it before audio.stop, even on a busy machine
            audio = with_silence(samples, rate, 0.3, 3.0)
            streaming = asyncio.create_task(client.stream_audio(audio, rate, chunk_ms=20, realtime=True))
            await client.wait_for("mood", timeout=120)
            await client.wait_for("queue", timeout=60)
            await streaming
            await client.wait_for("ack", timeout=60)
            await client.end_session()
            return client.history

    history = run(scenario())
    kinds = [m["type"] for m in history]
    mood_at = kinds.index("mood")
    partials = [m for m in history[:mood_at] if m["type"] == "transcript.partial"]
    mood = history[mood_at]
    assert partials, kinds
    assert "transcript.partial" not in kinds[mood_at:]
    assert all(p["start_s"] == mood["start_s"] for p in partials)
    assert [p["heard_s"] for p in partials] == sorted(p["heard_s"] for p in partials)
    assert kinds.index("queue", mood_at) > mood_at
    assert "calm" in mood["transcript"].lower() and "day" in mood["transcript"].lower(), mood
    assert any(i["kind"] == "calmer" for i in mood["intents"]), mood
    # the endpoint closed it, not audio.stop: its silence event came before the ack of audio.stop
    silence_at = kinds.index("vad", kinds.index("vad") + 1)
    assert history[silence_at]["state"] == "silence" and silence_at < kinds.index("ack")


def test_background_jobs_only_take_an_idle_worker() -> None:
    """Partial decodes are admitted only while a worker would idle, never count against the busy
    limit, and an utterance is still admitted while one runs."""
    pool = SpeechPool(workers=2, waiting=0)
    try:
        assert pool.try_background() and pool.try_background()
        assert not pool.try_background()  # both workers taken
        assert pool.reserve() and pool.reserve()  # utterances are admitted all the same
        assert not pool.reserve()  # ... up to the capacity, as before
        pool.release_background()
        pool.release_background()
        assert not pool.try_background()  # two utterances hold both workers
        pool.release()
        assert pool.try_background()
        assert not pool.try_background()
    finally:
        pool.shutdown()


def test_endpointing_is_a_serve_option_that_reaches_the_analyzer(tmp_path: Path) -> None:
    """`cadence serve --endpointing silence` turns the streaming decode off in the analyzer's config;
    smart is the default; an unknown mode is refused."""
    from player.app import config_from_settings
    from player.cli import build_parser, settings_from_args
    from player.settings import Settings

    args = build_parser().parse_args(["serve", "--home", str(tmp_path), "--endpointing", "silence"])
    assert config_from_settings(settings_from_args(args, environ={})).endpointing == "silence"
    assert config_from_settings(Settings(home=tmp_path)).endpointing == "smart"
    with pytest.raises(ValueError):
        Settings(home=tmp_path, endpointing="eager")  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--endpointing", "eager"])
