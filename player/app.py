"""The wiring: the one place that builds Cadence's engines from :class:`~player.settings.Settings`.

``player.cli`` parses options into Settings and dispatches to a command handler; a handler that
needs engines asks this module for them, and nothing else composes them:

- :func:`build_analyzer` — the mood analyzer the settings describe (``cadence mood``, the server).
- :func:`build_engines` — the library (the demo catalog on a first run), the ONNX ranker, the
  interleaving challenger (:func:`build_interleaving`) and the analyzer, loaded and warmed:
  everything a server's sessions use (:class:`Engines`).
- :func:`serve` / :func:`serving` — a websocket server (:mod:`player.server.shell`) on those engines
  (``cadence serve``, and the in-process server of ``cadence listen``).

Model lifetime: the Whisper and Silero VAD models are loaded once per process, lazily, by
``mood.transcribe.load_transcriber`` and ``mood.vad.load_vad`` — that is the one cache of models.
An analyzer only holds on to them; the wiring builds one per process and passes it down.

Typing the real engines into :class:`~player.core.session.SessionDeps` and the shell's
``SpeechAnalyzer`` here is what checks them against the session core's Protocols (mypy).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mood.analyzer import MoodAnalyzer, MoodConfig
from player.cf import CfFile, cf_path
from player.core.interleave import HEURISTIC_CHALLENGER, retrained_name
from player.core.listener import ListenerState
from player.core.mixes import MixBuilder
from player.core.ranking import OnnxRanker, Recommender, default_ranker_path
from player.core.ranking.explain import QueueExplainer
from player.core.ranking.heuristic import SkipAwareRecommender
from player.core.session import Interleaving, SessionDeps, SpeechAnalyzer
from player.core.track import Track
from player.errors import NoLibraryError, RankerError
from player.library.commands import ensure_library
from player.library.store import FeatureMatrix
from player.server.log import InteractionLog
from player.server.shell import check_exposure, open_log, run_server, running_server
from player.settings import HEURISTIC_INTERLEAVE_SHARE, RETRAINED_INTERLEAVE_SHARE, Settings

__all__ = [
    "Engines",
    "build_analyzer",
    "build_engines",
    "build_interleaving",
    "challenger_path",
    "config_from_settings",
    "serve",
    "serving",
]

logger = logging.getLogger(__name__)


def config_from_settings(settings: Settings) -> MoodConfig:
    """The analyzer configuration the settings describe."""
    return MoodConfig(
        engine=settings.whisper_engine,
        model_path=settings.whisper_model,
        asr_model=settings.asr_model,
        asr_cache_dir=settings.asr_dir,
        fitted_window=settings.fitted_window,
        max_utterance_s=settings.max_utterance_s,
        endpoint_silence_ms=settings.endpoint_silence_ms,
    )


def build_analyzer(settings: Settings) -> MoodAnalyzer:
    """A :class:`MoodAnalyzer` for these settings (not warmed; its models come from mood's loaders)."""
    return MoodAnalyzer(config_from_settings(settings))


def challenger_path(settings: Settings) -> Path:
    """Where ``cadence train`` installs a retrained model to be interleaved: ``HOME/models/challenger.onnx``."""
    return settings.models_dir / "challenger.onnx"


def build_interleaving(
    settings: Settings, tracks: list[Track], matrix: FeatureMatrix, recommender: Recommender
) -> Interleaving:
    """The challenger interleaved with ``recommender``: the retrained model at :func:`challenger_path`
    if there is a usable one (interleaved by default on 0.5 of queues), else the skip-aware heuristic
    (by default on none); ``settings.interleave_share`` overrides either default.
    """
    explainer = QueueExplainer(recommender)
    path = challenger_path(settings)
    if path.is_file():
        try:
            name = retrained_name(path.read_bytes())
            challenger = Recommender(tracks, matrix, OnnxRanker.load(path))
            return Interleaving(challenger, name, explainer, default_share=RETRAINED_INTERLEAVE_SHARE)
        except (OSError, RankerError) as exc:
            logger.warning("ignoring the challenger %s (%s); the heuristic is the challenger", path, exc)
    heuristic = SkipAwareRecommender(catalog=recommender.catalog)
    return Interleaving(heuristic, HEURISTIC_CHALLENGER, explainer, default_share=HEURISTIC_INTERLEAVE_SHARE)


@dataclass(frozen=True)
class Engines:
    """Everything loaded once per server: the session core's engines and the speech analyzer."""

    deps: SessionDeps
    analyzer: SpeechAnalyzer


def build_engines(settings: Settings) -> Engines:
    """Load the library (the demo catalog if it is empty), the ranker and the mood analyzer, warmed.

    Raises:
        NoLibraryError: If the library still has no tracks.
        RankerError: If the ranker file is missing, corrupt or of another schema.
        EngineError: If a speech model is missing.
    """
    started = time.perf_counter()
    store = ensure_library(settings)
    try:
        tracks = store.tracks()
        matrix = store.feature_matrix()
        added_at = store.scanned_at()
    finally:
        store.close()
    if not tracks:
        raise NoLibraryError(f"no tracks in {settings.library_db}; run `cadence scan FOLDER`")
    ranker = OnnxRanker.load(default_ranker_path(settings))
    recommender = Recommender(tracks, matrix, ranker)
    interleaving = build_interleaving(settings, tracks, matrix, recommender)
    analyzer = build_analyzer(settings)
    analyzer.warm_up()
    deps = SessionDeps(
        mood=analyzer,
        recommender=recommender,
        tracks={t.id: t for t in tracks},
        interleaving=interleaving,
        mixes=MixBuilder(tracks, added_at=added_at, cf=CfFile(cf_path(settings))),
    )
    # One ranking of each kind and one text reading now, so the first listener does not pay for the warm-up.
    now_s = time.time()
    warm_state = ListenerState("warm-up", local_time=datetime.now().astimezone(), at_s=now_s)
    recommender.recommend(warm_state, count=10, at_s=now_s)
    interleaving.challenger.recommend(warm_state, count=10, at_s=now_s)
    interleaving.explainer.explain(warm_state, [t.id for t in tracks[:10]], at_s=now_s)
    analyzer.analyze_text("warming up")
    share = settings.interleave_share
    logger.info(
        "engines ready: %d tracks, ranker %s, challenger %s on %.0f %% of queues, %s %s (%.1f s)",
        len(tracks),
        default_ranker_path(settings),
        interleaving.name,
        100 * (interleaving.default_share if share is None else share),
        settings.whisper_engine,
        settings.whisper_model or settings.asr_model,
        time.perf_counter() - started,
    )
    return Engines(deps=deps, analyzer=analyzer)


@asynccontextmanager
async def _prepared(
    settings: Settings, engines: Engines | None
) -> AsyncIterator[tuple[Engines, InteractionLog]]:
    """The engines and the opened interaction log, for the duration of the ``async with``.

    An exposed address without a token, and a damaged log, are refused before seconds go into the
    models; the log is opened (and checked) once, here, and handed to the server.
    """
    check_exposure(settings)
    log = await asyncio.to_thread(open_log, settings)
    try:
        yield (engines if engines is not None else await asyncio.to_thread(build_engines, settings)), log
    finally:
        log.close()


async def serve(
    settings: Settings,
    engines: Engines | None = None,
    *,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (forever if None) on ``engines`` (built from ``settings`` if None).

    Raises:
        CadenceError: If the address needs a token (``token_required``), or the library, ranker or
            speech models cannot be loaded.
        OSError: If the address is in use.
    """
    async with _prepared(settings, engines) as (built, log):
        await run_server(settings, deps=built.deps, analyzer=built.analyzer, ready=ready, stop=stop, log=log)


@asynccontextmanager
async def serving(settings: Settings, engines: Engines | None = None) -> AsyncIterator[str]:
    """A server for the duration of the ``async with`` (engines built if None); yields its URL.

    Raises:
        CadenceError, OSError: As :func:`serve`.
    """
    async with (
        _prepared(settings, engines) as (built, log),
        running_server(settings, deps=built.deps, analyzer=built.analyzer, log=log) as url,
    ):
        yield url
