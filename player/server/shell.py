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
- **decoding while the listener speaks** (issue 14): after each chunk the shell asks the stream
  whether a partial decode is due (:meth:`mood.stream.UtteranceStream.decode_due`) and runs it
  (``advance``) on the speech pool, but only on an idle worker with no utterance waiting
  (:meth:`SpeechPool.try_background`), one at a time per connection: a partial never delays an
  utterance nor counts against the ``busy`` limit. Its result goes to the client as
  ``transcript.partial`` (translated here, as the core never sees partials: they are neither logged
  nor do they change the listener's state), and the stream is polled, since that decode may let the
  endpoint policy close the utterance now. When the utterance ends its transcriber is closed, so a
  decode not yet started does nothing and a running one is reused by the final analysis; a partial
  that lands after its utterance closed is dropped.
- **core threads**: each connection's session core runs one call at a time; reading typed text and
  ranking (milliseconds of CPU) run in one of :data:`CORE_THREADS` threads, so they never hold up the
  event loop and the other connections' acks. Light input (:meth:`Session.light`: playback reports
  that make no queue, audio frames, stream events) is handled on the event loop at once: in a core
  thread it would wait behind other listeners' ranking and cross threads twice (3× lower ack p99 at
  100 sessions, docs/scale.md).
- **limits**: a frame size ceiling (``websockets`` closes with 1009 above :data:`HARD_MAX_FRAME_BYTES`;
  below it the core answers ``frame_too_large`` and the connection stays), idle timeout, keepalive
  pings, ``settings.max_sessions`` concurrent sessions (``too_many_sessions``, close 1013), counted
  from an accepted ``hello``: a connection has ``settings.hello_timeout_s`` to say it (close 1008),
  and connections still waiting for it are capped in all and per client address, never holding a
  session slot.
- **deadlines on sending**: every send has ``settings.send_timeout_s``, and a watchdog drops a
  connection whose send buffer has not once been empty for that long (the keepalive ping would only
  queue behind the data): a client that stops reading is cut off (TCP reset), its session slot and
  its queued utterances freed.
- **faults**: an unexpected exception answers ``internal`` with a reference id that is logged with
  the traceback; the exception's text never reaches the client. A history that cannot be loaded ends
  that session (``internal``, close 1011) instead of leaving it waiting.
- **erasure**: a write the log refuses because ``cadence forget`` erased the listener during the
  session, or the watcher of ``erased_sessions`` (once a second), closes the session with
  ``listener_erased`` (close 1000).
- **security**: 127.0.0.1 by default; any other address needs ``--token`` (:func:`check_exposure`)
  and the token is checked in ``hello``; wrong tokens are logged at WARNING with the address and,
  from the second in a row, answered after a delay doubling per failure (:func:`auth_backoff_s`);
  a handshake whose ``Origin`` header is not in
  ``settings.allowed_origins`` is refused with HTTP 403 (cross-site WebSocket hijacking); no
  ``Origin`` means a non-browser client and is allowed.

The engines (library, ranker, mood analyzer) are built and warmed by the wiring module
(:mod:`player.app`) and passed in; "ready on ws://…" is logged when the socket opens.

**A library that changes while the server runs**: given a :class:`LiveDeps` (``player.app.LiveLibrary``),
the server asks it every :data:`LIBRARY_POLL_S` (in a thread: a check is one small read, a rebuild
milliseconds to a second) for the engines over the library as it is now, and when they are new
swaps them in on the event loop — one reference to an immutable :class:`SessionDeps`, handed to each
session before its next message (:meth:`Session.use`) and its track map to the HTTP service — so a
``cadence scan`` while the server runs makes the new tracks playable and drops the removed ones.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, Protocol, TypeVar, runtime_checkable

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from mood.errors import CadenceError
from mood.stream import PartialTranscript, StreamItem, Utterance, VadEvent
from player.core.links import http_url, with_links
from player.core.protocol import Error, Mixes, Queue, ServerMessage, TranscriptPartial, Welcome, dumps
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
from player.errors import ListenerErasedError
from player.server.http import HttpService, client_address, is_loopback
from player.server.log import session_hash
from player.server.logstore import LogStore, display_location, open_log_at
from player.server.writer import LogItem, LogWriter
from player.settings import Settings

