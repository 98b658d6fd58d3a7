"""Speech end to end: espeak-ng audio streamed to a real server, through real VAD, Whisper and prosody."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from player.app import Engines
from player.server.log import InteractionLog
from tests.support.server import (
    MORNING,
    connect,
    mean_energy,
    serving,
    shared_engines,
    spoken,
    with_silence,
)


@pytest.fixture(scope="module")
def engines(demo_home: Path) -> Engines:
    return shared_engines(demo_home)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=300))


async def _say(
    client: Any, text: str, *, arousal: int | None = None, realtime: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    samples, rate = spoken(text, arousal=arousal)
    await client.stream_audio(with_silence(samples, rate), rate, chunk_ms=40, realtime=realtime)
    mood = await client.wait_for("mood", timeout=120)
    queue = await client.wait_for("queue", timeout=60)
    return mood, queue


@pytest.mark.slow
def test_spoken_tired_then_pumped_moves_the_queue(engines: Engines, tmp_path: Path) -> None:
    """A tired 'ugh, I'm exhausted' then an excited 'let's go, I'm pumped for my run', spoken: queue energy down, then up."""

    async def scenario() -> tuple[
        float, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], list[str]
    ]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            first = await client.start_session(local_time=MORNING, listener_id="speaker")
            tired_mood, tired = await _say(client, "ugh, I'm exhausted", arousal=0)
            pumped_mood, pumped = await _say(client, "let's go, I'm pumped for my run", arousal=3)
            await client.end_session()
            vad = [m["state"] for m in client.history if m["type"] == "vad"]
            return mean_energy(first), tired_mood, tired, pumped_mood, pumped, vad

    start, tired_mood, tired, pumped_mood, pumped, vad = run(scenario())
    assert tired_mood["source"] == "voice" and "exhausted" in tired_mood["transcript"].lower()
    assert "pumped" in pumped_mood["transcript"].lower(), pumped_mood["transcript"]
    assert tired_mood["energy"] < pumped_mood["energy"]
    assert mean_energy(tired) < start and mean_energy(pumped) > mean_energy(tired) + 0.1
    assert vad[:2] == ["speech", "silence"] and vad.count("speech") == vad.count("silence")


@pytest.mark.slow
def test_realtime_stream_two_utterances_and_a_spoken_skip(engines: Engines, tmp_path: Path) -> None:
    """Two utterances in one real-time stream give two voice moods; 'skip this song' skips the playing track."""

    async def scenario() -> tuple[list[dict[str, Any]], str]:
        async with serving(engines, tmp_path) as (url, _):
            client = await connect(url)
            queue = await client.start_session(local_time=MORNING, listener_id="skipper")
            playing = queue["tracks"][0]["id"]
            await client.playback("started", playing, 0.0)
            await client.wait_for("ack")
            a, rate = spoken("I'm so tired today")
            b, _ = spoken("skip this song")
            audio = np.concatenate([with_silence(a, rate, 0.2, 1.2), with_silence(b, rate, 0.0, 1.0)])
            await client.stream_audio(audio, rate, chunk_ms=20, realtime=True)
            await client.wait_for("mood", timeout=60)
            await client.wait_for("mood", timeout=60)
            await client.wait_for("queue", timeout=60)
            await client.end_session()
            return client.history, playing

    history, playing = run(scenario())
    moods = [m for m in history if m["type"] == "mood"]
    assert len(moods) == 2 and moods[0]["end_s"] < moods[1]["start_s"]
    assert any(i["kind"] == "skip" for i in moods[1]["intents"]), moods[1]
    assert {"type": "control", "action": "skip", "track_id": playing} in history
    with InteractionLog(tmp_path / "log.db") as log:
        skips = [e for e in log.events("skipper") if e.kind == "skipped"]
    assert (
        [e.track_id for e in skips] == [playing]
        and skips[0].position_s is not None
        and skips[0].position_s > 1.0
    )


@pytest.mark.slow
def test_full_speech_pool_answers_busy(engines: Engines, tmp_path: Path) -> None:
    """With one speech worker and no queue, utterances arriving while it works get `busy`, not a backlog."""

    async def scenario() -> list[dict[str, Any]]:
        async with serving(engines, tmp_path, speech_workers=1, speech_queue=0) as (url, _):
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            one, rate = spoken("I feel great today, really great")
            audio = np.concatenate([with_silence(one, rate, 0.2, 0.9)] * 4)
            await client.stream_audio(audio, rate, chunk_ms=100)
            await client.wait_for("ack", timeout=60, raise_errors=False)
            results = [m for m in client.history if m["type"] in ("mood", "error")]
            while len(results) < 4:
                message = await client.receive(timeout=120)
                if message["type"] in ("mood", "error"):
                    results.append(message)
            await client.next(2)
            await client.wait_for("queue", timeout=30)
            await client.end_session()
            return results

    results = run(scenario())
    codes = [r.get("code") for r in results if r["type"] == "error"]
    assert "busy" in codes and set(codes) == {"busy"}
    assert any(r["type"] == "mood" for r in results)


@pytest.mark.slow
def test_utterance_over_the_limit_is_refused(engines: Engines, tmp_path: Path) -> None:
    """Speech that runs past max_utterance_s gets `audio_too_long` for every piece of it (the first
    one too, which the stream's start made shorter than the limit); the session goes on."""
    types_seen: list[str] = []

    async def scenario() -> list[str]:
        async with serving(engines, tmp_path, max_utterance_s=1.5) as (url, _):
            client = await connect(url)
            await client.start_session(local_time=MORNING)
            long, rate = spoken(
                "this is a rather long sentence that keeps going on and on without any pause at all",
                arousal=3,
            )
            await client.stream_audio(with_silence(long, rate), rate)
            await client.wait_for("ack", timeout=60, raise_errors=False)
            await client.next(1)
            await client.wait_for("queue", timeout=60, raise_errors=False)
            await client.end_session()
            types_seen.extend(m["type"] for m in client.history)
            return [m["code"] for m in client.history if m["type"] == "error"]

    codes = run(scenario())
    assert "audio_too_long" in codes
    assert "mood" not in types_seen, "a piece of the over-long speech was analysed as an utterance"


@pytest.mark.slow
def test_a_returning_speaker_keeps_their_baseline(engines: Engines, tmp_path: Path) -> None:
    """A named listener's prosodic baseline is stored after each utterance and picked up by the next session."""

    async def one_session(url: str, text: str) -> None:
        client = await connect(url)
        await client.start_session(local_time=MORNING, listener_id="dana")
        await _say(client, text)
        await client.end_session()

    async def scenario() -> list[float]:
        counts = []
        async with serving(engines, tmp_path) as (url, _):
            for text in ("I'm so tired today", "I love this song"):
                await one_session(url, text)
                with InteractionLog(tmp_path / "log.db") as log:
                    stored = log.baseline("dana")
                assert stored is not None
                counts.append(stored["utterances"])
            anonymous = await connect(url)
            await anonymous.start_session(local_time=MORNING)
            await _say(anonymous, "I'm so tired today")
            await anonymous.end_session()
        return counts

    assert run(scenario()) == [1, 2]
    with InteractionLog(tmp_path / "log.db") as log:
        assert [lid for lid in log.listeners() if log.baseline(lid) is not None] == ["dana"]
