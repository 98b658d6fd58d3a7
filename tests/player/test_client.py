"""`cadence client` against a real server running in a background thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from player.app import Engines, serve
from player.cli import main
from player.client import pcm_s16le
from player.settings import Settings
from tests.support.server import shared_engines, spoken, with_silence


@pytest.fixture
def server_url(demo_home: Path, tmp_path: Path) -> Iterator[str]:
    """A real server with the shared engines on its own thread and loop; yields its URL."""
    engines: Engines = shared_engines(demo_home)
    settings = replace(Settings(home=tmp_path), port=0)
    ready = threading.Event()
    urls: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(
        target=lambda: loop.run_until_complete(serve(settings, engines, ready=on_ready, stop=stop)),
        daemon=True,
    )
    thread.start()
    assert ready.wait(timeout=120), "server did not start"
    try:
        yield urls[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()


def test_pcm_s16le_clips_and_interleaves() -> None:
    """Float samples become little-endian int16, clipped, channels interleaved."""
    stereo = np.array([[0.0, 1.0], [-1.0, 2.0]], dtype=np.float32)
    assert np.frombuffer(pcm_s16le(stereo), "<i2").tolist() == [0, 32767, -32767, 32767]


@pytest.mark.integration
def test_cadence_client_text_prints_mood_and_queue(
    server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence client --text` prints the mood it caused and the queue that followed."""
    assert main(["client", "--url", server_url, "--text", "ugh, I'm exhausted"]) == 0
    out = capsys.readouterr().out
    assert "mood: " in out and "energy" in out and "queue (mood" in out and " 10. " in out


@pytest.mark.slow
def test_cadence_client_streams_a_wav(
    server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`cadence client --wav F --realtime --json` streams speech and prints its voice mood and queue as JSON."""
    samples, rate = spoken("let's go, I'm pumped for my run")
    wav = tmp_path / "pumped.wav"
    soundfile.write(str(wav), with_silence(samples, rate), rate)
    assert main(["client", "--url", server_url, "--wav", str(wav), "--realtime", "--json"]) == 0
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [m["type"] for m in messages] == ["mood", "queue"]
    assert messages[0]["source"] == "voice" and "pumped" in messages[0]["transcript"].lower()


def test_cadence_client_reports_an_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    """No server at the URL: a one-line error and exit status 2, not a traceback."""
    assert main(["client", "--url", "ws://127.0.0.1:9", "--text", "hi"]) == 2
    assert "error [unreachable]" in capsys.readouterr().err
