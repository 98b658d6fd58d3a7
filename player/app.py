"""The wiring: the one place that builds Cadence's engines from :class:`~player.settings.Settings`.

``player.cli`` parses options into Settings and dispatches to a command handler; a handler that
needs engines asks this module for them, and nothing else composes them:

- :func:`build_analyzer` — the mood analyzer the settings describe (``cadence mood``, the server).
- :func:`build_engines` — the library (the demo catalog on a first run), the ONNX ranker, the
  interleaving challenger (:func:`build_interleaving`) and the analyzer, loaded and warmed:
  everything a server's sessions use (:class:`Engines`).
- :func:`serve` / :func:`serving` — a websocket server (:mod:`player.server.shell`) on those engines
  (``cadence serve``, and the in-process server of ``cadence listen``).

Start-up order of ``cadence serve`` (issue 14): the library (on a first run the demo catalog,
synthesised and scanned at once), the ranker and the text reader are ready first and the socket opens
on them, so typed text is answered at once; the voice models (Whisper, VAD) load and warm after that,
behind a :class:`VoiceGate` that answers audio with ``busy`` until they are ready. Each step is shown
as it runs (:class:`player.startup.StartupProgress`: rich on a terminal, log lines otherwise).

Model lifetime: the Whisper and Silero VAD models are loaded once per process, lazily, by
``mood.transcribe.load_transcriber`` and ``mood.vad.load_vad`` — that is the one cache of models.
An analyzer only holds on to them; the wiring builds one per process and passes it down.

Typing the real engines into :class:`~player.core.session.SessionDeps` and the shell's
``SpeechAnalyzer`` here is what checks them against the session core's Protocols (mypy).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mood.analyzer import MoodAnalyzer, MoodConfig
from mood.errors import CadenceError
from mood.prosody import SpeakerBaseline
from mood.stream import Utterance
from mood.types import MoodEstimate
from player.cf import CfFile, cf_path
from player.core.interleave import HEURISTIC_CHALLENGER, retrained_name
from player.core.listener import ListenerState
from player.core.mixes import MixBuilder
from player.core.ranking import OnnxRanker, Recommender, default_ranker_path
from player.core.ranking.explain import QueueExplainer
from player.core.ranking.heuristic import SkipAwareRecommender
from player.core.records import SampleFormat
from player.core.session import Interleaving, SessionDeps, SpeechAnalyzer, UtteranceStreamLike
from player.core.track import Track
from player.errors import NoLibraryError, RankerError
from player.library.commands import ensure_library
from player.library.store import FeatureMatrix
from player.server.logstore import LogStore
from player.server.shell import check_exposure, open_log, run_server, running_server
from player.settings import HEURISTIC_INTERLEAVE_SHARE, RETRAINED_INTERLEAVE_SHARE, Settings
from player.startup import StartupProgress

__all__ = [
    "Engines",
    "VoiceGate",
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
        endpointing=settings.endpointing,
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
            challenger = Recommender(tracks, matrix, OnnxRanker.load(path), cf=recommender.cf)
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
    voice: VoiceGate | None = None
    """The gate in front of ``analyzer`` when its voice models are still to be loaded (by :func:`serve`,
    once the server listens); None when they were loaded with the rest."""


class VoiceGate:
    """The speech analyzer of a server that answers before its voice models are loaded.

    Until :meth:`load` has loaded and warmed Whisper and the VAD, :meth:`open_stream` and
    :meth:`analyze_utterance` raise :class:`~mood.errors.CadenceError` ``busy`` (the client sends the
    audio again in a moment; typed text never goes through here). If loading failed they raise its error
    (``engine_unavailable``) from then on, and the server keeps answering typed text.
    """

    def __init__(self, analyzer: MoodAnalyzer) -> None:
        self.analyzer = analyzer
        self._ready = threading.Event()
        self._failure: CadenceError | None = None

    @property
    def ready(self) -> bool:
        """Whether the voice models are loaded and warm."""
        return self._ready.is_set()

    def load(self) -> None:
        """Load and warm the voice models (seconds; run it off the event loop), then open the gate.
        Never raises: a failure is logged and answered to every later voice request."""
        started = time.perf_counter()
        try:
            self.analyzer.warm_up()
        except CadenceError as exc:
            self._failure = exc
            logger.error("voice models could not be loaded (%s); typed text is still answered", exc.message)
            return
        except Exception as exc:  # an engine's own error: voice is unavailable, the server goes on
            logger.exception("voice models could not be loaded; typed text is still answered")
            self._failure = CadenceError(
                f"the voice models could not be loaded: {exc}", code="engine_unavailable"
            )
            return
        self._ready.set()
        logger.info("voice ready: models loaded and warmed in %.1f s", time.perf_counter() - started)

    def _check(self) -> None:
        if self._ready.is_set():
            return
        if self._failure is not None:
            raise CadenceError(self._failure.message, code=self._failure.code)
        raise CadenceError(
            "the server is still loading its voice models (a few seconds after it starts); "
            "typed text is answered now: send the audio again shortly",
            code="busy",
        )

    def open_stream(
        self, sample_rate: int, channels: int, sample_format: SampleFormat
    ) -> UtteranceStreamLike:
        """As :meth:`MoodAnalyzer.open_stream`, once the models are ready.

        Raises:
            CadenceError: ``busy`` while the models load; the loading error if they failed to load.
        """
        self._check()
        return self.analyzer.open_stream(sample_rate, channels, sample_format)

    def analyze_utterance(
        self, utterance: Utterance, *, baseline: SpeakerBaseline | None = None
    ) -> MoodEstimate:
        """As :meth:`MoodAnalyzer.analyze_utterance`, once the models are ready.

        Raises:
            CadenceError: ``busy`` while the models load; the loading error if they failed to load.
        """
        self._check()
        return self.analyzer.analyze_utterance(utterance, baseline=baseline)


def build_engines(
    settings: Settings, *, progress: StartupProgress | None = None, defer_voice: bool = False
) -> Engines:
    """Load the library (the demo catalog if it is empty), the ranker and the mood analyzer, warmed.

    ``defer_voice``: leave the voice models for later, behind a :class:`VoiceGate` (``Engines.voice``;
    its :meth:`~VoiceGate.load` is the caller's to run), so a server can answer typed text sooner.
    ``progress`` shows each step.

    Raises:
        NoLibraryError: If the library still has no tracks.
        RankerError: If the ranker file is missing, corrupt or of another schema.
        EngineError: If a speech model is missing (not with ``defer_voice``: then voice requests are
            answered with the error).
    """
    started = time.perf_counter()
    store = ensure_library(settings, progress=progress)
    step = progress.step("loading the library, the ranker and the text reader") if progress else None
    try:
        tracks = store.tracks()
        matrix = store.feature_matrix()
        added_at = store.scanned_at()
    finally:
        store.close()
    if not tracks:
        raise NoLibraryError(f"no tracks in {settings.library_db}; run `cadence scan FOLDER`")
    ranker = OnnxRanker.load(default_ranker_path(settings))
    cf = CfFile(cf_path(settings))
    recommender = Recommender(tracks, matrix, ranker, cf=cf)
    interleaving = build_interleaving(settings, tracks, matrix, recommender)
    analyzer = build_analyzer(settings)
    deps = SessionDeps(
        mood=analyzer,
        recommender=recommender,
        tracks={t.id: t for t in tracks},
        interleaving=interleaving,
        mixes=MixBuilder(tracks, added_at=added_at, cf=cf),
    )
    # One ranking of each kind and one text reading now, so the first listener does not pay for the warm-up.
    now_s = time.time()
    warm_state = ListenerState("warm-up", local_time=datetime.now().astimezone(), at_s=now_s)
    recommender.recommend(warm_state, count=10, at_s=now_s)
    interleaving.challenger.recommend(warm_state, count=10, at_s=now_s)
    interleaving.explainer.explain(warm_state, [t.id for t in tracks[:10]], at_s=now_s)
    analyzer.analyze_text("warming up")
    voice = VoiceGate(analyzer) if defer_voice else None
    if voice is None:
        if progress is not None:
            step = progress.step("loading the voice models")
        analyzer.warm_up()
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
    if step is not None:
        step.finish()
    return Engines(deps=deps, analyzer=analyzer if voice is None else voice, voice=voice)


@asynccontextmanager
async def _prepared(
    settings: Settings, engines: Engines | None, build: Callable[[Settings], Engines] = build_engines
) -> AsyncIterator[tuple[Engines, LogStore]]:
    """The engines (``build`` makes them if None) and the opened interaction log, for the duration of
    the ``async with``.

    An exposed address without a token, and a damaged log, are refused before seconds go into the
    models; the log is opened (and checked) once, here, and handed to the server.
    """
    check_exposure(settings)
    log = await asyncio.to_thread(open_log, settings)
    try:
        yield (engines if engines is not None else await asyncio.to_thread(build, settings)), log
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

    Built here, the engines are made in the order that answers typed text soonest: the start-up steps
    are shown as they run (:class:`~player.startup.StartupProgress`, closed before ``ready(url)``), the
    socket opens once the library, the ranker and the text reader are ready, and the voice models load
    after that in a thread (voice requests until then: ``busy``; if they cannot be loaded:
    ``engine_unavailable``, logged, while text is still answered).

    Raises:
        CadenceError: If the address needs a token (``token_required``), or the library or the ranker
            cannot be loaded.
        OSError: If the address is in use.
    """
    progress = StartupProgress() if engines is None else None
    build = functools.partial(build_engines, progress=progress, defer_voice=True)
    loading: set[asyncio.Task[None]] = set()
    try:
        async with _prepared(settings, engines, build) as (built, log):

            def on_ready(url: str) -> None:
                if progress is not None:
                    progress.close()
                if built.voice is not None:
                    logger.info("loading the voice models; until they are ready audio is answered `busy`")
                    task = asyncio.get_running_loop().create_task(asyncio.to_thread(built.voice.load))
                    loading.add(task)
                    task.add_done_callback(loading.discard)
                if ready is not None:
                    ready(url)

            await run_server(
                settings, deps=built.deps, analyzer=built.analyzer, ready=on_ready, stop=stop, log=log
            )
    finally:
        if progress is not None:
            progress.close()


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
