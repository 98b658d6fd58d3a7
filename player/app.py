"""The player's side of mood/: one analyzer per process, and the `cadence mood` / `cadence models` commands."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from mood.analyzer import EngineName, MoodAnalyzer, MoodConfig
from mood.types import MoodEstimate
from player.settings import Settings

__all__ = ["build_analyzer", "cmd_models", "cmd_mood", "config_from_settings", "format_estimate"]


def config_from_settings(settings: Settings) -> MoodConfig:
    """The analyzer configuration the settings describe.

    Raises:
        EngineError: If the engine name is unknown.
    """
    from mood.errors import EngineError

    if settings.whisper_engine not in ("faster-whisper", "openai-whisper"):
        raise EngineError(f"unknown Whisper engine {settings.whisper_engine!r}")
    engine: EngineName = "openai-whisper" if settings.whisper_engine == "openai-whisper" else "faster-whisper"
    return MoodConfig(
        engine=engine,
        model_path=settings.whisper_model,
        fitted_window=settings.fitted_window,
        max_utterance_s=settings.max_utterance_s,
        endpoint_silence_ms=settings.endpoint_silence_ms,
    )


@functools.lru_cache(maxsize=4)
def _analyzer(config: MoodConfig) -> MoodAnalyzer:
    return MoodAnalyzer(config)


def build_analyzer(settings: Settings) -> MoodAnalyzer:
    """The process's :class:`MoodAnalyzer` for these settings (one per configuration, cached; not warmed)."""
    return _analyzer(config_from_settings(settings))


def format_estimate(estimate: MoodEstimate) -> str:
    """One human line: label, valence, energy, confidence, transcript and intents."""
    line = (
        f"{estimate.label:8s} valence {estimate.valence:.2f}  energy {estimate.energy:.2f}  "
        f"confidence {estimate.confidence:.2f}"
    )
    if estimate.transcript:
        line += f"  “{estimate.transcript}”"
    if estimate.intents:
        line += "  intents: " + ", ".join(f"{i.kind} ({i.strength:.1f})" for i in estimate.intents)
    return line


def cmd_mood(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence mood --text "..." | --wav FILE [--json]`: print one MoodEstimate."""
    analyzer = build_analyzer(settings)
    if args.text is not None:
        estimate = analyzer.analyze_text(args.text)
    else:
        from mood.audio import load_wav

        samples, rate = load_wav(Path(args.wav))
        estimate = analyzer.analyze_utterance(samples, rate)
    if args.json:
        print(json.dumps(estimate.to_dict(), ensure_ascii=False))
    else:
        print(format_estimate(estimate))
    return 0


def cmd_models(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence models whisper-convert [SRC_DIR] OUT.pt`: a CTranslate2 Whisper directory (the bundled
    tiny.en by default) to an openai-whisper checkpoint."""
    if args.models_command != "whisper-convert":  # argparse allows only known actions
        print(f"unknown models action {args.models_command!r}", file=sys.stderr)
        return 2
    paths: list[Path] = list(args.paths)
    if len(paths) > 2:
        print("usage: cadence models whisper-convert [SRC_DIR] OUT.pt", file=sys.stderr)
        return 2
    src, out = (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])
    from mood.whisper_convert import convert_ct2_to_openai

    written = convert_ct2_to_openai(src, out)
    print(f"wrote {written}")
    return 0
