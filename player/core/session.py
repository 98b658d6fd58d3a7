"""The sans-I/O session core: one connection's conversation, messages in, effects out.

No sockets, no clock, no threads, no disk. :meth:`Session.handle` takes what arrived — a text frame,
a binary frame, or the result of an effect the shell ran — and the current server time, and returns
the effects the shell must carry out, in order:

- :class:`Send` a server message;
- :class:`Record` an event in the interaction log (the shell makes every ``Record`` durable before
  it performs the next ``Send``, so an ``ack`` always follows its commit);
- :class:`RecordQueue` an interleaved queue's picks (or the plain queue that replaced one) in the
  log, durable before that queue is sent, like a ``Record``;
- :class:`LoadHistory` of a returning listener: their recent logged events and stored speaker
  baseline (answered with :class:`HistoryLoaded`);
- :class:`SaveBaseline` of a named listener after each analysed utterance;
- :class:`OpenAudio`, :class:`FeedAudio`, :class:`FinishAudio` on the connection's utterance
  stream (VAD runs as chunks arrive; answered with :class:`VadChanged` / :class:`UtteranceReady`, or
  :class:`StreamFailed`);
- :class:`Analyze` an utterance against the session's speaker baseline in the speech worker pool
  (answered with :class:`AnalysisDone`, :class:`AnalysisFailed`, or :class:`AnalysisRejected` when
  the pool is full);
- :class:`Close` the connection.

The core decides everything; the shell only does the I/O. Typed text and ranking are cheap and run
inside the core, through the small interfaces :class:`TextMoodReader` and :class:`RecommenderLike`;
speech is heavy, so the shell runs a :class:`SpeechAnalyzer` when the core asks for it. The real
engines are checked against these Protocols where they are wired (``player.app``), the unit tests'
fakes in ``tests/support/fakes.py``.

Flow: ``hello`` → ``welcome``; ``session.start`` → the listener's history and this session's own
``session_start`` replayed into a :class:`~player.core.listener.ListenerState` by
:func:`player.core.replay.replay`, the very replay ``cadence train`` uses → first ``queue``; a new
mood, an intent or a skip pushes a fresh ``queue``; ``next`` asks for one. Spoken or typed intents
``skip``, ``like`` and ``stop`` act like the playback commands (a skip is logged at the playing
track's estimated position) and are relayed to the player as ``control``.

Mixes: ``mixes.list`` builds the listener's mixes (:mod:`player.core.mixes`, through
:class:`MixSourceLike`) from the replayed history plus everything this session logged, at the
listener's local time (``session.start.local_time`` advanced by the server time since); a build is
reused while the log, the day and the daypart are the same. ``mix.play`` takes that list (built
afresh if the listener never asked), restricts every following queue to the mix's tracks (ranked by
the live state: mood, requests and skips still steer within it) and says so in ``queue.mix``;
``mix.play`` with ``mix: null`` goes back to the whole library (or the session's own ``queue``).

Interleaving: with a challenger in :attr:`SessionDeps.interleaving`, queue number *i* of the session
is interleaved when :func:`player.core.interleave.should_interleave` says so for the session's share
(:attr:`SessionLimits.interleave_share`, else the challenger's own default): the recommender and the
challenger each rank twice the queue's length, :func:`~player.core.interleave.team_draft` merges them
(coin flips seeded by :func:`~player.core.interleave.draft_seed`, no clock; the recommender's artist
spacing kept), and :class:`QueueExplainerLike` gives the merged order the recommender's scores and
reasons. The client sees an ordinary ``queue``; the log gets each pick's team and rank
(:class:`RecordQueue`), and the plain queue that replaces an interleaved one is logged too, so the
credit knows where each interleaved queue's time on the player ended.
"""

from __future__ import annotations

import hmac
import json
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from mood.errors import CadenceError
from mood.prosody import SpeakerBaseline
from mood.types import MoodEstimate
from player.core.interleave import QueueRecord, draft_seed, should_interleave, team_draft
from player.core.listener import ListenerState
from player.core.protocol import (
    PROTOCOL_VERSION,
    Ack,
    AudioStart,
    AudioStop,
    ClientMessage,
    Control,
    Error,
    ErrorCode,
    Hello,
    MessageId,
    Mixes,
    MixesList,
    MixPlay,
    MixSummary,
    Mood,
    Next,
    Playback,
    Queue,
    QueuedTrack,
    QueueTrigger,
    ServerMessage,
    SessionEnd,
    SessionStart,
    Text,
    Vad,
    Welcome,
    parse,
    wire_code,
)
from player.core.records import LogEvent, LogKind, SampleFormat
from player.core.replay import apply_logged_event, replay
from player.core.track import Track, TrackId
from player.errors import ProtocolError

if TYPE_CHECKING:
    from mood.stream import StreamItem, Utterance
    from player.core.mixes import Mix
    from player.core.ranking import Recommendation
    from player.settings import Settings

__all__ = [
    "HISTORY_PLAYBACK_LIMIT",
    "AnalysisDone",
    "AnalysisFailed",
    "AnalysisRejected",
    "Analyze",
    "Close",
    "Disconnected",
    "Effect",
    "FeedAudio",
    "FinishAudio",
    "HistoryLoaded",
    "Incoming",
    "Interleaving",
    "LoadHistory",
    "MixSourceLike",
    "OpenAudio",
    "QueueExplainerLike",
    "RecommenderLike",
    "Record",
    "RecordQueue",
    "SaveBaseline",
    "Send",
    "Session",
    "SessionDeps",
    "SessionLimits",
    "SpeechAnalyzer",
    "StreamFailed",
    "TextMoodReader",
    "UtteranceReady",
    "UtteranceStreamLike",
    "VadChanged",
]

