"""The wiring: settings become engine configurations, and servers are composed in the right order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mood.analyzer import MoodAnalyzer
from mood.errors import CadenceError
from player.app import build_analyzer, config_from_settings, serving
from player.settings import Settings


def test_voice_settings_become_the_analyzer_config(tmp_path: Path) -> None:
    """Engine, model, window, utterance limit and endpointing silence are taken from Settings."""
    settings = Settings(
        home=tmp_path,
        whisper_engine="openai-whisper",
        whisper_model=tmp_path / "m.pt",
        fitted_window=False,
        asr_prompt=True,
        second_hearing=False,
        endpoint_silence_ms=400,
        max_utterance_s=12.0,
    )
    config = config_from_settings(settings)
    assert (config.engine, config.model_path, config.fitted_window) == (
        "openai-whisper",
        tmp_path / "m.pt",
        False,
    )
    assert (config.endpoint_silence_ms, config.max_utterance_s, config.asr_prompt) == (400, 12.0, True)
    assert config.second_hearing is False
    analyzer = build_analyzer(settings)
    assert isinstance(analyzer, MoodAnalyzer) and analyzer.config == config


@pytest.mark.integration
def test_models_are_loaded_once_per_process_by_the_mood_loaders(tmp_path: Path) -> None:
    """Two analyzers built from the same settings share one VAD model: mood's loader is the one cache."""
    first, second = build_analyzer(Settings(home=tmp_path)), build_analyzer(Settings(home=tmp_path / "b"))
    assert first is not second
    assert first.vad() is second.vad()


def test_serving_checks_the_address_before_building_engines(tmp_path: Path) -> None:
    """An exposed address without a token is refused at once, before the library or models load."""

    async def start() -> None:
        async with serving(Settings(home=tmp_path, host="0.0.0.0")):
            raise AssertionError("the server started")

    with pytest.raises(CadenceError) as exc:
        asyncio.run(start())
    assert exc.value.code == "token_required"
    assert not (tmp_path / "library.db").exists()


def test_serving_refuses_a_damaged_log_before_building_engines(tmp_path: Path) -> None:
    """A damaged log.db is refused before the library or models load, and left as it is."""
    log_db = tmp_path / "log.db"
    log_db.write_bytes(b"this is not sqlite" * 100)
    before = log_db.read_bytes()

    async def start() -> None:
        async with serving(Settings(home=tmp_path)):
            raise AssertionError("the server started")

    with pytest.raises(CadenceError) as exc:
        asyncio.run(start())
    assert exc.value.code == "database_corrupt"
    assert not (tmp_path / "library.db").exists()
    assert log_db.read_bytes() == before