__all__ = [
    "CORE_THREADS",
    "HARD_MAX_FRAME_BYTES",
    "LIBRARY_POLL_S",
    "LiveDeps",
    "SpeechPool",
    "auth_backoff_s",
    "check_exposure",
    "open_log",
    "page_url",
    "pick_eviction",
    "run_server",
    "running_server",
]

logger = logging.getLogger(__name__)

HARD_MAX_FRAME_BYTES = 1024 * 1024
"""Frames above this are refused by ``websockets`` itself (close 1009); the protocol's own limits
(:class:`player.core.session.SessionLimits`) are lower and answered with ``frame_too_large``."""

LIBRARY_POLL_S = 1.0
"""How often a server with a :class:`LiveDeps` asks whether the library changed (bursts of changes
within it become one new version)."""

_T = TypeVar("_T")
CORE_THREADS = 2
"""Threads running the session cores (text reading, ranking); the Recommender and the analyzer's
text path are thread-safe, and each Session is only ever used by one of them at a time."""


class LiveDeps(Protocol):
    """The session engines over a library that can change while the server runs
    (``player.app.LiveLibrary`` is one)."""

    def current(self) -> SessionDeps:
        """The engines over the library as it is now: the same object while it has not changed, a new
        one (built here, in the caller's thread) once it has."""
        ...


# ---------------------------------------------------------------- speech pool


class SpeechPool:
    """A bounded thread pool: ``workers`` threads, at most ``workers + waiting`` jobs admitted.

    Besides the admitted jobs (utterances), opportunistic background jobs (partial decodes) run only
    on a worker that would otherwise idle: :meth:`try_background` admits one only while fewer than
    ``workers`` jobs of either kind are in the pool, so none ever waits in the queue. They do not count
    against ``capacity``; an utterance that arrives while one runs waits for it at most one decode.
    """

    def __init__(self, workers: int, waiting: int) -> None:
        self.workers = max(1, workers)
        self.capacity = self.workers + max(0, waiting)
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="speech")
        self._admitted = 0
        self._background = 0

    def reserve(self) -> bool:
        """Admit one job (True) or refuse it because the pool is full (False). Event-loop only."""
        if self._admitted >= self.capacity:
            return False
        self._admitted += 1
        return True

    def release(self) -> None:
        """An admitted job is over (done, failed or abandoned)."""
        self._admitted = max(0, self._admitted - 1)

    def try_background(self) -> bool:
        """Admit a background job if a worker is idle and no job waits (True), else refuse it (False).
        Event-loop only."""
        if self._admitted + self._background >= self.workers:
            return False
        self._background += 1
        return True

    def release_background(self) -> None:
        """A background job is over."""
        self._background = max(0, self._background - 1)

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run ``fn`` in a worker thread (the caller holds a reservation)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


@runtime_checkable
class _DecodingStream(Protocol):
    """An utterance stream that decodes while the listener speaks (``mood.stream.UtteranceStream``)."""

    def decode_due(self) -> bool: ...
    def advance(self) -> PartialTranscript | None: ...
    def is_current(self, partial: PartialTranscript) -> bool: ...
    def poll(self) -> list[StreamItem]: ...


# ---------------------------------------------------------------- one connection