logger = logging.getLogger(__name__)

HISTORY_PLAYBACK_LIMIT = 5000
"""Newest playback events a returning listener's state is rebuilt from (the log returns every event
since the session the oldest of them belongs to: session starts and moods too)."""
_LIMIT_SLACK_S = 0.064

_REQUEUE_EVENTS = frozenset({"skipped", "disliked"})
"""Playback events that make a new queue (the rest are logged and acknowledged only)."""
_LIGHT_TYPES = frozenset({"hello", "audio.start", "audio.stop"})
"""Client message types whose handling never reads text or ranks."""
_LIGHT_PEEK_BYTES = 1024
"""Text frames longer than this are never taken for light (no message that is light needs more)."""
_DAYPART_STARTS_H = (5, 12, 17, 22)
DRAFT_DEPTH = 2
"""An interleaved queue of N tracks drafts from the first ``DRAFT_DEPTH · N`` of each ranking, so a
team still has a choice when the other took its track or the artist spacing passes one over."""
DRAFT_MAX_DEPTH = 16
"""When the first ``DRAFT_DEPTH · N`` cannot keep the artist spacing, the draft goes deeper, doubling, up
to ``DRAFT_MAX_DEPTH · N`` tracks of each ranking (a bound on a queue's cost)."""


# ---------------------------------------------------------------- the engines the core consults


class TextMoodReader(Protocol):
    """Reads mood and intents from typed text (``mood.analyzer.MoodAnalyzer`` is one)."""

    def analyze_text(self, text: str) -> MoodEstimate: ...


class RecommenderLike(Protocol):
    """Picks the next tracks for a listener (``player.core.ranking.Recommender`` is one)."""

    def recommend(
        self, state: ListenerState, *, count: int, at_s: float, within: Sequence[str] | None = None
    ) -> Recommendation: ...


class QueueExplainerLike(Protocol):
    """Scores and reasons for a queue in a given order (``player.core.ranking.explain.QueueExplainer``)."""

    def explain(self, state: ListenerState, track_ids: Sequence[str], *, at_s: float) -> Recommendation: ...


class MixSourceLike(Protocol):
    """Builds a listener's mixes from their log (``player.core.mixes.MixBuilder`` is one)."""

    def build(
        self, events: Sequence[LogEvent], *, listener_local: datetime, now_s: float, size: int = ...
    ) -> list[Mix]: ...


class UtteranceStreamLike(Protocol):
    """One audio stream's endpointing (``mood.stream.UtteranceStream`` is one)."""

    def feed(self, chunk: bytes) -> list[StreamItem]: ...
    def finish(self) -> list[StreamItem]: ...


class SpeechAnalyzer(Protocol):
    """What the shell runs for :class:`OpenAudio` and :class:`Analyze` (``MoodAnalyzer`` is one)."""

    def open_stream(
        self, sample_rate: int, channels: int, sample_format: SampleFormat
    ) -> UtteranceStreamLike: ...
    def analyze_utterance(
        self, utterance: Utterance, *, baseline: SpeakerBaseline | None = None
    ) -> MoodEstimate: ...


@dataclass(frozen=True, slots=True)
class Interleaving:
    """A challenger to interleave with the recommender (team ``"b"`` against its team ``"a"``)."""

    challenger: RecommenderLike
    """The retrained model's recommender, or the skip-aware heuristic."""
    name: str
    """Its name in the log (``player.core.interleave.HEURISTIC_CHALLENGER`` or ``retrained_name``)."""
    explainer: QueueExplainerLike
    """The recommender's scores and reasons for the merged order."""
    default_share: float
    """Share of queues (0–1) interleaved when the settings leave it to the challenger
    (:attr:`SessionLimits.interleave_share` None): 0.5 for a retrained model, 0 for the heuristic."""


@dataclass(frozen=True, slots=True)
class SessionDeps:
    """The shared, read-only engines every session uses: one set per version of the library.

    Immutable, so that it can be swapped whole when the library changes (:meth:`Session.use`): a
    session never pairs a recommender of one library version with the track map of another.
    """

    mood: TextMoodReader
    recommender: RecommenderLike
    tracks: Mapping[str, Track]
    """The library by track id: checks ids from the client and filters the replayed history."""
    interleaving: Interleaving | None = None
    """The challenger interleaved on a share of queues (None: every queue is the recommender's)."""
    mixes: MixSourceLike | None = None
    """The listener's mixes (None: ``mixes.list`` answers an empty list)."""


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Per-connection limits, enforced by the core (and documented in docs/protocol.md).

    No defaults here: :class:`player.settings.Settings` holds them; use :meth:`from_settings`.
    """

    token: str | None
    """Shared secret the client must present in ``hello`` (None: none needed)."""
    max_text_bytes: int
    """Largest text frame accepted; larger ones get ``frame_too_large`` and are dropped."""
    max_binary_bytes: int
    """Largest binary (audio) frame accepted."""
    messages_per_s: float
    """Token-bucket refill rate for text frames."""
    message_burst: float
    """Token-bucket capacity for text frames."""
    audio_speedup: float
    """Audio may arrive this many times faster than real time on average …"""
    audio_burst_s: float
    """… after a burst of this many seconds of audio (a whole file streamed at once)."""
    max_utterance_s: float
    """Longest utterance analysed; one that reached it gets ``audio_too_long``."""
    queue_count: int
    """Tracks per ``queue`` until the client asks otherwise with ``next``."""
    interleave_share: float | None
    """Share of queues (0–1) interleaved with the challenger; None: the challenger's default
    (:attr:`Interleaving.default_share`)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionLimits:
        """The limits ``settings`` describe."""
        return cls(
            token=settings.token,
            max_text_bytes=settings.max_text_bytes,
            max_binary_bytes=settings.max_binary_bytes,
            messages_per_s=settings.messages_per_s,
            message_burst=settings.message_burst,
            audio_speedup=settings.audio_speedup,
            audio_burst_s=settings.audio_burst_s,
            max_utterance_s=settings.max_utterance_s,
            queue_count=settings.queue_count,
            interleave_share=settings.interleave_share,
        )


