"""The thin asyncio ``websockets`` shell around :class:`player.core.session.Session`.

Per connection the shell loops *receive → core → carry out effects*; everything about the
protocol, the listener's history and their speaker baseline is decided in the core. What lives
here is I/O and resource control:

- **effects**: ``Send`` on the socket; ``Record`` and ``RecordQueue`` through the log writer
  (:mod:`player.server.writer`, awaited before the next ``Send``, so an ``ack`` is only ever sent for
  a committed event, and a queue only once its interleaving record is committed);
  ``LoadHistory`` and ``SaveBaseline`` against the interaction log in a thread; the utterance stream
  (``OpenAudio``/``FeedAudio``/``FinishAudio``) and ``Analyze`` off the event loop.
- **speech pool**: utterances are analysed (ASR, prosody, fusion) in ``settings.speech_workers``
  threads; at most ``speech_workers + speech_queue`` utterances are in flight or waiting, beyond that
  the core is told :class:`~player.core.session.AnalysisRejected` (``error busy``) instead of the
  backlog growing. Each connection's utterances are analysed one after another, in order (their
  speaker baseline is updated by each). VAD runs as chunks arrive, off the event loop too.
- **core threads**: each connection's session core runs in one of two threads, one call at a
  time per connection, so reading typed text and ranking (milliseconds of CPU) never hold up the
  event loop and the other connections' acks.
- **limits**: a frame size ceiling (``websockets`` closes with 1009 above :data:`HARD_MAX_FRAME_BYTES`;
  below it the core answers ``frame_too_large`` and the connection stays), idle timeout, keepalive
  pings, ``settings.max_sessions`` concurrent connections (``too_many_sessions``, close 1013).
- **security**: 127.0.0.1 by default; any other address needs ``--token`` (:func:`check_exposure`)
  and the token is checked in ``hello``; a handshake whose ``Origin`` header is not in
  ``settings.allowed_origins`` is refused with HTTP 403 (cross-site WebSocket hijacking); no
  ``Origin`` means a non-browser client and is allowed.

The engines (library, ranker, mood analyzer) are built and warmed by the wiring module
(:mod:`player.app`) and passed in; "ready on ws://…" is logged when the socket opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from mood.errors import CadenceError
from mood.stream import Utterance, VadEvent
from player.core.protocol import Error, ServerMessage, dumps
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
    RecordQueue,
    SaveBaseline,
    Send,
    Session,
    SessionDeps,
    SessionLimits,
    SpeechAnalyzer,
    StreamFailed,
    UtteranceReady,
    UtteranceStreamLike,
    VadChanged,
)
from player.server.log import InteractionLog
from player.server.writer import LogItem, LogWriter
from player.settings import Settings

__all__ = [
    "HARD_MAX_FRAME_BYTES",
    "SpeechPool",
    "check_exposure",
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


# ---------------------------------------------------------------- speech pool


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


# ---------------------------------------------------------------- one connection


class _Connection:
    """Feeds one websocket's frames to its Session and carries out the effects, in order."""

    def __init__(self, server: _Server, ws: ServerConnection, session: Session) -> None:
        self.server = server
        self.ws = ws
        self.session = session
        self.stream: UtteranceStreamLike | None = None
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
                    await self.handle(frame)
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
            await self.handle(Disconnected())
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def handle(self, incoming: Incoming) -> None:
        """Hand ``incoming`` to the session core and carry out the effects it returns."""
        await self.apply(await self.feed(incoming))

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
        """Carry out ``effects`` in order; pending records are committed before the next effect.

        If a commit fails, the rest of ``effects`` (the ``ack`` among them) is dropped and the
        client gets ``error internal`` instead: nothing is acknowledged that is not durable.
        """
        records: list[LogItem] = []
        for effect in effects:
            if isinstance(effect, Record):
                records.append((effect.event, effect.evidence))
                continue
            if isinstance(effect, RecordQueue):
                records.append(effect.queue)
                continue
            if records and not await self._commit(records):
                return
            records = []
            await self._carry_out(effect)
        if records:
            await self._commit(records)

    async def _commit(self, records: list[LogItem]) -> bool:
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
            await self.handle(await asyncio.to_thread(self._load_history, effect))
        elif isinstance(effect, SaveBaseline):
            await self._save_baseline(effect)
        elif isinstance(effect, OpenAudio):
            await self._open_stream(effect)
        elif isinstance(effect, FeedAudio | FinishAudio):
            await self._stream(effect)
        elif isinstance(effect, Analyze):
            self._analyze(effect)
        elif isinstance(effect, Close):
            self.closed = True
            await self.ws.close(effect.code, effect.reason)

    def _load_history(self, effect: LoadHistory) -> HistoryLoaded:
        log = self.server.log
        events = log.events(effect.listener_id, playback_limit=effect.playback_limit)
        return HistoryLoaded(events, baseline=log.baseline(effect.listener_id))

    async def _save_baseline(self, effect: SaveBaseline) -> None:
        try:
            await asyncio.to_thread(
                self.server.log.save_baseline, effect.listener_id, effect.data, at_s=effect.at_s
            )
        except Exception:
            logger.exception("could not store the speaker baseline of %s", effect.listener_id)

    async def _send(self, message: ServerMessage) -> None:
        if self.closed and not isinstance(message, Error):
            return
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(dumps(message))

    async def _open_stream(self, effect: OpenAudio) -> None:
        analyzer = self.server.analyzer
        try:
            self.stream = await asyncio.to_thread(
                analyzer.open_stream, effect.sample_rate, effect.channels, effect.format
            )
        except CadenceError as exc:
            self.stream = None
            await self.handle(StreamFailed(exc.code, exc.message))

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
            await self.handle(StreamFailed(exc.code, exc.message))
            return
        for item in items:
            if isinstance(item, Utterance):
                await self.handle(UtteranceReady(item))
            elif isinstance(item, VadEvent):
                await self.handle(VadChanged(state=item.state, t_s=float(item.t_s)))

    def _analyze(self, effect: Analyze) -> None:
        pool = self.server.pool
        if not pool.reserve():
            logger.warning("speech pool full (%d admitted): busy", pool.admitted)
            task = asyncio.create_task(self.handle(AnalysisRejected(effect.request_id)))
        else:
            task = asyncio.create_task(self._analysis(effect))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _analysis(self, effect: Analyze) -> None:
        pool = self.server.pool
        analyzer = self.server.analyzer
        result: Incoming
        try:
            # One utterance at a time per connection: in order, each against the baseline the last updated.
            async with self._speech_order:
                estimate = await pool.run(
                    analyzer.analyze_utterance, effect.utterance, baseline=effect.baseline
                )
            result = AnalysisDone(effect.request_id, estimate)
        except CadenceError as exc:
            result = AnalysisFailed(effect.request_id, exc.code, exc.message)
        except Exception:
            logger.exception("utterance analysis failed")
            result = AnalysisFailed(effect.request_id, "internal", "the utterance could not be analysed")
        finally:
            pool.release()
        await self.handle(result)


