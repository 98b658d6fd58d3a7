"""`cadence serve`: the thin asyncio ``websockets`` shell around :class:`player.core.session.Session`.

Per connection the shell loops *receive → core → carry out effects*; everything about the
protocol is decided in the core. What lives here is I/O and resource control:

- **speech pool**: utterances are analysed (ASR, prosody, fusion) in ``settings.speech_workers``
  threads; at most ``speech_workers + speech_queue`` utterances are in flight or waiting, beyond that
  the client gets ``error busy`` instead of an ever-growing backlog. Each connection's utterances
  are analysed one after another, in order, against that connection's speaker baseline. VAD runs
  as chunks arrive, off the event loop too.
- **core threads**: each connection's session core runs in one of two threads, one call at a
  time per connection, so reading typed text and ranking (milliseconds of CPU) never hold up the
  event loop and the other connections' acks.
- **log writer**: one thread owns the writes to the interaction log and commits everything waiting
  in one transaction (group commit); a ``Record`` effect is awaited before the next ``Send``, so
  an ``ack`` is only ever sent for a committed event (``settings.log_sync``: "normal" survives a
  server crash, "full" fsyncs and survives a power cut too; see :mod:`player.server.log`).
- **limits**: a frame size ceiling (``websockets`` closes with 1009 above :data:`HARD_MAX_FRAME_BYTES`;
  below it the core answers ``frame_too_large`` and the connection stays), idle timeout, keepalive
  pings, ``settings.max_sessions`` concurrent connections (``too_many_sessions``, close 1013).
- **security**: 127.0.0.1 by default; any other address needs ``--token`` (refused at start-up
  otherwise) and the token is checked in ``hello``; a handshake whose ``Origin`` header is not in
  ``settings.allowed_origins`` is refused with HTTP 403 (cross-site WebSocket hijacking); no
  ``Origin`` means a non-browser client and is allowed.

Models are loaded and warmed before the socket opens; "ready on ws://…" is logged when it does. An
empty library is replaced by the demo catalog (``ensure_library``) on the first run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import queue
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from mood.errors import CadenceError
from player.core.protocol import Error, dumps
from player.core.records import LogEvent
from player.core.session import (
    AnalysisDone,
    AnalysisFailed,
    AnalysisRejected,
    Analyze,
    Close,
    Disconnected,
    Effect,
    FeedAudio,
    FinishAudio,
    HistoryLoaded,
    Incoming,
    LoadHistory,
    OpenAudio,
    Record,
    Send,
    Session,
    SessionDeps,
    SessionLimits,
    UtteranceReady,
    VadChanged,
)
from player.errors import NoLibraryError
from player.server.log import InteractionLog
from player.settings import Settings

__all__ = [
    "HARD_MAX_FRAME_BYTES",
    "Engines",
    "SpeechPool",
    "build_engines",
    "cmd_serve",
    "run_server",
    "running_server",
]

logger = logging.getLogger(__name__)

HARD_MAX_FRAME_BYTES = 1024 * 1024
"""Frames above this are refused by ``websockets`` itself (close 1009); the protocol's own limits
(:class:`player.core.session.SessionLimits`) are lower and answered with ``frame_too_large``."""

_T = TypeVar("_T")
_CORE_THREADS = 2
"""Threads running the session cores (text reading, ranking); the Recommender and the analyzer's
text path are thread-safe, and each Session is only ever used by one of them at a time."""


# ---------------------------------------------------------------- engines


@dataclass(frozen=True)
class Engines:
    """Everything loaded once per server: the session core's engines and the speech analyzer."""

    deps: SessionDeps
    analyzer: Any
    """A ``mood.analyzer.MoodAnalyzer``: ``open_stream``, ``analyze_utterance``."""
    new_baseline: Callable[[], Any] | None = None
    """Makes a fresh per-connection speaker baseline (None: the analyzer keeps none)."""


