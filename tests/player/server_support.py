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

import numpy as np
import soundfile

from player.client import CadenceClient
from player.server import Engines, build_engines, running_server
from player.settings import Settings
from tests.player.test_protocol import check_documented

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
    async with running_server(config, engines=engines) as url:
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


@functools.cache
def spoken(text: str, *, rate_wpm: int = 160) -> tuple[np.ndarray, int]:
    """``text`` spoken by espeak-ng: (float32 mono samples, sample rate)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-s", str(rate_wpm), "-w", str(wav), text], check=True, capture_output=True)
        samples, rate = soundfile.read(str(wav), dtype="float32")
    return samples, int(rate)


def with_silence(samples: np.ndarray, rate: int, before_s: float = 0.3, after_s: float = 1.0) -> np.ndarray:
    """Pad speech with silence, as a microphone would hear it."""
    return np.concatenate(
        [np.zeros(int(before_s * rate), np.float32), samples, np.zeros(int(after_s * rate), np.float32)]
    )


def dump(messages: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(m)[:300] for m in messages)