# ---------------------------------------------------------------- the server


class _Server:
    def __init__(
        self, settings: Settings, deps: SessionDeps, analyzer: SpeechAnalyzer, log: InteractionLog
    ) -> None:
        self.settings = settings
        self.deps = deps
        self.analyzer = analyzer
        self.log = log
        self.writer = LogWriter(log)
        self.pool = SpeechPool(settings.speech_workers, settings.speech_queue)
        self.core_pool = ThreadPoolExecutor(max_workers=_CORE_THREADS, thread_name_prefix="core")
        self.limits = SessionLimits.from_settings(settings)
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
            await _Connection(self, ws, Session(session_id, self.deps, self.limits)).run()
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
    deps: SessionDeps,
    analyzer: SpeechAnalyzer,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (forever if None); ``ready(url)`` is called once listening.

    ``deps`` and ``analyzer`` are the engines, loaded once per process by :mod:`player.app`.

    Raises:
        CadenceError: If the address needs a token (``token_required``).
        OSError: If the address is in use.
    """
    check_exposure(settings)
    log = InteractionLog(settings.log_db, synchronous=settings.log_sync, autocheckpoint=False)
    core = _Server(settings, deps, analyzer, log)
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
async def running_server(
    settings: Settings, *, deps: SessionDeps, analyzer: SpeechAnalyzer
) -> AsyncIterator[str]:
    """Run a server for the duration of the ``async with``; yields its ``ws://`` URL.

    Raises:
        CadenceError, OSError: As :func:`run_server`, when it fails to start.
    """
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_ready(url: str) -> None:
        if not ready.done():
            ready.set_result(url)

    task = asyncio.create_task(run_server(settings, deps=deps, analyzer=analyzer, ready=on_ready, stop=stop))
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