def build_engines(settings: Settings) -> Engines:
    """Load the library (the demo catalog if it is empty), the ranker and the mood analyzer, warmed.

    Raises:
        NoLibraryError: If the library still has no tracks.
        RankerError: If the ranker file is missing, corrupt or of another schema.
        EngineError: If a speech model is missing.
    """
    from player.app import build_analyzer
    from player.core.listener import ListenerState, PlaybackEvent
    from player.core.ranking import OnnxRanker, Recommender, default_ranker_path
    from player.library.commands import ensure_library

    started = time.perf_counter()
    store = ensure_library(settings)
    try:
        tracks = store.tracks()
        matrix = store.feature_matrix()
    finally:
        store.close()
    if not tracks:
        raise NoLibraryError(f"no tracks in {settings.library_db}; run `cadence scan FOLDER`")
    ranker = OnnxRanker.load(default_ranker_path(settings))
    recommender = Recommender(tracks, matrix, ranker)

    def new_listener(listener_id: str, local_time: datetime, at_s: float, device: str | None) -> Any:
        return ListenerState(listener_id, local_time=local_time, at_s=at_s, device=device)

    def playback_event(kind: str, track_id: str, position_s: float, at_s: float) -> Any:
        return PlaybackEvent(kind=kind, track_id=track_id, position_s=position_s, at_s=at_s)  # type: ignore[arg-type]

    analyzer = build_analyzer(settings)
    analyzer.warm_up()
    deps = SessionDeps(
        mood=analyzer,
        recommender=recommender,
        tracks={t.id: t for t in tracks},
        new_listener=new_listener,
        playback_event=playback_event,
    )
    # One ranking and one text reading now, so the first listener does not pay for the warm-up.
    now_s = time.time()
    warm_state = new_listener("warm-up", datetime.now().astimezone(), now_s, None)
    recommender.recommend(warm_state, count=10, at_s=now_s)
    analyzer.analyze_text("warming up")
    logger.info(
        "engines ready: %d tracks, ranker %s, %s (%.1f s)",
        len(tracks),
        default_ranker_path(settings),
        settings.whisper_engine,
        time.perf_counter() - started,
    )
    return Engines(deps=deps, analyzer=analyzer, new_baseline=_baseline_factory())


def _baseline_factory() -> Callable[[], Any] | None:
    try:
        from mood.prosody import SpeakerBaseline
    except ImportError:  # pragma: no cover - mood/ without prosody baselines
        return None
    return SpeakerBaseline


# ---------------------------------------------------------------- speech pool and log writer


class SpeechPool:
    """A bounded thread pool: ``workers`` threads, at most ``workers + waiting`` jobs admitted."""

    def __init__(self, workers: int, waiting: int) -> None:
        self.capacity = max(1, workers) + max(0, waiting)
        self._executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="speech")
        self._admitted = 0

    def reserve(self) -> bool:
        """Admit one job (True) or refuse it because the pool is full (False). Event-loop only."""
        if self._admitted >= self.capacity:
            return False
        self._admitted += 1
        return True

    def release(self) -> None:
        """An admitted job is over (done, failed or abandoned)."""
        self._admitted = max(0, self._admitted - 1)

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run ``fn`` in a worker thread (the caller holds a reservation)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_Batch = tuple[list[tuple[LogEvent, dict[str, Any] | None]], asyncio.Future[None], asyncio.AbstractEventLoop]