# ---------------------------------------------------------------- inputs the shell feeds back


@dataclass(frozen=True, slots=True)
class HistoryLoaded:
    """Answer to :class:`LoadHistory`: the listener's logged events, oldest first, and their baseline."""

    events: Sequence[LogEvent]
    baseline: Mapping[str, Any] | None = None
    """The stored speaker baseline (``SpeakerBaseline.to_dict()``), None if there is none."""


@dataclass(frozen=True, slots=True)
class VadChanged:
    """The utterance stream saw speech start or stop (``mood.stream.VadEvent``)."""

    state: Literal["speech", "silence"]
    t_s: float
    """Seconds since ``audio.start``."""


@dataclass(frozen=True, slots=True)
class UtteranceReady:
    """The utterance stream cut an utterance; it is handed back in :class:`Analyze`."""

    utterance: Utterance


@dataclass(frozen=True, slots=True)
class StreamFailed:
    """The utterance stream could not be opened or refused a chunk (the stream stays as it was)."""

    code: str
    """A ``mood.errors`` code (``audio_format``, ``audio_non_finite``, …)."""
    message: str


@dataclass(frozen=True, slots=True)
class AnalysisDone:
    """Answer to :class:`Analyze`: the utterance's mood (the baseline has been updated with it)."""

    request_id: int
    estimate: MoodEstimate


@dataclass(frozen=True, slots=True)
class AnalysisFailed:
    """Answer to :class:`Analyze`: the utterance could not be analysed."""

    request_id: int
    code: str
    """A ``mood.errors`` code (``no_speech``, ``audio_too_long``, …) or ``internal``."""
    message: str


@dataclass(frozen=True, slots=True)
class AnalysisRejected:
    """The speech pool was full; the utterance was dropped."""

    request_id: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection is gone (closed, timed out or broken)."""


Incoming: TypeAlias = (
    str
    | bytes
    | HistoryLoaded
    | VadChanged
    | UtteranceReady
    | StreamFailed
    | AnalysisDone
    | AnalysisFailed
    | AnalysisRejected
    | Disconnected
)


# ---------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``message`` to the client."""

    message: ServerMessage


@dataclass(frozen=True, slots=True)
class Record:
    """Write ``event`` to the interaction log; the core sends any ``ack`` only after its result."""

    event: LogEvent
    evidence: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RecordQueue:
    """Write an interleaved queue (or the plain queue that replaced one) to the interaction log.

    Emitted before the queue's ``Send``: the shell commits it first, so the log knows every
    interleaved queue the listener was shown, and where its time on the player ended.
    """

    queue: QueueRecord


@dataclass(frozen=True, slots=True)
class LoadHistory:
    """Read a returning listener's logged events and stored speaker baseline (fed back as
    :class:`HistoryLoaded`)."""

    listener_id: str
    playback_limit: int = HISTORY_PLAYBACK_LIMIT
    """Every event since the session of the ``playback_limit``-th newest playback event."""


@dataclass(frozen=True, slots=True)
class SaveBaseline:
    """Store a named listener's speaker baseline (no answer; a failure is only logged)."""

    listener_id: str
    data: dict[str, Any]
    """``SpeakerBaseline.to_dict()``: numbers only."""
    at_s: float
    """Server time of the update, Unix seconds."""
    session_id: str | None = None
    """The session that updated it (not written if that session's listener was erased meanwhile)."""


@dataclass(frozen=True, slots=True)
class OpenAudio:
    """Open an utterance stream (VAD, endpointing) for the audio that follows ``audio.start``."""

    sample_rate: int
    channels: int
    format: SampleFormat


@dataclass(frozen=True, slots=True)
class FeedAudio:
    """Feed binary audio to the open stream."""

    data: bytes
    """Whole sample frames only (the core carries a partial frame over to the next chunk)."""


@dataclass(frozen=True, slots=True)
class FinishAudio:
    """Flush the open stream at ``audio.stop`` (its last utterance, if any, comes back as a result)."""