class _Connection:
    """Feeds one websocket's frames to its Session and carries out the effects, in order."""

    def __init__(self, server: _Server, ws: ServerConnection, session: Session, address: str) -> None:
        self.server = server
        self.ws = ws
        self.session = session
        self.address = address
        self.authenticated = False
        """True once ``hello`` was accepted: the connection then holds a session slot."""
        self.stream: UtteranceStreamLike | None = None
        self.closed = False
        self._speech_order = asyncio.Lock()
        self._core_order = asyncio.Lock()
        self._stream_order = asyncio.Lock()
        """One call at a time into the utterance stream (feed, finish, poll)."""
        self._decoding = False
        """A partial decode of this connection's stream is running (one at a time)."""
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def waiting(self) -> bool:
        """Open and not yet authenticated: waiting for its ``hello``, holding no session slot."""
        return not self.authenticated and not self.closed

    async def run(self) -> None:
        settings = self.server.settings
        hello_deadline = asyncio.get_running_loop().time() + settings.hello_timeout_s
        watchdog = asyncio.create_task(self._watch_send_buffer())
        try:
            while not self.closed:
                if self.authenticated:
                    when = asyncio.get_running_loop().time() + settings.idle_timeout_s
                else:
                    when = hello_deadline
                try:
                    async with asyncio.timeout_at(when):
                        frame = await self.ws.recv()
                except TimeoutError:
                    if self.authenticated:
                        await self._close(1001, "idle timeout")
                    else:
                        logger.info(
                            "closing a connection from %s: no hello within the deadline", self.address
                        )
                        await self._close(1008, "hello timeout")
                    break
                try:
                    await self.handle(frame)
                except ConnectionClosed:
                    raise
                except Exception:
                    # A fault of ours (or of an engine) must not cost the listener the connection.
                    await self._internal("handling a frame failed")
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            watchdog.cancel()
            await self.handle(Disconnected())
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _internal(self, what: str, *, close: bool = False) -> None:
        """Log a fault of ours with a reference id; the client gets ``internal`` and the reference,
        never the exception's text (``close``: then close the connection, 1011)."""
        reference = uuid.uuid4().hex[:12]
        logger.exception("session %s: %s (reference %s)", self.session.session_id, what, reference)
        await self._send(
            Error(code="internal", message=f"the server failed on that (reference {reference}; see its log)")
        )
        if close:
            await self._close(1011, f"internal error {reference}")

    async def _close(self, code: int, reason: str) -> None:
        """Close the connection, within the send deadline (a client that does not read is cut off)."""
        self.closed = True
        try:
            async with asyncio.timeout(self.server.settings.send_timeout_s):
                await self.ws.close(code, reason)
        except TimeoutError:
            self._abort("the close handshake")

    def _abort(self, what: str) -> None:
        """Drop the TCP connection at once: the client stopped reading."""
        logger.warning(
            "session %s (%s): %s missed its %.0f s deadline; dropping the connection",
            self.session.session_id,
            self.address,
            what,
            self.server.settings.send_timeout_s,
        )
        self.closed = True
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    async def _watch_send_buffer(self) -> None:
        """Drop the connection if its send buffer has not once been empty for ``send_timeout_s``:
        the client stopped reading, and keepalive pings would only queue behind the data."""
        limit = self.server.settings.send_timeout_s
        step = max(0.05, min(1.0, limit / 4))
        loop = asyncio.get_running_loop()
        drained_at = loop.time()
        while not self.closed:
            await asyncio.sleep(step)
            transport = self.ws.transport
            if transport is None or transport.is_closing():
                return
            if transport.get_write_buffer_size() == 0:
                drained_at = loop.time()
            elif loop.time() - drained_at > limit:
                self._abort("its send buffer")
                return

    async def handle(self, incoming: Incoming) -> None:
        """Hand ``incoming`` to the session core and carry out the effects it returns."""
        await self.apply(await self.feed(incoming))

    async def feed(self, incoming: Incoming) -> list[Effect]:
        """Hand ``incoming`` to the session core, one call at a time per connection.

        Reading typed text and ranking take milliseconds of CPU; on the event loop they would hold
        up every other connection's acks, so they run in the core threads. Light input
        (:meth:`Session.light`: a playback report, an audio frame) is handled here at once: sent
        to a core thread it would wait behind other listeners' rankings, and twice for the GIL.
        """
        async with self._core_order:
            if Session.light(incoming):
                return self._handle_now(incoming)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.server.core_pool, self._handle_now, incoming)

    def _handle_now(self, incoming: Incoming) -> list[Effect]:
        # the server's engines as of now, for this whole call (a swap lands between two calls)
        self.session.use(self.server.deps)
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
            message = effect.message if isinstance(effect, Send) else None
            if isinstance(message, Welcome) and not self._authenticate():
                return
            if isinstance(message, Error) and message.code == "unauthorized":
                # a wrong token: answered later with each failure in a row from this address
                await asyncio.sleep(self.server.auth_failed(self.address))
            await self._carry_out(effect)
        if records:
            await self._commit(records)

    def _authenticate(self) -> bool:
        """``hello`` was accepted: take a session slot (False: none free; the client is told so)."""
        server = self.server
        if server.active >= server.settings.max_sessions:
            logger.warning("refusing a session: %d sessions open", server.active)
            task = asyncio.create_task(self._refuse_session())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return False
        server.authenticated(self)
        self.authenticated = True
        return True

    async def _refuse_session(self) -> None:
        active = self.server.active
        await self._end(
            Error(code="too_many_sessions", message=f"{active} sessions open; try again later"), 1013
        )

    async def evict(self) -> None:
        """Too many connections wait for ``hello`` and this one waited longest: say so and close.
        (``closed`` is already set by the server, so it no longer counts as waiting.)"""
        message = "too many connections are waiting to say hello; try again"
        await self._end(Error(code="too_many_sessions", message=message), 1013)

    async def erased(self) -> None:
        """The listener of this session was erased (``cadence forget``): say so and close."""
        if self.closed:
            return
        logger.info("session %s: its listener was erased; closing", self.session.session_id)
        message = "this listener's data was erased (cadence forget); the session is closed"
        await self._end(Error(code="listener_erased", message=message), 1000)

    async def _end(self, error: Error, close_code: int) -> None:
        """Tell the client why, then close with ``close_code`` (the reason is the error's code)."""
        await self._send(error)
        await self._close(close_code, error.code.replace("_", " "))

    async def _commit(self, records: list[LogItem]) -> bool:
        try:
            await self.server.writer.write(records)
        except ListenerErasedError:
            await self.erased()
            return False
        except Exception:
            await self._internal("the interaction log could not store a message's records")
            return False
        return True

    async def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, Send):
            await self._send(effect.message)
        elif isinstance(effect, LoadHistory):
            try:
                loaded = await asyncio.to_thread(self._load_history, effect)
            except Exception:
                # The session would wait for its history for good: end it instead, with a reference.
                await self._internal("loading the listener's history failed", close=True)
                return
            await self.handle(loaded)
        elif isinstance(effect, SaveBaseline):
            await self._save_baseline(effect)
        elif isinstance(effect, OpenAudio):
            await self._open_stream(effect)
        elif isinstance(effect, FeedAudio | FinishAudio):
            await self._stream(effect)
        elif isinstance(effect, Analyze):
            self._analyze(effect)
        elif isinstance(effect, Close):
            await self._close(effect.code, effect.reason)

    def _load_history(self, effect: LoadHistory) -> HistoryLoaded:
        log = self.server.log
        events = log.events(effect.listener_id, playback_limit=effect.playback_limit)
        return HistoryLoaded(events, baseline=log.baseline(effect.listener_id))

    async def _save_baseline(self, effect: SaveBaseline) -> None:
        try:
            await asyncio.to_thread(
                self.server.log.save_baseline,
                effect.listener_id,
                effect.data,
                at_s=effect.at_s,
                session_id=effect.session_id,
            )
        except ListenerErasedError:
            await self.erased()
        except Exception:
            logger.exception("could not store the speaker baseline of %s", effect.listener_id)

    async def _send(self, message: ServerMessage) -> None:
        if self.closed and not isinstance(message, Error):
            return
        if isinstance(message, Queue):
            message = await self._linked(message)
        elif isinstance(message, Mixes):
            message = await self._linked_mixes(message)
        try:
            async with asyncio.timeout(self.server.settings.send_timeout_s):
                await self.ws.send(dumps(message))
        except ConnectionClosed:
            pass
        except TimeoutError:
            self._abort("a send")

    async def _linked(self, queue: Queue) -> Queue:
        """``queue`` with each track's ``audio_url``/``art_url``; its ``path`` only for a loopback client."""
        http = self.server.http
        unknown = [t.id for t in queue.tracks if not http.art_known(t.id)]
        if unknown:  # reading the tags for cover art: off the event loop, once per track
            await asyncio.to_thread(lambda: [http.has_art(track_id) for track_id in unknown])
        return with_links(
            queue, http.signer, time.time(), has_art=http.has_art, reveal_paths=is_loopback(self.address)
        )

    async def _linked_mixes(self, mixes: Mixes) -> Mixes:
        """``mixes`` with each mix's ``art_url``: the signed cover of its art track, when it has one."""
        http = self.server.http
        wanted = [m.art_track_id for m in mixes.mixes if m.art_track_id is not None]
        unknown = [t for t in wanted if not http.art_known(t)]
        if unknown:
            await asyncio.to_thread(lambda: [http.has_art(track_id) for track_id in unknown])
        now_s = time.time()
        return replace(
            mixes,
            mixes=tuple(
                replace(m, art_url=http.signer.url(m.art_track_id, "art", now_s))
                if m.art_track_id is not None and http.has_art(m.art_track_id)
                else m
                for m in mixes.mixes
            ),
        )

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
        due = False
        try:
            async with self._stream_order:
                if isinstance(effect, FeedAudio):
                    items = await asyncio.to_thread(stream.feed, effect.data)
                    due = isinstance(stream, _DecodingStream) and stream.decode_due()
                else:
                    items = await asyncio.to_thread(stream.finish)
        except CadenceError as exc:
            await self.handle(StreamFailed(exc.code, exc.message))
            return
        await self._stream_items(items)
        if due and isinstance(stream, _DecodingStream):
            self._start_decode(stream)

    async def _stream_items(self, items: Sequence[StreamItem]) -> None:
        for item in items:
            if isinstance(item, Utterance):
                await self.handle(UtteranceReady(item))
            elif isinstance(item, VadEvent):
                await self.handle(VadChanged(state=item.state, t_s=float(item.t_s)))

    def _start_decode(self, stream: _DecodingStream) -> None:
        """Decode the utterance in progress on an idle speech worker, if there is one (else skip it:
        the next chunk asks again, and the final analysis decodes whatever no partial did)."""
        if self._decoding or self.closed or not self.server.pool.try_background():
            return
        self._decoding = True
        task = asyncio.create_task(self._decode(stream))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _decode(self, stream: _DecodingStream) -> None:
        pool = self.server.pool
        try:
            partial = await pool.run(stream.advance)
        except Exception:  # a partial is a hint: its failure is logged, the utterance goes on
            logger.exception("session %s: a partial decode failed", self.session.session_id)
            partial = None
        finally:
            pool.release_background()
            self._decoding = False
        if partial is None or stream is not self.stream or self.closed:
            return
        async with self._stream_order:
            current = stream.is_current(partial)
            # the decode may let the endpoint policy close the utterance now, before the next chunk
            items = await asyncio.to_thread(stream.poll) if current else []
            due = stream.decode_due()
        if current:
            await self._send(
                TranscriptPartial(
                    text=partial.text,
                    stable_chars=partial.stable_chars,
                    start_s=partial.start_s,
                    heard_s=partial.heard_s,
                )
            )
        await self._stream_items(items)
        if due and stream is self.stream:
            self._start_decode(stream)

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
                if self.closed:  # the client is gone: its queued utterances are not analysed
                    result = AnalysisFailed(effect.request_id, "internal", "the connection closed")
                else:
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
        self,
        settings: Settings,
        deps: SessionDeps,
        analyzer: SpeechAnalyzer,
        log: LogStore,
        live: LiveDeps | None = None,
    ) -> None:
        self.settings = settings
        self.deps = deps
        """The engines over the library's current version; replaced whole (:meth:`use`), never changed."""
        self.live = live
        self.analyzer = analyzer
        self.log = log
        self.writer = LogWriter(log)
        self.pool = SpeechPool(settings.speech_workers, settings.speech_queue)
        self.core_pool = ThreadPoolExecutor(max_workers=CORE_THREADS, thread_name_prefix="core")
        self.limits = SessionLimits.from_settings(settings)
        self.active = 0
        """Connections holding a session slot (authenticated by ``hello``)."""
        self.auth_failures: dict[str, tuple[int, float]] = {}
        """Per client address: wrong tokens in a row and the monotonic time of the last."""
        self.connections: dict[str, _Connection] = {}
        """Open connections by session id."""
        self._background: set[asyncio.Task[None]] = set()
        self.http = HttpService(settings, deps.tracks, auth_failed=self.auth_failed)
        """Plain HTTP on the same port (the page, audio, art) and the handshake's checks."""

    async def handler(self, ws: ServerConnection) -> None:
        session_id = uuid.uuid4().hex[:16]
        address = client_address(ws)
        # a browser that opened the page with the token carries its cookie: its hello needs none
        limits = replace(self.limits, token=None) if ws in self.http.preauthorized else self.limits
        connection = _Connection(self, ws, Session(session_id, self.deps, limits), address)
        self._wait_for_hello(connection)
        self.connections[session_id] = connection
        try:
            await connection.run()
        except Exception:
            logger.exception("connection %s failed", session_id)
        finally:
            del self.connections[session_id]
            if connection.authenticated:
                self.active -= 1

    # -- connections that have not said hello yet (they never hold a session slot)

    def _wait_for_hello(self, connection: _Connection) -> None:
        """Make room for ``connection`` to wait for its ``hello`` (:func:`pick_eviction`)."""
        s = self.settings
        # connections are kept in arrival order: the waiting ones, longest-waiting first
        waiting = [(sid, c.address) for sid, c in self.connections.items() if c.waiting]
        victim_id = pick_eviction(
            waiting,
            connection.address,
            per_address=s.max_unauthenticated_per_address,
            total=s.max_unauthenticated,
        )
        if victim_id is not None:
            victim = self.connections[victim_id]
            victim.closed = True  # no longer waiting, at once
            logger.warning(
                "%d connections wait for hello: closing the one that waited longest (from %s)",
                len(waiting) + 1,
                victim.address,
            )
            task = asyncio.create_task(victim.evict())
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def authenticated(self, connection: _Connection) -> None:
        """``connection`` said hello and holds a session slot now."""
        self.active += 1
        self.auth_failures.pop(connection.address, None)

    # -- wrong tokens

    def auth_failed(self, address: str) -> float:
        """A wrong token from ``address``: logged at WARNING; returns how long to wait before answering."""
        now = time.monotonic()
        count, last = self.auth_failures.get(address, (0, now))
        if now - last > _AUTH_FAILURE_MEMORY_S:
            count = 0
        count += 1
        self.auth_failures[address] = (count, now)
        delay = auth_backoff_s(count, self.settings.auth_backoff_s, self.settings.auth_backoff_max_s)
        logger.warning(
            "wrong or missing token from %s (failure %d in a row; answered after %.1f s)",
            address,
            count,
            delay,
        )
        return delay

    # -- the library changing while the server runs

    def use(self, deps: SessionDeps) -> None:
        """Serve ``deps`` (a new version of the library) from now on. Event-loop only: one reference
        swap; each session takes it before its next message, the HTTP service at once."""
        self.deps = deps
        self.http.use_tracks(deps.tracks)

    async def watch_library(self, every_s: float = LIBRARY_POLL_S) -> None:
        """Swap in the engines of each new version of the library (:class:`LiveDeps`), checked every
        ``every_s`` off the event loop; a failure is logged and the current version kept."""
        live = self.live
        if live is None:
            return
        failing = ""
        while True:
            await asyncio.sleep(every_s)
            try:
                deps = await asyncio.to_thread(live.current)
            except Exception as exc:
                if repr(exc) != failing:  # a lasting failure is logged once, not every second
                    failing = repr(exc)
                    logger.exception("could not follow the library's changes; serving the version before")
                continue
            failing = ""
            if deps is not self.deps:
                self.use(deps)

    # -- erasure

    async def watch_erasures(self, every_s: float = 1.0) -> None:
        """Close the live sessions of listeners erased by ``cadence forget`` (in any process)."""
        _, mark = await asyncio.to_thread(self.log.erased_since, 0)
        while True:
            await asyncio.sleep(every_s)
            try:
                erased, mark = await asyncio.to_thread(self.log.erased_since, mark)
            except Exception:
                logger.exception("could not read the erased sessions")
                continue
            if not erased:
                continue
            erased_set = set(erased)
            for session_id, connection in list(self.connections.items()):
                if session_hash(session_id) in erased_set:
                    task = asyncio.create_task(connection.erased())
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)

    def close(self) -> None:
        self.http.close()
        self.writer.close()
        self.pool.shutdown()
        self.core_pool.shutdown(wait=False, cancel_futures=True)


