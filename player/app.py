"""The wiring: the one place that builds Cadence's engines from :class:`~player.settings.Settings`.

``player.cli`` parses options into Settings and dispatches to a command handler; a handler that
needs engines asks this module for them, and nothing else composes them:

- :func:`build_analyzer` — the mood analyzer the settings describe (``cadence mood``, the server).
- :func:`build_engines` — the library (the demo catalog on a first run), the ONNX ranker, the
  interleaving challenger (:func:`build_interleaving`) and the analyzer, loaded and warmed:
  everything a server's sessions use (:class:`Engines`).
- :class:`LiveLibrary` — the library-dependent engines (recommender, track map, interleaving, mixes)
  rebuilt whenever library.db changes, as one immutable :class:`~player.core.session.SessionDeps` per
  version of the library, which a running server swaps in (:class:`player.server.shell.LiveDeps`).
- :func:`serve` / :func:`serving` — a websocket server (:mod:`player.server.shell`) on those engines
  (``cadence serve``, and the in-process server of ``cadence listen``).

Start-up order of ``cadence serve`` (issue 14): the library, the ranker and the text reader are ready
first and the socket opens on them, so typed text is answered at once; the voice models (Whisper, VAD)
load and warm after that, behind a :class:`VoiceGate` that answers audio with ``busy`` until they are
ready. On a first run (an empty library) the demo catalog is made in the background
(:class:`~player.library.first_run.FirstRun`) while the ranker and the text reader load, and the
socket opens as soon as the library is *usable* (:func:`player.library.first_run.usable`: 24 tracks
over the four quadrants of the mood plane, a few seconds in); the live library picks up each batch
after that, until the catalog is complete. Each step is shown as it runs
(:class:`player.startup.StartupProgress`: rich on a terminal, log lines otherwise; the demo catalog's
step goes on as log lines after "ready").

A library that changes while the server runs (`cadence scan` of new music, files removed and
rescanned, the first run's catalog growing) is picked up without a restart: the server asks its
:class:`LiveLibrary` once a second; the check is one small read of the store's change counter
(:meth:`~player.library.store.LibraryStore.generation`) on a connection kept open, and a change is
read as one consistent :meth:`~player.library.store.LibraryStore.snapshot`, built into new engines in
the server's thread pool and swapped in on the event loop with one reference assignment.

Model lifetime: the Whisper and Silero VAD models are loaded once per process, lazily, by
``mood.transcribe.load_transcriber`` and ``mood.vad.load_vad`` — that is the one cache of models.
An analyzer only holds on to them; the wiring builds one per process and passes it down.

Typing the real engines into :class:`~player.core.session.SessionDeps` and the shell's
``SpeechAnalyzer`` here is what checks them against the session core's Protocols (mypy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
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
from player.core.session import (
    Interleaving,
    SessionDeps,
    SpeechAnalyzer,
    TextMoodReader,
    UtteranceStreamLike,
)
from player.core.track import Track
from player.errors import NoLibraryError, RankerError
from player.library.commands import demo_dir
from player.library.first_run import USABLE_TRACKS, FirstRun, demo_pending
from player.library.store import FeatureMatrix, LibrarySnapshot, LibraryStore
from player.ranker_threads import load_served_ranker
from player.server.logstore import LogStore
from player.server.shell import check_exposure, open_log, run_server, running_server
from player.settings import HEURISTIC_INTERLEAVE_SHARE, RETRAINED_INTERLEAVE_SHARE, Settings
from player.startup import StartupProgress

__all__ = [
    "REBUILD_SHARE",
    "Engines",
    "LiveLibrary",
    "VoiceGate",
    "build_analyzer",
    "build_engines",
    "build_interleaving",
    "challenger_path",
    "config_from_settings",
    "preparing_note",
    "serve",
    "serving",
    "start_first_run",
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
        asr_prompt=settings.asr_prompt,
        second_hearing=settings.second_hearing,
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


_Challenger = tuple[str, OnnxRanker]
"""A retrained model to interleave: its name in the log and the loaded model."""


def _load_challenger(settings: Settings) -> _Challenger | None:
    """The retrained model at :func:`challenger_path`, loaded; None if there is none or it is unusable
    (logged)."""
    path = challenger_path(settings)
    if not path.is_file():
        return None
    try:
        return retrained_name(path.read_bytes()), load_served_ranker(path)
    except (OSError, RankerError) as exc:
        logger.warning("ignoring the challenger %s (%s); the heuristic is the challenger", path, exc)
        return None


def _interleaving(
    challenger: _Challenger | None, tracks: Sequence[Track], matrix: FeatureMatrix, recommender: Recommender
) -> Interleaving:
    explainer = QueueExplainer(recommender)
    if challenger is not None:
        name, model = challenger
        try:
            retrained = Recommender(tracks, matrix, model, cf=recommender.cf)
            return Interleaving(retrained, name, explainer, default_share=RETRAINED_INTERLEAVE_SHARE)
        except RankerError as exc:
            logger.warning("ignoring the challenger %s (%s); the heuristic is the challenger", name, exc)
    heuristic = SkipAwareRecommender(catalog=recommender.catalog)
    return Interleaving(heuristic, HEURISTIC_CHALLENGER, explainer, default_share=HEURISTIC_INTERLEAVE_SHARE)


def build_interleaving(
    settings: Settings, tracks: list[Track], matrix: FeatureMatrix, recommender: Recommender
) -> Interleaving:
    """The challenger interleaved with ``recommender``: the retrained model at :func:`challenger_path`
    if there is a usable one (interleaved by default on 0.5 of queues), else the skip-aware heuristic
    (by default on none); ``settings.interleave_share`` overrides either default.
    """
    return _interleaving(_load_challenger(settings), tracks, matrix, recommender)


REBUILD_SHARE = 0.1
"""At most this share of the time goes to rebuilding the engines while a library keeps changing: after
a rebuild that took d seconds the next waits at least d / REBUILD_SHARE (a few milliseconds for the
demo catalog, so every poll; seconds apart for a library of 100k tracks being scanned)."""


class LiveLibrary:
    """The session engines over library.db as it is now (a :class:`player.server.shell.LiveDeps`).

    Each version of the library is one immutable :class:`SessionDeps` — recommender, track map,
    interleaving and mixes built from one :meth:`LibraryStore.snapshot`, with the ranker, the CF file
    (which reloads itself), the challenger's model and the text reader ``mood`` loaded once — so a
    reader of :meth:`current` never pairs engines of two versions. :meth:`current` reads the store's
    change counter on a connection kept open (one small read) and, when it moved, builds the engines
    over the new snapshot in the calling thread and logs the new version; a burst of changes is read as
    one version, and while the library keeps changing rebuilds take at most :data:`REBUILD_SHARE` of
    the time. Thread-safe: one rebuild at a time (a second caller of :meth:`current` waits for it),
    and :attr:`deps` never waits.

    A library that becomes empty keeps its last version (a server needs tracks to rank), with a warning.

    Raises:
        NoLibraryError: If the library has no tracks when it is opened.
        DatabaseCorruptError, StoreError: If library.db cannot be opened.
    """

    def __init__(
        self,
        library_db: Path,
        mood: TextMoodReader,
        *,
        ranker: OnnxRanker,
        cf: CfFile | None = None,
        challenger: _Challenger | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.library_db = Path(library_db)
        self._mood = mood
        self._ranker = ranker
        self._cf = cf
        self._challenger = challenger
        self._clock = clock
        self._lock = threading.Lock()
        self._store = LibraryStore(self.library_db, check=False)  # checked by whoever opened it first
        self.version = 0
        """1 for the library as it was opened, one more for each change picked up."""
        self._generation = -1
        self._not_before_s = 0.0
        try:
            snapshot = self._store.snapshot()
            if not snapshot.tracks:
                raise NoLibraryError(f"no tracks in {self.library_db}; run `cadence scan FOLDER`")
            self._deps = self._build(snapshot)
        except BaseException:
            self._store.close()
            raise
        self._closed = False

    @property
    def deps(self) -> SessionDeps:
        """The engines over the last version read (no check of the store)."""
        return self._deps

    def current(self) -> SessionDeps:
        """The engines over the library as it is now: :attr:`deps` while the store has not changed,
        else the engines built over its new snapshot (here, in the caller's thread).

        Raises:
            sqlite3.Error, CadenceError: If the store cannot be read or the engines cannot be built;
                the current version stays, and the next change is tried again.
        """
        with self._lock:
            if self._closed or self._store.generation() == self._generation:
                return self._deps
            if self._clock() < self._not_before_s:
                return self._deps  # still changing, and the last rebuild was long: a little later
            snapshot = self._store.snapshot()
            self._generation = snapshot.generation  # tried once per change, whatever happens
            if not snapshot.tracks:
                logger.warning(
                    "the library at %s has no tracks now; still serving the %d tracks of version %d",
                    self.library_db,
                    len(self._deps.tracks),
                    self.version,
                )
                return self._deps
            self._deps = self._build(snapshot)
            return self._deps

    def close(self) -> None:
        """Stop watching the store (:meth:`current` keeps returning the last version)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._store.close()

    def _build(self, snapshot: LibrarySnapshot) -> SessionDeps:
        started = self._clock()
        tracks = list(snapshot.tracks)
        recommender = Recommender(tracks, snapshot.matrix, self._ranker, cf=self._cf)
        deps = SessionDeps(
            mood=self._mood,
            recommender=recommender,
            tracks={t.id: t for t in tracks},
            interleaving=_interleaving(self._challenger, tracks, snapshot.matrix, recommender),
            mixes=MixBuilder(tracks, added_at=snapshot.scanned_at, cf=self._cf),
        )
        took_s = self._clock() - started
        self._not_before_s = self._clock() + took_s / REBUILD_SHARE
        self._generation = snapshot.generation
        self.version += 1
        if self.version == 1:
            logger.info("library version 1: %d tracks (read in %.0f ms)", len(tracks), 1000 * took_s)
        else:
            before = self._deps.tracks
            added = sum(1 for t in tracks if t.id not in before)
            logger.info(
                "library version %d: %d tracks (%d new, %d gone; engines rebuilt in %.0f ms)",
                self.version,
                len(tracks),
                added,
                len(before) - (len(tracks) - added),
                1000 * took_s,
            )
        return deps


@dataclass(frozen=True)
class Engines:
    """Everything loaded once per server: the session core's engines and the speech analyzer."""

    deps: SessionDeps
    """The engines over the library as it was when they were built."""
    analyzer: SpeechAnalyzer
    voice: VoiceGate | None = None
    """The gate in front of ``analyzer`` when its voice models are still to be loaded (by :func:`serve`,
    once the server listens); None when they were loaded with the rest."""
    library: LiveLibrary | None = None
    """Where newer ``deps`` come from when the library changes (a server polls it); None: ``deps`` for
    good."""


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


def start_first_run(settings: Settings, progress: StartupProgress | None = None) -> FirstRun | None:
    """The demo catalog for an empty library (or the rest of an interrupted first run), started in the
    background in HOME/demo-library (:class:`FirstRun`); None if the library needs none.
    ``progress`` shows it as a background step (its n/N).

    Raises:
        DatabaseCorruptError: If library.db is damaged (it is left as it is).
    """
    target = demo_dir(settings)
    if not demo_pending(settings.library_db, target):
        return None
    run = FirstRun(target, settings.library_db, workers=settings.workers)
    logger.info(
        "the library needs the demo catalog (it is empty, or a first run was interrupted): making it in %s "
        "and scanning it; serving once %d tracks cover the mood plane",
        target,
        USABLE_TRACKS,
    )
    label = "synthesising and scanning the demo catalog" if run.writes else "scanning the demo catalog"
    return run.start(progress.step(label, run.count, background=True) if progress is not None else None)


def build_engines(
    settings: Settings, *, progress: StartupProgress | None = None, defer_voice: bool = False
) -> Engines:
    """Load the library (the demo catalog if it is empty, made whole first), the ranker and the mood
    analyzer, warmed. (:func:`serve` answers sooner on a first run: from the library once it is usable.)

    ``defer_voice``: leave the voice models for later, behind a :class:`VoiceGate` (``Engines.voice``;
    its :meth:`~VoiceGate.load` is the caller's to run), so a server can answer typed text sooner.
    ``progress`` shows each step.

    Raises:
        NoLibraryError: If the library still has no tracks.
        RankerError: If the ranker file is missing, corrupt or of another schema.
        EngineError: If a speech model is missing (not with ``defer_voice``: then voice requests are
            answered with the error).
        OSError, DatabaseCorruptError: If the demo catalog cannot be made, or library.db is damaged.
    """
    first_run = start_first_run(settings, progress)
    if first_run is not None:
        first_run.join()
        if first_run.error is not None:
            raise first_run.error
    return _engines(settings, progress=progress, defer_voice=defer_voice)


def _engines(
    settings: Settings,
    *,
    progress: StartupProgress | None = None,
    defer_voice: bool = False,
    first_run: FirstRun | None = None,
) -> Engines:
    """:func:`build_engines` on a library that needs no demo catalog, or whose ``first_run`` is under
    way: then the ranker and the text reader load while it runs, and the engines are built as soon as
    the library is usable (the live library picks up the rest)."""
    started = time.perf_counter()
    step = progress.step("loading the library, the ranker and the text reader") if progress else None
    ranker = load_served_ranker(default_ranker_path(settings))
    cf = CfFile(cf_path(settings))
    analyzer = build_analyzer(settings)
    analyzer.analyze_text("warming up")
    if first_run is not None:
        first_run.wait_usable()
    library = LiveLibrary(
        settings.library_db, analyzer, ranker=ranker, cf=cf, challenger=_load_challenger(settings)
    )
    try:
        deps = library.deps
        recommender, interleaving = deps.recommender, deps.interleaving
        assert isinstance(recommender, Recommender) and interleaving is not None
        # One ranking of each kind now, so the first listener does not pay for the warm-up.
        now_s = time.time()
        warm_state = ListenerState("warm-up", local_time=datetime.now().astimezone(), at_s=now_s)
        recommender.recommend(warm_state, count=10, at_s=now_s)
        interleaving.challenger.recommend(warm_state, count=10, at_s=now_s)
        interleaving.explainer.explain(warm_state, list(deps.tracks)[:10], at_s=now_s)
        voice = VoiceGate(analyzer) if defer_voice else None
        if voice is None:
            if progress is not None:
                step = progress.step("loading the voice models")
            analyzer.warm_up()
    except BaseException:
        library.close()
        raise
    share = settings.interleave_share
    logger.info(
        "engines ready: %d tracks%s, ranker %s, challenger %s on %.0f %% of queues, %s %s (%.1f s)",
        len(deps.tracks),
        " (the demo catalog goes on in the background)" if first_run and not first_run.done else "",
        default_ranker_path(settings),
        interleaving.name,
        100 * (interleaving.default_share if share is None else share),
        settings.whisper_engine,
        settings.whisper_model or settings.asr_model,
        time.perf_counter() - started,
    )
    if step is not None:
        step.finish()
    return Engines(deps=deps, analyzer=analyzer if voice is None else voice, voice=voice, library=library)


def preparing_note(settings: Settings) -> str | None:
    """What the ready line of ``cadence serve`` adds while the first run's demo catalog is still being
    made (HOME/demo-library without its ``truth.json``); None otherwise."""
    target = demo_dir(settings)
    if not target.is_dir() or (target / "truth.json").exists():
        return None
    return "the demo library is still being prepared: queues draw on what is scanned so far, the rest joins"


@asynccontextmanager
async def _prepared(
    settings: Settings,
    engines: Engines | None,
    *,
    progress: StartupProgress | None = None,
    defer_voice: bool = False,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[tuple[Engines, LogStore] | None]:
    """The engines (built here if None) and the opened interaction log, for the duration of the
    ``async with``; None if ``stop`` was set before the engines were ready.

    An exposed address without a token, and a damaged log, are refused before seconds go into the
    models; the log is opened (and checked) once, here, and handed to the server. Built here on a
    first run, the engines are ready once the library is usable; the demo catalog goes on in the
    background until it is complete or the block ends (then it stops after the tracks in flight, and
    the next start carries on).
    """
    check_exposure(settings)
    log = await asyncio.to_thread(open_log, settings)
    first_run: FirstRun | None = None
    built: Engines | None = None
    try:
        if engines is None:
            first_run = await asyncio.to_thread(start_first_run, settings, progress)
            building = asyncio.ensure_future(
                asyncio.to_thread(
                    _engines, settings, progress=progress, defer_voice=defer_voice, first_run=first_run
                )
            )
            if stop is not None:
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({building, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not building.done():  # stopped while preparing: end the first run, serve nothing
                    if first_run is not None:
                        first_run.stop()
                    with contextlib.suppress(Exception):
                        built = await building
                    yield None
                    return
            built = engines = await building
        yield engines, log
    finally:
        if first_run is not None:
            first_run.stop()
            await asyncio.to_thread(first_run.join)
        if built is not None and built.library is not None:
            built.library.close()
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
    are shown as they run (:class:`~player.startup.StartupProgress`, closed before ``ready(url)``; a
    first run's demo catalog goes on as log lines), the socket opens once the library (on a first run:
    usable, :func:`player.library.first_run.usable`), the ranker and the text reader are ready, and the
    voice models load after that in a thread (voice requests until then: ``busy``; if they cannot be
    loaded: ``engine_unavailable``, logged, while text is still answered). The library is followed
    while the server runs (:class:`LiveLibrary`): a first run's catalog as it grows, a `cadence scan`.

    Raises:
        CadenceError: If the address needs a token (``token_required``), or the library or the ranker
            cannot be loaded.
        OSError: If the address is in use.
    """
    progress = StartupProgress() if engines is None else None
    loading: set[asyncio.Task[None]] = set()
    try:
        async with _prepared(settings, engines, progress=progress, defer_voice=True, stop=stop) as prepared:
            if prepared is None:
                return
            built, log = prepared

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
                settings,
                deps=built.deps,
                analyzer=built.analyzer,
                ready=on_ready,
                stop=stop,
                log=log,
                live=built.library,
            )
    finally:
        if progress is not None:
            progress.close()


@asynccontextmanager
async def serving(settings: Settings, engines: Engines | None = None) -> AsyncIterator[str]:
    """A server for the duration of the ``async with`` (engines built if None; on a first run it
    answers once the library is usable, as :func:`serve`); yields its URL.

    Raises:
        CadenceError, OSError: As :func:`serve`.
    """
    async with _prepared(settings, engines) as prepared:
        assert prepared is not None  # only a stop event ends the preparation early
        built, log = prepared
        async with running_server(
            settings, deps=built.deps, analyzer=built.analyzer, log=log, live=built.library
        ) as url:
            yield url