class LogWriter:
    """One thread writing to the interaction log; concurrent writes share one commit (group commit)."""

    def __init__(self, log: InteractionLog, *, max_batch: int = 2000) -> None:
        self.log = log
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()
        self.commits = 0
        self._stop = threading.Event()
        self._checkpoints = threading.Thread(target=self._checkpoint_loop, name="log-checkpoint", daemon=True)
        self._checkpoints.start()

    def _checkpoint_loop(self, every_s: float = 1.0) -> None:
        # The log is opened without automatic checkpoints: they would run inside a commit and put
        # their fsyncs in front of the acks waiting for it.
        while not self._stop.wait(every_s):
            try:
                self.log.checkpoint()
            except Exception:
                logger.exception("interaction log checkpoint failed")

    async def write(self, items: list[tuple[LogEvent, dict[str, Any] | None]]) -> None:
        """Append ``items``; returns once they are committed (durable).

        Raises:
            sqlite3.Error: If the commit failed (the items are not in the log).
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put((items, done, loop))
        await done

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batches = [first]
            stop = False
            while len(batches) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batches.append(more)
            items = [item for batch in batches for item in batch[0]]
            error: BaseException | None = None
            try:
                self.log.record_many(items)
                self.commits += 1
            except BaseException as exc:  # reported to every waiting writer
                logger.exception("interaction log write failed")
                error = exc
            for _, done, loop in batches:
                loop.call_soon_threadsafe(_settle, done, error)
            if stop:
                return

    def close(self) -> None:
        """Finish the writes already queued, then stop the threads."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        self._stop.set()
        self._checkpoints.join(timeout=30)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


# ---------------------------------------------------------------- one connection