_AUTH_FAILURE_MEMORY_S = 900.0
"""Wrong tokens from an address are forgotten after this long without another."""


def auth_backoff_s(failures: int, base_s: float, max_s: float) -> float:
    """Seconds to wait before answering the ``failures``-th wrong token in a row from one address:
    none for the first, then ``base_s`` doubling with each failure, at most ``max_s``."""
    if failures <= 1:
        return 0.0
    return float(min(max_s, base_s * 2.0 ** min(failures - 2, 30)))


def pick_eviction(
    waiting: Sequence[tuple[str, str]], address: str, *, per_address: int, total: int
) -> str | None:
    """Which waiting connection to close so that a new one from ``address`` may wait for its hello.

    ``waiting`` is ``(session_id, address)`` of the connections waiting now, longest-waiting first.
    Beyond ``per_address`` from one address the longest-waiting from that address goes; beyond
    ``total`` the longest-waiting of all. Loopback clients (this machine's own, which may open many
    sessions at once) are not capped per address, only in all. None: nobody needs to go.
    """
    if not is_loopback(address):
        same = [sid for sid, addr in waiting if addr == address]
        if len(same) >= per_address:
            return same[0]
    if len(waiting) >= total:
        return waiting[0][0]
    return None


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context from ``--tls-cert``/``--tls-key`` (None: plain ws/http).

    Raises:
        CadenceError: (``tls``) If only one of them is set, or they cannot be loaded.
    """
    if settings.tls_cert is None and settings.tls_key is None:
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise CadenceError("--tls-cert and --tls-key go together", code="tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise CadenceError(
            f"cannot load the TLS certificate {settings.tls_cert} and key {settings.tls_key}: {exc}",
            code="tls",
        ) from exc
    return context


def page_url(ws_url: str) -> str:
    """The web client's address on the server at ``ws_url`` (same host and port, over HTTP)."""
    return http_url(ws_url) + "/"