@dataclass(frozen=True, slots=True)
class Analyze:
    """Run mood analysis of ``utterance`` in the speech worker pool; the result names ``request_id``.

    The analysis reads the voice against ``baseline`` and updates it (``SpeakerBaseline`` is
    thread-safe; the shell analyses one connection's utterances one at a time, in order).
    """

    request_id: int
    utterance: Utterance
    baseline: SpeakerBaseline | None = None


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection."""

    code: int
    """RFC 6455 section 7.4.1 status: 1000 normal, 1008 policy violation."""
    reason: str


Effect: TypeAlias = (
    Send
    | Record
    | RecordQueue
    | LoadHistory
    | SaveBaseline
    | OpenAudio
    | FeedAudio
    | FinishAudio
    | Analyze
    | Close
)

_Phase = Literal["hello", "start", "loading", "active", "ended"]


class _TokenBucket:
    """Classic token bucket; time is passed in."""

    def __init__(self, rate_per_s: float, capacity: float) -> None:
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.tokens = capacity
        self.at_s: float | None = None

    def take(self, amount: float, now_s: float) -> bool:
        if self.at_s is not None:
            self.tokens = min(self.capacity, self.tokens + max(0.0, now_s - self.at_s) * self.rate_per_s)
        self.at_s = now_s
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False


@dataclass(slots=True)
class _Playing:
    track_id: str
    position_s: float
    at_s: float


class Session:
    """One connection's conversation state. Not thread-safe: the shell calls it from one loop."""

    def __init__(self, session_id: str, deps: SessionDeps, limits: SessionLimits) -> None:
        self.session_id = session_id
        self.deps = deps
        self.limits = limits
        self.phase: _Phase = "hello"
        self.listener_id: str | None = None
        self.named_listener = False
        """True when the client gave a ``listener_id`` (history and speaker baseline persist)."""
        self.state: ListenerState | None = None
        self.baseline: SpeakerBaseline | None = None
        """The speaker's running prosodic baseline (from the log for a named listener)."""
        self.store_transcripts = False
        self.device: str | None = None
        self.count = self.limits.queue_count
        self.within: tuple[str, ...] | None = None
        """The tracks queues are drawn from (None: the whole library): the playing mix's, or else the
        session's own ``session.start.queue``."""
        self._own_within: tuple[str, ...] | None = None
        self.mix: Mix | None = None
        """The mix being played (``mix.play``), None for the whole library."""
        self._events: list[LogEvent] = []
        """The listener's replayed history and every event this session logged, oldest first (mixes)."""
        self._local_start: tuple[datetime, float] | None = None
        """The listener's local time at ``session.start`` and the server time then."""
        self._mixes: tuple[tuple[object, ...], list[Mix]] | None = None
        """The last build of the mixes and what it was built for (reused while that is unchanged)."""
        self._pending_start: SessionStart | None = None
        self._audio: AudioStart | None = None
        self._audio_carry = b""
        self._next_request = 1
        self._analyses: dict[int, UtteranceReady] = {}
        self._playing: _Playing | None = None
        self._messages = _TokenBucket(self.limits.messages_per_s, self.limits.message_burst)
        self._audio_budget: _TokenBucket | None = None
        self._queues_made = 0
        """Queues made so far in this session: the next queue's number."""
        self._interleaved_now = False
        """The last queue sent was interleaved (its replacement is logged as its end)."""

    # ------------------------------------------------------------ entry point

    def use(self, deps: SessionDeps) -> None:
        """Take ``deps`` (the engines over a newer version of the library) from the next message on.

        The shell calls it between two calls of :meth:`handle`, never during one, so each message is
        handled with one version of the library throughout. Tracks the new library no longer holds
        drop out of the next queue; their ids in the listener's history, the playing track, the
        session's own queue or a playing mix are passed over, as a replay passes over them, and the
        mixes are built again over the new library when next asked for.
        """
        if deps is self.deps:
            return
        self.deps = deps
        self._mixes = None

    @staticmethod
    def light(incoming: Incoming) -> bool:
        """Whether handling ``incoming`` is cheap: no text read for mood, no queue ranked.

        A shell may run light input at once and hand the rest to a worker thread, so that a
        playback report is not acknowledged only after someone else's typed text was ranked. It
        is a peek, not a parse: a frame that turns out to be malformed is answered cheaply anyway.
        Audio frames, stream and analysis outcomes that make no queue, ``hello``, ``audio.start``,
        ``audio.stop`` and playback events other than skips and dislikes are light.
        """
        if isinstance(incoming, bytes | bytearray | memoryview):
            return True
        if isinstance(
            incoming, UtteranceReady | VadChanged | StreamFailed | AnalysisFailed | AnalysisRejected
        ):
            return True
        if not isinstance(incoming, str) or len(incoming) > _LIGHT_PEEK_BYTES:
            return False
        try:
            data = json.loads(incoming)
        except (ValueError, RecursionError):
            return True  # answered with ``invalid_json``
        if not isinstance(data, dict):
            return True
        mtype = data.get("type")
        if mtype == "playback":
            return data.get("event") not in _REQUEUE_EVENTS
        return mtype in _LIGHT_TYPES

    def handle(self, incoming: Incoming, *, now_s: float) -> list[Effect]:
        """Everything to do about ``incoming`` at server time ``now_s`` (Unix seconds)."""
        try:
            if isinstance(incoming, str):
                return self._text_frame(incoming, now_s)
            if isinstance(incoming, bytes | bytearray | memoryview):
                return self._binary_frame(bytes(incoming), now_s)
            if isinstance(incoming, HistoryLoaded):
                return self._history_loaded(incoming, now_s)
            if isinstance(incoming, VadChanged):
                return [Send(Vad(state=incoming.state, t_s=incoming.t_s))] if self._audio_open() else []
            if isinstance(incoming, UtteranceReady):
                return self._utterance_ready(incoming)
            if isinstance(incoming, StreamFailed):
                return [self._error(wire_code(incoming.code), incoming.message)]
            if isinstance(incoming, AnalysisDone):
                return self._analysis_done(incoming, now_s)
            if isinstance(incoming, AnalysisFailed):
                self._analyses.pop(incoming.request_id, None)
                return [self._error(wire_code(incoming.code), incoming.message)]
            if isinstance(incoming, AnalysisRejected):
                self._analyses.pop(incoming.request_id, None)
                return [self._error("busy", "the speech workers are busy; that utterance was dropped")]
            if isinstance(incoming, Disconnected):
                return self._disconnected(now_s)
        except CadenceError as exc:
            return [self._error(wire_code(exc.code), exc.message)]
        raise TypeError(f"Session.handle cannot take {type(incoming).__name__}")

    # ------------------------------------------------------------ frames

    def _text_frame(self, text: str, now_s: float) -> list[Effect]:
        if len(text) > self.limits.max_text_bytes or len(text.encode("utf-8")) > self.limits.max_text_bytes:
            return [
                self._error(
                    "frame_too_large", f"text frames are limited to {self.limits.max_text_bytes} bytes"
                )
            ]
        if not self._messages.take(1.0, now_s):
            return [
                self._error("rate_limited", f"more than {self.limits.messages_per_s:g} messages per second")
            ]
        try:
            message = parse(text)
        except ProtocolError as exc:
            return [self._error(wire_code(exc.code), exc.message)]
        try:
            return self._message(message, now_s)
        except CadenceError as exc:
            return [self._error(wire_code(exc.code), exc.message, ref=message.id)]

    def _binary_frame(self, data: bytes, now_s: float) -> list[Effect]:
        if len(data) > self.limits.max_binary_bytes:
            return [
                self._error(
                    "frame_too_large", f"binary frames are limited to {self.limits.max_binary_bytes} bytes"
                )
            ]
        audio = self._audio
        if audio is None or self._audio_budget is None:
            # Stray binary frames count as messages, so a flood of them is rate limited too.
            if not self._messages.take(1.0, now_s):
                return [
                    self._error(
                        "rate_limited", f"more than {self.limits.messages_per_s:g} messages per second"
                    )
                ]
            return [
                self._error(
                    "binary_outside_audio",
                    "binary frames are audio and go between audio.start and audio.stop",
                )
            ]
        if not self._audio_budget.take(float(len(data)), now_s):
            return [
                self._error("rate_limited", f"audio faster than {self.limits.audio_speedup:g}x real time")
            ]
        frame_bytes = audio.channels * (2 if audio.format == "s16le" else 4)
        data = self._audio_carry + data
        whole = len(data) - len(data) % frame_bytes
        self._audio_carry = data[whole:]
        return [FeedAudio(data[:whole])] if whole else []

    # ------------------------------------------------------------ messages

    def _message(self, message: ClientMessage, now_s: float) -> list[Effect]:
        if isinstance(message, Hello):
            return self._hello(message)
        if self.phase == "hello":
            return [self._error("not_started", "send `hello` first", ref=message.id)]
        if isinstance(message, SessionStart):
            return self._session_start(message, now_s)
        if self.phase != "active":
            return [self._error("not_started", "send `session.start` first", ref=message.id)]
        if isinstance(message, Text):
            estimate = self.deps.mood.analyze_text(message.text)
            return self._mood(estimate, now_s, source="text", ref=message.id)
        if isinstance(message, AudioStart):
            return self._audio_start(message)
        if isinstance(message, AudioStop):
            if self._audio is None:
                return [self._error("not_started", "`audio.stop` without `audio.start`", ref=message.id)]
            self._audio = None
            self._audio_carry = b""
            # The ack follows the stream's last `vad` events: the client then knows how many
            # utterances to expect a `mood` (or an `error`) for.
            return [FinishAudio(), Send(Ack(of=message.type, ref=message.id))]
        if isinstance(message, Playback):
            return self._playback(message, now_s)
        if isinstance(message, Next):
            self.count = message.count
            return self._queue(now_s, trigger="next", ref=message.id)
        if isinstance(message, MixesList):
            summaries = tuple(_summary(m) for m in self._current_mixes(now_s))
            return [Send(Mixes(mixes=summaries, ref=message.id))]
        if isinstance(message, MixPlay):
            return self._mix_play(message, now_s)
        if isinstance(message, SessionEnd):
            effects: list[Effect] = [FinishAudio()] if self._audio is not None else []
            self._audio = None
            effects += [
                *self._end(now_s),
                Send(Ack(of=message.type, ref=message.id)),
                Close(1000, "session ended"),
            ]
            return effects
        raise AssertionError(f"unhandled message {message!r}")

    def _hello(self, message: Hello) -> list[Effect]:
        if self.phase != "hello":
            return [self._error("already_started", "`hello` was already received", ref=message.id)]
        expected = self.limits.token
        if expected is not None and not hmac.compare_digest(
            (message.token or "").encode("utf-8"), expected.encode("utf-8")
        ):
            return [
                self._error("unauthorized", "wrong or missing token", ref=message.id),
                Close(1008, "unauthorized"),
            ]
        if message.protocol != PROTOCOL_VERSION:
            return [
                self._error(
                    "unsupported_protocol",
                    f"this server speaks protocol {PROTOCOL_VERSION}, not {message.protocol}",
                    ref=message.id,
                )
            ]
        self.phase = "start"
        logger.debug("session %s: hello from %s", self.session_id, message.client)
        return [Send(Welcome(protocol=PROTOCOL_VERSION, session_id=self.session_id))]

    def _session_start(self, message: SessionStart, now_s: float) -> list[Effect]:
        if self.phase != "start":
            return [
                self._error("already_started", "this connection already started its session", ref=message.id)
            ]
        if message.queue is not None:
            unknown = [tid for tid in message.queue if tid not in self.deps.tracks]
            if unknown:
                shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
                return [
                    self._error("unknown_track", f"{len(unknown)} unknown track ids: {shown}", ref=message.id)
                ]
            if not message.queue:
                return [self._error("bad_field", "`session.start.queue` must not be empty", ref=message.id)]
        self.listener_id = message.listener_id or f"anon-{self.session_id}"
        self.named_listener = message.listener_id is not None
        self.store_transcripts = message.store_transcripts
        self.device = message.device
        self.within = self._own_within = message.queue
        self.phase = "loading"
        self._pending_start = message
        if not self.named_listener:
            # An anonymous listener is new: no history, no stored baseline.
            return self._history_loaded(HistoryLoaded(events=()), now_s)
        return [LoadHistory(self.listener_id)]

    def _history_loaded(self, loaded: HistoryLoaded, now_s: float) -> list[Effect]:
        message = self._pending_start
        if self.phase != "loading" or message is None or self.listener_id is None:
            return []
        self._pending_start = None
        start = self._event("session_start", now_s, local_time=message.local_time, device=message.device)
        # One replay for serving and training: the logged history and then this session's own start,
        # exactly as `cadence train` rebuilds the state from the log (tests/player/core/test_replay.py);
        # playback of tracks no longer in the library is passed over, the others carry their features.
        state = replay(self.listener_id, [*loaded.events, start], tracks=self.deps.tracks)
        if state is None:  # pragma: no cover - replay creates the state at a session_start
            raise AssertionError("replaying a session_start made no listener state")
        self.state = state
        self._events = [*loaded.events, start]
        self._local_start = (message.local_datetime(), now_s)
        self.baseline = self._speaker_baseline(loaded.baseline)
        self.phase = "active"
        logger.info(
            "session %s started for listener %s (%d logged events replayed)",
            self.session_id,
            self.listener_id,
            len(loaded.events),
        )
        return [Record(start), *self._queue(now_s, trigger="start", ref=message.id)]

    def _speaker_baseline(self, stored: Mapping[str, Any] | None) -> SpeakerBaseline:
        """The stored baseline of a returning speaker, else a fresh one (the population prior)."""
        if stored is not None:
            try:
                return SpeakerBaseline.from_dict(stored)
            except (AttributeError, KeyError, TypeError, ValueError):
                logger.warning("ignoring the stored speaker baseline of %s (unreadable)", self.listener_id)
        return SpeakerBaseline()

    def _audio_start(self, message: AudioStart) -> list[Effect]:
        if self._audio is not None:
            return [
                self._error(
                    "already_started", "audio already started; send `audio.stop` first", ref=message.id
                )
            ]
        self._audio = message
        self._audio_carry = b""
        rate = message.bytes_per_second
        self._audio_budget = _TokenBucket(rate * self.limits.audio_speedup, rate * self.limits.audio_burst_s)
        return [OpenAudio(sample_rate=message.sample_rate, channels=message.channels, format=message.format)]

    def _audio_open(self) -> bool:
        return self.phase == "active"

    def _utterance_ready(self, ready: UtteranceReady) -> list[Effect]:
        if self.phase != "active":
            return []
        # The stream cuts speech that goes on at the limit and says so; every such cut (the first
        # one too, whose leading margin the stream's start may have shortened) is refused rather
        # than analysed half-heard, as is anything as long as the limit (within two 32 ms frames).
        utterance = ready.utterance
        if utterance.reached_limit or utterance.duration_s >= self.limits.max_utterance_s - _LIMIT_SLACK_S:
            return [
                self._error(
                    "audio_too_long",
                    f"an utterance reached the {self.limits.max_utterance_s:g} s limit and was dropped; "
                    "pause between sentences",
                )
            ]
        request_id = self._next_request
        self._next_request += 1
        self._analyses[request_id] = ready
        return [Analyze(request_id=request_id, utterance=ready.utterance, baseline=self.baseline)]

    def _analysis_done(self, done: AnalysisDone, now_s: float) -> list[Effect]:
        ready = self._analyses.pop(done.request_id, None)
        effects: list[Effect] = []
        if ready is not None and self.phase == "active":
            effects = self._mood(done.estimate, now_s, source="voice", utterance=ready)
        # The analysis updated the baseline, even if the session ended meanwhile: a named
        # listener's voice is read against their own baseline next time.
        if self.named_listener and self.listener_id is not None and self.baseline is not None:
            effects.append(
                SaveBaseline(
                    self.listener_id, self.baseline.to_dict(), at_s=now_s, session_id=self.session_id
                )
            )
        return effects

    # ------------------------------------------------------------ mood, playback, queue

    def _mood(
        self,
        estimate: MoodEstimate,
        now_s: float,
        *,
        source: Literal["text", "voice"],
        ref: MessageId | None = None,
        utterance: UtteranceReady | None = None,
    ) -> list[Effect]:
        assert self.state is not None
        # The live estimate, not its log row: it also carries the label and each intent's strength
        # and phrase, which the log does not keep (a replay of this mood reads the logged numbers).
        self.state.observe_mood(estimate, at_s=now_s)
        transcript = estimate.transcript if self.store_transcripts else None
        effects: list[Effect] = [
            Record(
                self._event(
                    "mood",
                    now_s,
                    valence=float(estimate.valence),
                    energy=float(estimate.energy),
                    confidence=float(estimate.confidence),
                    valence_confidence=estimate.axis_confidences[0],
                    energy_confidence=estimate.axis_confidences[1],
                    intents=tuple(i.kind for i in estimate.intents),
                    intent_strengths=tuple(float(i.strength) for i in estimate.intents),
                    transcript=transcript,
                ),
                evidence=dict(estimate.evidence) if estimate.evidence else None,
            ),
            Send(
                Mood(
                    estimate=estimate,
                    source=source,
                    start_s=utterance.utterance.start_s if utterance else None,
                    end_s=utterance.utterance.end_s if utterance else None,
                    ref=ref,
                )
            ),
        ]
        kinds = {i.kind for i in estimate.intents}
        playing = self._playing
        if "skip" in kinds:
            track_id = playing.track_id if playing else None
            if playing is not None:
                effects += self._observe("skipped", playing.track_id, self._position(playing, now_s), now_s)
                self._playing = None
            effects.append(Send(Control(action="skip", track_id=track_id)))
        if "like" in kinds and playing is not None:
            effects += self._observe("liked", playing.track_id, self._position(playing, now_s), now_s)
        if "stop" in kinds:
            effects.append(Send(Control(action="stop", track_id=playing.track_id if playing else None)))
        effects += self._queue(now_s, trigger="intent" if kinds else "mood", ref=ref)
        return effects

    def _current_mixes(self, now_s: float) -> list[Mix]:
        """The listener's mixes now: the last build while the log, the day and the daypart are unchanged."""
        source = self.deps.mixes
        if source is None or self._local_start is None:
            return []
        local_start, start_s = self._local_start
        local = local_start + timedelta(seconds=max(0.0, now_s - start_s))
        # The dayparts start at 5, 12, 17 and 22 h (player.core.mixes.daypart); a build is kept within one.
        key = (len(self._events), local.date(), sum(local.hour >= h for h in _DAYPART_STARTS_H))
        if self._mixes is None or self._mixes[0] != key:
            self._mixes = (key, source.build(self._events, listener_local=local, now_s=now_s))
        return self._mixes[1]

    def _mix_play(self, message: MixPlay, now_s: float) -> list[Effect]:
        if message.mix is None:
            self.mix, self.within = None, self._own_within
        else:
            mix = next((m for m in self._current_mixes(now_s) if m.id == message.mix), None)
            if mix is None:
                return [
                    self._error(
                        "unknown_mix",
                        f"no mix {message.mix!r} for this listener now; ask with `mixes.list`",
                        ref=message.id,
                    )
                ]
            self.mix, self.within = mix, mix.track_ids
        return self._queue(now_s, trigger="mix", ref=message.id)

    def _playback(self, message: Playback, now_s: float) -> list[Effect]:
        track = self.deps.tracks.get(message.track_id)
        if track is None:
            return [
                self._error("unknown_track", f"no track {message.track_id!r} in the library", ref=message.id)
            ]
        # A player's clock may run past the end (gapless handover, rounding): a position beyond the
        # track's length is clamped to it, in the log and the listener state alike.
        position_s = message.position_s
        if track.duration_s > 0:
            position_s = min(position_s, float(track.duration_s))
        effects = self._observe(message.event, message.track_id, position_s, now_s)
        if message.event == "started":
            self._playing = _Playing(message.track_id, position_s, now_s)
        elif (
            message.event in ("skipped", "completed") and self._playing and self._playing.track_id == track.id
        ):
            self._playing = None
        effects.append(Send(Ack(of=message.type, ref=message.id)))
        if message.event in _REQUEUE_EVENTS:
            effects += self._queue(now_s, trigger="skip", ref=message.id)
        return effects

    def _observe(self, kind: LogKind, track_id: str, position_s: float, now_s: float) -> list[Effect]:
        assert self.state is not None and self.listener_id is not None
        event = self._event(kind, now_s, track_id=track_id, position_s=position_s)
        self._events.append(event)
        # The same path as the replay of this event from the log (training, the next session).
        apply_logged_event(self.state, self.listener_id, event, tracks=self.deps.tracks)
        return [Record(event)]

    def _position(self, playing: _Playing, now_s: float) -> float:
        """Where the playing track is now, from its `started` report and the time since."""
        position = playing.position_s + max(0.0, now_s - playing.at_s)
        track = self.deps.tracks.get(playing.track_id)
        return round(min(position, track.duration_s) if track else position, 3)

    def _queue(self, now_s: float, *, trigger: QueueTrigger, ref: MessageId | None) -> list[Effect]:
        """The next queue, interleaved with the challenger on the configured share of queues."""
        assert self.state is not None and self.listener_id is not None
        index = self._queues_made
        self._queues_made += 1
        interleaving = self.deps.interleaving
        drafted = None
        if interleaving is not None and should_interleave(self.session_id, index, self._share(interleaving)):
            drafted = self._interleaved(interleaving, index, now_s)
        effects: list[Effect] = []
        if drafted is not None:
            recommendation, record = drafted
            effects.append(RecordQueue(record))
        else:
            recommendation = self.deps.recommender.recommend(
                self.state, count=self.count, at_s=now_s, within=self.within
            )
            if self._interleaved_now:
                # The end of the interleaved queue's time on the player, for its credit.
                plain = QueueRecord(self.session_id, index, self.listener_id, now_s, challenger=None)
                effects.append(RecordQueue(plain))
        self._interleaved_now = drafted is not None
        queue = self._queue_message(recommendation, trigger=trigger, ref=ref)
        if self.mix is not None:
            queue = replace(queue, mix_id=self.mix.id, mix_title=self.mix.title)
        effects.append(Send(queue))
        return effects

    def _share(self, interleaving: Interleaving) -> float:
        share = self.limits.interleave_share
        return interleaving.default_share if share is None else share

    def _interleaved(
        self, interleaving: Interleaving, index: int, now_s: float
    ) -> tuple[Recommendation, QueueRecord] | None:
        """Team-draft the recommender's and the challenger's rankings into this queue (None: a list was
        too short to fill it, and the recommender's own queue is served instead).

        The draft starts from the first ``DRAFT_DEPTH · N`` of each ranking; when those cannot keep the
        artist spacing (a team's turn follows a track by the one artist its unpicked tracks are all by)
        and a ranking was cut there, it drafts again, with the same coin flips, from rankings twice as
        deep, until the spacing holds, both rankings are whole or they are ``DRAFT_MAX_DEPTH · N`` deep.
        So the same artist plays twice in a row only when a team's ranking holds nobody else that far.
        """
        assert self.state is not None and self.listener_id is not None
        last = self.state.last_track_id
        engines = (self.deps.recommender, interleaving.challenger)
        depth = DRAFT_DEPTH * self.count
        first: list[set[TrackId]] = []
        recent: set[str] | None = None
        while True:
            ranked = [
                [
                    p.track.id
                    for p in engine.recommend(self.state, count=depth, at_s=now_s, within=self.within).picks
                ]
                for engine in engines
            ]
            whole = all(len(ranking) < depth for ranking in ranked)
            if not first:
                first = [set(ranking) for ranking in ranked]
            else:
                # A ranking asked for more tracks than the fresh ones brings recently played tracks back
                # (a small library): the deeper pass only adds fresh tracks to what the first one held.
                if recent is None:
                    recent = self.state.recently_played(at_s=now_s)
                ranked = [
                    [tid for tid in ranking if tid in held or tid not in recent]
                    for ranking, held in zip(ranked, first, strict=True)
                ]
            artists = {
                tid: self.deps.tracks[tid].artist
                for tid in (*ranked[0], *ranked[1], last)
                if tid and tid in self.deps.tracks
            }
            picks = team_draft(
                ranked[0],
                ranked[1],
                self.count,
                rng=random.Random(draft_seed(self.session_id, index)),
                artists=artists,
                after=last,
            )
            ids = [p.track_id for p in picks]
            spaced = all(
                x is None or x not in artists or artists[x] != artists.get(y)
                for x, y in zip([last, *ids], ids, strict=False)
            )
            if spaced or whole or depth >= DRAFT_MAX_DEPTH * self.count:
                break
            depth = min(2 * depth, DRAFT_MAX_DEPTH * self.count)
        if len(picks) < min(self.count, len(ranked[0])):
            return None
        recommendation = interleaving.explainer.explain(self.state, [p.track_id for p in picks], at_s=now_s)
        if len(recommendation.picks) != len(picks):
            return None
        record = QueueRecord(
            self.session_id, index, self.listener_id, now_s, challenger=interleaving.name, picks=tuple(picks)
        )
        return recommendation, record

    @staticmethod
    def _queue_message(
        recommendation: Recommendation, *, trigger: QueueTrigger, ref: MessageId | None
    ) -> Queue:
        tracks = tuple(
            QueuedTrack(
                id=str(pick.track.id),
                title=pick.track.title,
                artist=pick.track.artist,
                path=pick.track.path,
                duration_s=float(pick.track.duration_s),
                valence=float(pick.track.valence),
                energy=float(pick.track.energy),
                tempo_bpm=float(pick.track.tempo_bpm),
                score=float(pick.score),
                reason=pick.reason,
            )
            for pick in recommendation.picks
        )
        target = recommendation.target
        return Queue(
            tracks=tracks,
            target_valence=float(target.valence),
            target_energy=float(target.energy),
            trigger=trigger,
            ref=ref,
        )

    def _end(self, now_s: float) -> list[Effect]:
        self._pending_start = None
        if self.phase != "active":
            self.phase = "ended"
            return []
        self.phase = "ended"
        self._analyses.clear()
        return [Record(self._event("session_end", now_s))]

    def _disconnected(self, now_s: float) -> list[Effect]:
        self._audio = None
        return self._end(now_s)

    # ------------------------------------------------------------ helpers

    def _event(self, kind: LogKind, now_s: float, **fields: Any) -> LogEvent:
        assert self.listener_id is not None
        return LogEvent(
            kind=kind, listener_id=self.listener_id, session_id=self.session_id, at_s=now_s, **fields
        )

    @staticmethod
    def _error(code: ErrorCode, message: str, *, ref: MessageId | None = None) -> Send:
        return Send(Error(code=code, message=message, ref=ref))


def _summary(mix: Mix) -> MixSummary:
    return MixSummary(
        id=mix.id,
        kind=mix.kind,
        title=mix.title,
        description=mix.description,
        count=len(mix.track_ids),
        refresh=mix.refresh,
        art_track_id=mix.track_ids[0] if mix.track_ids else None,
    )