class _Connection:
    """Feeds one websocket's frames to its Session and carries out the effects, in order."""

    def __init__(self, server: _Server, ws: ServerConnection, session: Session) -> None:
        self.server = server
        self.ws = ws
        self.session = session
        self.stream: Any = None
        self.baseline: Any = server.engines.new_baseline() if server.engines.new_baseline else None
        self.closed = False
        self._speech_order = asyncio.Lock()
        self._core_order = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        idle_s = self.server.settings.idle_timeout_s
        try:
            while not self.closed:
                try:
                    async with asyncio.timeout(idle_s):
                        frame = await self.ws.recv()
                except TimeoutError:
                    await self.ws.close(1001, "idle timeout")
                    break
                try:
                    await self.apply(await self.feed(frame))
                except ConnectionClosed:
                    raise
                except Exception:
                    # A fault of ours (or of an engine) must not cost the listener the connection.
                    logger.exception("session %s: handling a frame failed", self.session.session_id)
                    await self._send(Error(code="internal", message="the server failed on that message"))
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            await self.apply(await self.feed(Disconnected()))
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def feed(self, incoming: Incoming) -> list[Effect]:
        """Hand ``incoming`` to the session core, in a core thread, one call at a time per connection.

        Reading typed text and ranking take milliseconds of CPU; on the event loop they would hold
        up every other connection's acks. In the core threads they share the CPU instead.
        """
        async with self._core_order:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.server.core_pool, self._handle_now, incoming)

    def _handle_now(self, incoming: Incoming) -> list[Effect]:
        return self.session.handle(incoming, now_s=time.time())

    async def apply(self, effects: list[Effect]) -> None:
        """Carry out ``effects`` in order; pending records are committed before the next send.

        If a commit fails, the rest of ``effects`` (the ``ack`` among them) is dropped and the
        client gets ``error internal`` instead: nothing is acknowledged that is not durable.
        """
        records: list[tuple[LogEvent, dict[str, Any] | None]] = []
        for effect in effects:
            if isinstance(effect, Record):
                records.append((effect.event, effect.evidence))
                continue
            if records and not await self._commit(records):
                return
            records = []
            await self._carry_out(effect)
        if records:
            await self._commit(records)

    async def _commit(self, records: list[tuple[LogEvent, dict[str, Any] | None]]) -> bool:
        try:
            await self.server.writer.write(records)
        except Exception as exc:
            await self._send(
                Error(code="internal", message=f"the interaction log could not store that: {exc}")
            )
            return False
        return True

    async def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, Send):
            await self._send(effect.message)
        elif isinstance(effect, LoadHistory):
            log = self.server.log
            events = await asyncio.to_thread(log.events, effect.listener_id)
            await self._load_baseline(effect.listener_id)
            await self.apply(await self.feed(HistoryLoaded(events[-effect.limit :])))
        elif isinstance(effect, OpenAudio):
            analyzer = self.server.engines.analyzer
            try:
                self.stream = await asyncio.to_thread(
                    analyzer.open_stream, effect.sample_rate, effect.channels, effect.format
                )
            except CadenceError as exc:
                await self.apply(await self.feed(AnalysisFailed(0, exc.code, exc.message)))
        elif isinstance(effect, FeedAudio | FinishAudio):
            await self._stream(effect)
        elif isinstance(effect, Analyze):
            self._analyze(effect)
        elif isinstance(effect, Close):
            self.closed = True
            await self.ws.close(effect.code, effect.reason)

    async def _load_baseline(self, listener_id: str) -> None:
        """A returning listener's voice is judged against their own stored speaker baseline."""
        engines = self.server.engines
        stored = await asyncio.to_thread(self.server.log.baseline, listener_id)
        if stored is None or engines.new_baseline is None:
            return
        try:
            self.baseline = engines.new_baseline.from_dict(stored)  # type: ignore[attr-defined]
        except (AttributeError, KeyError, TypeError, ValueError):
            logger.warning("ignoring the stored speaker baseline of %s (unreadable)", listener_id)

    async def _save_baseline(self) -> None:
        session = self.session
        if self.baseline is None or not session.named_listener or session.listener_id is None:
            return
        try:
            data = self.baseline.to_dict()
            await asyncio.to_thread(
                self.server.log.save_baseline, session.listener_id, data, at_s=time.time()
            )
        except Exception:
            logger.exception("could not store the speaker baseline of %s", session.listener_id)

    async def _send(self, message: Any) -> None:
        if self.closed and not isinstance(message, Error):
            return
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(dumps(message))

    async def _stream(self, effect: FeedAudio | FinishAudio) -> None:
        stream = self.stream
        if stream is None:
            return
        if isinstance(effect, FinishAudio):
            self.stream = None
        try:
            if isinstance(effect, FeedAudio):
                items = await asyncio.to_thread(stream.feed, effect.data)
            else:
                items = await asyncio.to_thread(stream.finish)
        except CadenceError as exc:
            await self.apply(await self.feed(AnalysisFailed(0, exc.code, exc.message)))
            return
        for item in items:
            if hasattr(item, "samples"):
                incoming: Incoming = UtteranceReady(
                    item,
                    start_s=float(item.start_s),
                    end_s=float(item.end_s),
                    duration_s=float(item.duration_s),
                )
            else:
                incoming = VadChanged(state=item.state, t_s=float(item.t_s))
            await self.apply(await self.feed(incoming))

    def _analyze(self, effect: Analyze) -> None:
        pool = self.server.pool
        if not pool.reserve():
            logger.warning("speech pool full (%d admitted): busy", pool.admitted)
            task = asyncio.create_task(self._rejected(effect.request_id))
        else:
            task = asyncio.create_task(self._analysis(effect))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rejected(self, request_id: int) -> None:
        await self.apply(await self.feed(AnalysisRejected(request_id)))

    async def _analysis(self, effect: Analyze) -> None:
        pool = self.server.pool
        analyzer = self.server.engines.analyzer
        result: Incoming
        try:
            # One utterance at a time per connection: in order, and one baseline is not shared by threads.
            async with self._speech_order:
                estimate = await pool.run(
                    analyzer.analyze_utterance, effect.utterance, baseline=self.baseline
                )
            result = AnalysisDone(effect.request_id, estimate)
        except CadenceError as exc:
            result = AnalysisFailed(effect.request_id, exc.code, exc.message)
        except Exception:
            logger.exception("utterance analysis failed")
            result = AnalysisFailed(effect.request_id, "internal", "the utterance could not be analysed")
        finally:
            pool.release()
        await self.apply(await self.feed(result))
        if isinstance(result, AnalysisDone):
            await self._save_baseline()


# ---------------------------------------------------------------- the server


