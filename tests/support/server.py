"""Shared pieces of the real-server tests: engines loaded once, servers on free loopback ports, speech."""

from __future__ import annotations

import functools
import json
import sqlite3
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import soundfile

from player.app import Engines, build_engines
from player.app import serving as app_serving
from player.client import CadenceClient
from player.settings import Settings
from tests.support.protocol_doc import check_documented

MORNING = "2026-05-04T07:30:00+02:00"
"""A Monday morning, listener-local."""


@functools.cache
def shared_engines(demo_home: Path) -> Engines:
    """The real library (demo catalog), ranker and mood analyzer, loaded and warmed once per test run."""
    return build_engines(Settings(home=demo_home))


def copy_library(demo_home: Path, home: Path) -> None:
    """Give ``home`` its own copy of the demo library (SQLite backup: safe while others read it)."""
    home.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(demo_home / "library.db")
    dst = sqlite3.connect(home / "library.db")
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


@asynccontextmanager
async def serving(engines: Engines, home: Path, **settings: Any) -> AsyncIterator[tuple[str, Settings]]:
    """A real server on a free loopback port with its log under ``home``; yields (url, settings)."""
    config = replace(Settings(home=home), port=0, **settings)
    async with app_serving(config, engines) as url:
        yield url, config


class CheckedClient(CadenceClient):
    """A CadenceClient that validates every message it receives against docs/protocol.md."""

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        message = await super().receive(timeout)
        check_documented(message)
        return message


async def connect(url: str, **kwargs: Any) -> CheckedClient:
    client = await CheckedClient.connect(url, **kwargs)
    assert isinstance(client, CheckedClient)
    return client


def mean_energy(queue: dict[str, Any]) -> float:
    return float(np.mean([t["energy"] for t in queue["tracks"]]))


# Arousal as a speaker carries it (SSML prosody: rate, pitch, pitch range, volume), the same levels
# as the mood corpus of tests/mood: 0 is a tired voice, 3 an excited one.
_AROUSAL = {
    0: ("75%", "-25%", "50%", "-50%"),
    1: ("88%", "-8%", "85%", "-20%"),
    2: ("100%", "+18%", "120%", "+20%"),
    3: ("112%", "+40%", "160%", "+60%"),
}


@functools.cache
def spoken(text: str, *, arousal: int | None = None, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng (en-us, 150 words per minute), optionally at an arousal level 0–3.

    Returns (float32 mono samples, sample rate). en-us at 150 wpm is what Whisper tiny.en
    transcribes these test phrases right from ("pumped" became "bumped" with the default voice).
    """
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        command = ["espeak-ng", "-v", voice, "-s", "150", "-w", str(wav)]
        if arousal is None:
            command.append(text)
        else:
            rate, pitch, span, volume = _AROUSAL[arousal]
            ssml = (
                f'<speak><prosody rate="{rate}" pitch="{pitch}" range="{span}" volume="{volume}">'
                f"{escape(text)}</prosody></speak>"
            )
            command += ["-m", ssml]
        subprocess.run(command, check=True, capture_output=True)
        samples, rate_hz = soundfile.read(str(wav), dtype="float32")
    return samples, int(rate_hz)


def with_silence(samples: np.ndarray, rate: int, before_s: float = 0.3, after_s: float = 1.0) -> np.ndarray:
    """Pad speech with silence, as a microphone would hear it."""
    return np.concatenate(
        [np.zeros(int(before_s * rate), np.float32), samples, np.zeros(int(after_s * rate), np.float32)]
    )


def dump(messages: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(m)[:300] for m in messages)