class _HeadDeadline(ServerConnection):
    """A connection whose request head must arrive within ``deadline_s`` of connecting.

    ``open_timeout`` is off because an audio response is streamed inside the ``process_request``
    hook, for as long as the listener's player reads it; this bounds what it bounded before that:
    a client that connects and never finishes its request.
    """

    deadline_s: float = 10.0

    @classmethod
    def factory(cls, deadline_s: float) -> type[_HeadDeadline]:
        return type("HeadDeadline", (cls,), {"deadline_s": deadline_s})

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        timer = self.loop.call_later(self.deadline_s, self._head_late)
        self.request_rcvd.add_done_callback(lambda _: timer.cancel())
        self.connection_lost_waiter.add_done_callback(lambda _: timer.cancel())

    def _head_late(self) -> None:
        if self.request is None:
            self.transport.abort()


def check_exposure(settings: Settings) -> None:
    """Refuse to listen beyond loopback without a token.

    Raises:
        CadenceError: (``token_required``) If ``settings.host`` is not a loopback address and no token is set.
    """
    if not is_loopback(settings.host) and not settings.token:
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
    log: LogStore | None = None,
    live: LiveDeps | None = None,
) -> None:
    """Serve until ``stop`` is set (forever if None); ``ready(url)`` is called once listening.

    ``deps`` and ``analyzer`` are the engines, loaded once per process by :mod:`player.app`; ``log``
    the interaction log from :func:`open_log` (the caller keeps and closes it), or None to open it here;
    ``live``: where newer ``deps`` come from when the library changes (None: ``deps`` for good).

    Raises:
        CadenceError: If the address needs a token (``token_required``), or the log is damaged.
        OSError: If the address is in use.
    """
    check_exposure(settings)
    tls = tls_context(settings)
    own_log = log is None
    if log is None:
        log = open_log(settings)
    core = _Server(settings, deps, analyzer, log, live)
    try:
        async with serve(
            core.handler,
            settings.host,
            settings.port,
            process_request=core.http.process_request,  # plain HTTP; Host and Origin checks
            create_connection=_HeadDeadline.factory(settings.hello_timeout_s),
            open_timeout=None,  # audio streams run inside the hook; _HeadDeadline bounds the request head
            ssl=tls,
            compression=None,
            max_size=HARD_MAX_FRAME_BYTES,
            max_queue=64,
            ping_interval=settings.ping_interval_s,
            ping_timeout=settings.ping_timeout_s,
            close_timeout=5,
            logger=logging.getLogger("player.server.ws"),
        ) as server:
            host, port = next(iter(server.sockets)).getsockname()[:2]
            scheme = "wss" if tls is not None else "ws"
            url = f"{scheme}://{host}:{port}" if ":" not in host else f"{scheme}://[{host}]:{port}"
            logger.info(
                "ready on %s, web client on %s (log %s)",
                url,
                page_url(url),
                display_location(settings.log_location),
            )
            watchers = [asyncio.create_task(core.watch_erasures()), asyncio.create_task(core.watch_library())]
            if ready is not None:
                ready(url)
            try:
                await (stop.wait() if stop is not None else asyncio.Future())
            finally:
                for watcher in watchers:
                    watcher.cancel()
                core.http.close()
    finally:
        await asyncio.to_thread(core.close)
        if own_log:
            log.close()


def open_log(settings: Settings) -> LogStore:
    """The interaction log as the server uses it: SQLite log.db (checked at open; WAL checkpoints left
    to the writer), or the PostgreSQL log at ``settings.log_url`` that several servers share.

    Raises:
        DatabaseCorruptError, StoreError: If log.db is damaged or the log cannot be opened.
        LogBackendMissingError: If the log is in PostgreSQL and the ``[postgres]`` extra is missing.
    """
    return open_log_at(settings.log_location, synchronous=settings.log_sync, autocheckpoint=False)


@asynccontextmanager
async def running_server(
    settings: Settings,
    *,
    deps: SessionDeps,
    analyzer: SpeechAnalyzer,
    log: LogStore | None = None,
    live: LiveDeps | None = None,
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

    task = asyncio.create_task(
        run_server(settings, deps=deps, analyzer=analyzer, ready=on_ready, stop=stop, log=log, live=live)
    )
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