class _Server:
    def __init__(self, settings: Settings, engines: Engines, log: InteractionLog) -> None:
        self.settings = settings
        self.engines = engines
        self.log = log
        self.writer = LogWriter(log)
        self.pool = SpeechPool(settings.speech_workers, settings.speech_queue)
        self.core_pool = ThreadPoolExecutor(max_workers=_CORE_THREADS, thread_name_prefix="core")
        self.limits = SessionLimits(
            token=settings.token,
            messages_per_s=settings.messages_per_s,
            message_burst=settings.message_burst,
            max_utterance_s=settings.max_utterance_s,
        )
        self.active = 0

    async def handler(self, ws: ServerConnection) -> None:
        session_id = uuid.uuid4().hex[:16]
        if self.active >= self.settings.max_sessions:
            logger.warning("refusing a connection: %d sessions open", self.active)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(
                    dumps(
                        Error(
                            code="too_many_sessions", message=f"{self.active} sessions open; try again later"
                        )
                    )
                )
                await ws.close(1013, "too many sessions")
            return
        self.active += 1
        try:
            await _Connection(self, ws, Session(session_id, self.engines.deps, self.limits)).run()
        except Exception:
            logger.exception("connection %s failed", session_id)
        finally:
            self.active -= 1

    def close(self) -> None:
        self.writer.close()
        self.pool.shutdown()
        self.core_pool.shutdown(wait=False, cancel_futures=True)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to listen beyond loopback without a token.

    Raises:
        CadenceError: (``token_required``) If ``settings.host`` is not a loopback address and no token is set.
    """
    if not _is_loopback(settings.host) and not settings.token:
        raise CadenceError(
            f"listening on {settings.host} exposes the server to the network; set --token SECRET "
            "(clients present it in `hello`) or listen on 127.0.0.1",
            code="token_required",
        )


async def run_server(
    settings: Settings,
    *,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    engines: Engines | None = None,
) -> None:
    """Serve until ``stop`` is set (forever if None); ``ready(url)`` is called once listening.

    ``engines`` lets a caller that already loaded them (tests, benchmarks) share them.

    Raises:
        CadenceError: If the address needs a token (``token_required``), or the library, ranker or
            speech models cannot be loaded.
        OSError: If the address is in use.
    """
    check_exposure(settings)
    if engines is None:
        engines = await asyncio.to_thread(build_engines, settings)
    log = InteractionLog(
        settings.log_db, synchronous="full" if settings.log_sync == "full" else "normal", autocheckpoint=False
    )
    core = _Server(settings, engines, log)
    origins: Sequence[Any] = [None, *settings.allowed_origins]
    try:
        async with serve(
            core.handler,
            settings.host,
            settings.port,
            origins=origins,
            compression=None,
            max_size=HARD_MAX_FRAME_BYTES,
            max_queue=64,
            ping_interval=settings.ping_interval_s,
            ping_timeout=settings.ping_timeout_s,
            close_timeout=5,
            logger=logging.getLogger("player.server.ws"),
        ) as server:
            host, port = next(iter(server.sockets)).getsockname()[:2]
            url = f"ws://{host}:{port}" if ":" not in host else f"ws://[{host}]:{port}"
            logger.info("ready on %s (log %s)", url, settings.log_db)
            if ready is not None:
                ready(url)
            await (stop.wait() if stop is not None else asyncio.Future())
    finally:
        await asyncio.to_thread(core.close)
        log.close()


@asynccontextmanager
async def running_server(settings: Settings, *, engines: Engines | None = None) -> AsyncIterator[str]:
    """Run a server for the duration of the ``async with``; yields its ``ws://`` URL."""
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_ready(url: str) -> None:
        if not ready.done():
            ready.set_result(url)

    task = asyncio.create_task(run_server(settings, ready=on_ready, stop=stop, engines=engines))
    waiting: set[asyncio.Future[Any]] = {task, ready}
    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # raises the start-up error
        raise RuntimeError("the server stopped before it was ready")
    try:
        yield ready.result()
    finally:
        stop.set()
        await task


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence serve`: run until SIGINT or SIGTERM."""
    check_exposure(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)

        def announce(url: str) -> None:
            print(
                f'cadence: ready on {url} — try `cadence client --url {url} --text "I\'m exhausted"`',
                flush=True,
            )

        await run_server(settings, ready=announce, stop=stop)

    asyncio.run(main())
    return 0
