"""The Cadence wire protocol: one typed record per message, parse and serialize, the error codes.

Sans-I/O: this module turns JSON text into records and records into JSON-ready dicts; it never
touches a socket. docs/protocol.md documents every message with a JSON Schema and an example.

Framing (RFC 6455): every message is a JSON object in a text frame with a ``type``; microphone
audio travels as binary frames, and only between ``audio.start`` and ``audio.stop``.

Client → server: ``hello``, ``session.start``, ``text``, ``audio.start``, (binary frames),
``audio.stop``, ``playback``, ``next``, ``mixes.list``, ``mix.play``, ``session.end``. Every client message may carry an ``id``
(a string of at most 64 characters, or an integer) that the server echoes as ``ref`` in the
``ack`` or ``error`` it causes.

Server → client: ``welcome``, ``vad``, ``transcript.partial``, ``mood``, ``queue``, ``mixes``, ``ack``,
``control``, ``error``. A client ignores a server message type it does not know (new types may be
added within a protocol version; ``transcript.partial`` was).

Errors: :class:`player.errors.ProtocolError` with ``code`` one of :data:`ERROR_CODES`, the one
closed set of codes an ``error`` message can carry.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, TypeAlias, get_args

from mood.types import MoodEstimate
from player.core.records import PLAYBACK_KINDS, SAMPLE_FORMATS, PlaybackKind, SampleFormat
from player.errors import ProtocolError

__all__ = [
    "AUDIO_FORMATS",
    "ERROR_CODES",
    "LOCAL_TIME_RANGE",
    "MAX_COUNT",
    "MAX_TEXT_CHARS",
    "MAX_UTC_OFFSET",
    "PLAYBACK_EVENTS",
    "PROTOCOL_VERSION",
    "SERVER_TYPES",
    "Ack",
    "AudioStart",
    "AudioStop",
    "ClientMessage",
    "Control",
    "Error",
    "ErrorCode",
    "Hello",
    "MessageId",
    "MixPlay",
    "MixSummary",
    "Mixes",
    "MixesList",
    "Mood",
    "Next",
    "Playback",
    "Queue",
    "QueuedTrack",
    "ServerMessage",
    "SessionEnd",
    "SessionStart",
    "Text",
    "TranscriptPartial",
    "Vad",
    "Welcome",
    "dumps",
    "parse",
    "wire_code",
]

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change; ``hello.protocol`` must equal it."""

ErrorCode = Literal[
    # malformed messages
    "invalid_json",  # a text frame that is not a JSON object
    "unknown_type",  # `type` missing or not a client message type
    "missing_field",  # a required field is absent
    "bad_field",  # a field has the wrong type or an out-of-range value
    "frame_too_large",  # a frame over the size limit (the frame is dropped)
    # conversation order
    "not_started",  # a message that needs `hello` / `session.start` first
    "already_started",  # a second `hello` or `session.start`
    "unsupported_protocol",  # `hello.protocol` is not PROTOCOL_VERSION
    "unauthorized",  # wrong or missing token (the connection is then closed)
    # audio
    "binary_outside_audio",  # a binary frame outside audio.start … audio.stop
    "unsupported_audio_format",  # sample rate, channels or format not accepted
    "audio_too_long",  # an utterance over the length limit
    "audio_empty",
    "audio_not_finite",
    "audio_silent",
    "no_speech",
    # library
    "unknown_track",  # a track id the library does not hold
    "unknown_mix",  # `mix.play` names no mix the listener has now
    "library_empty",
    # load
    "rate_limited",  # too many messages per second (the message is dropped)
    "busy",  # the speech workers and their queue are full (the utterance is dropped)
    "too_many_sessions",  # the server's session cap is reached (the connection is then closed)
    # privacy
    "listener_erased",  # the listener was erased (`cadence forget`) during the session (it is then closed)
    # server side
    "engine_unavailable",
    "internal",
]
ERROR_CODES: frozenset[str] = frozenset(get_args(ErrorCode))

# Errors raised by the lower layers whose code has another name on the wire.
_WIRE_ALIASES: dict[str, ErrorCode] = {"audio_format": "unsupported_audio_format"}

AudioFormat = SampleFormat
AUDIO_FORMATS = SAMPLE_FORMATS
PlaybackEventKind = PlaybackKind
PLAYBACK_EVENTS = PLAYBACK_KINDS
MessageId: TypeAlias = str | int

MAX_TEXT_CHARS = 2000
"""Longest `text.text` accepted, in characters."""
MAX_COUNT = 50
"""Most tracks one `next` can ask for."""
MAX_UTC_OFFSET = timedelta(hours=14)
"""Largest UTC offset of `session.start.local_time` (the real ones run from −12:00 to +14:00)."""
LOCAL_TIME_RANGE = (datetime(1970, 1, 1), datetime(2200, 1, 1))
"""`session.start.local_time` (its wall-clock reading) must lie in [start, end)."""
_MAX_ID_CHARS = 64
_MAX_FIELD_CHARS = 128


def wire_code(code: str) -> ErrorCode:
    """The wire code for an error ``code`` raised anywhere in Cadence (``"internal"`` if unknown)."""
    code = _WIRE_ALIASES.get(code, code)
    return code if code in ERROR_CODES else "internal"  # type: ignore[return-value]


def _error(code: ErrorCode, message: str) -> ProtocolError:
    return ProtocolError(message, code=code)


# ---------------------------------------------------------------- field readers (raise ProtocolError)


def _require(data: dict[str, Any], name: str, mtype: str) -> Any:
    if name not in data or data[name] is None:
        raise _error("missing_field", f"`{mtype}` needs a `{name}` field")
    return data[name]


def _str(data: dict[str, Any], name: str, mtype: str, *, required: bool, max_chars: int) -> str | None:
    value = _require(data, name, mtype) if required else data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _error("bad_field", f"`{mtype}.{name}` must be a string")
    if len(value) > max_chars:
        raise _error("bad_field", f"`{mtype}.{name}` is longer than {max_chars} characters")
    return value


def _number(data: dict[str, Any], name: str, mtype: str, *, low: float, high: float) -> float:
    value = _require(data, name, mtype)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _error("bad_field", f"`{mtype}.{name}` must be a finite number")
    if not low <= value <= high:
        raise _error("bad_field", f"`{mtype}.{name}` must be between {low:g} and {high:g}")
    return float(value)


def _integer(data: dict[str, Any], name: str, mtype: str, *, low: int, high: int, default: int | None) -> int:
    if default is not None and data.get(name) is None:
        return default
    value = _require(data, name, mtype)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error("bad_field", f"`{mtype}.{name}` must be an integer")
    if not low <= value <= high:
        raise _error("bad_field", f"`{mtype}.{name}` must be between {low} and {high}")
    return value


def _bool(data: dict[str, Any], name: str, mtype: str, *, default: bool) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise _error("bad_field", f"`{mtype}.{name}` must be true or false")
    return value


def _message_id(data: dict[str, Any], mtype: str) -> MessageId | None:
    value = data.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _error("bad_field", f"`{mtype}.id` must be a string or an integer")
    if isinstance(value, str) and len(value) > _MAX_ID_CHARS:
        raise _error("bad_field", f"`{mtype}.id` is longer than {_MAX_ID_CHARS} characters")
    return value


# ---------------------------------------------------------------- client → server


@dataclass(frozen=True, slots=True)
class Hello:
    """First message of every connection: protocol version, client name, token."""

    type: ClassVar[Literal["hello"]] = "hello"
    protocol: int
    """Must equal :data:`PROTOCOL_VERSION`."""
    client: str
    """Free-form client name and version, for the server's log."""
    token: str | None = None
    """The server's shared secret; required when the server was started with ``--token``."""
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "protocol": self.protocol, "client": self.client,
                           "token": self.token, "id": self.id})  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Hello:
        t = cls.type
        return cls(
            protocol=_integer(data, "protocol", t, low=0, high=2**31, default=None),
            client=_str(data, "client", t, required=True, max_chars=_MAX_FIELD_CHARS) or "",
            token=_str(data, "token", t, required=False, max_chars=512),
            id=_message_id(data, t),
        )


@dataclass(frozen=True, slots=True)
class SessionStart:
    """Starts a listening session; the server answers with the first ``queue``."""

    type: ClassVar[Literal["session.start"]] = "session.start"
    local_time: str
    """The listener's local time, ISO 8601 with its UTC offset (``2026-05-01T07:30:00+02:00``)."""
    device: str | None = None
    """Free-form playback device ("headphones", "car", …)."""
    listener_id: str | None = None
    """Keeps history across sessions; absent: an anonymous listener for this session only."""
    queue: tuple[str, ...] | None = None
    """Track ids to rank within; absent: the whole library."""
    store_transcripts: bool = False
    """Whether the server may keep what was said or typed in its log (default: never)."""
    id: MessageId | None = None

    def local_datetime(self) -> datetime:
        """``local_time`` parsed (always timezone-aware: :meth:`from_dict` checked it)."""
        return datetime.fromisoformat(self.local_time)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "type": self.type,
                "local_time": self.local_time,
                "device": self.device,
                "listener_id": self.listener_id,
                "queue": list(self.queue) if self.queue is not None else None,
                "store_transcripts": self.store_transcripts,
                "id": self.id,
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionStart:
        t = cls.type
        local_time = _str(data, "local_time", t, required=True, max_chars=64) or ""
        try:
            parsed = datetime.fromisoformat(local_time)
        except ValueError:
            raise _error("bad_field", "`session.start.local_time` must be ISO 8601") from None
        offset = parsed.utcoffset()
        if parsed.tzinfo is None or offset is None:
            raise _error("bad_field", "`session.start.local_time` needs a UTC offset (+02:00, Z)")
        if abs(offset) > MAX_UTC_OFFSET:
            raise _error("bad_field", "`session.start.local_time` has a UTC offset beyond ±14:00")
        if not LOCAL_TIME_RANGE[0] <= parsed.replace(tzinfo=None) < LOCAL_TIME_RANGE[1]:
            lo, hi = (d.year for d in LOCAL_TIME_RANGE)
            raise _error("bad_field", f"`session.start.local_time` must lie in the years {lo}–{hi - 1}")
        queue_value = data.get("queue")
        queue: tuple[str, ...] | None = None
        if queue_value is not None:
            if not isinstance(queue_value, list) or not all(isinstance(v, str) for v in queue_value):
                raise _error("bad_field", "`session.start.queue` must be a list of track ids")
            if len(queue_value) > 100_000:
                raise _error("bad_field", "`session.start.queue` is longer than 100000 ids")
            queue = tuple(queue_value)
        listener_id = _str(data, "listener_id", t, required=False, max_chars=_MAX_FIELD_CHARS)
        if listener_id is not None and not listener_id.strip():
            raise _error("bad_field", "`session.start.listener_id` must not be blank")
        return cls(
            local_time=local_time,
            device=_str(data, "device", t, required=False, max_chars=_MAX_FIELD_CHARS),
            listener_id=listener_id,
            queue=queue,
            store_transcripts=_bool(data, "store_transcripts", t, default=False),
            id=_message_id(data, t),
        )


@dataclass(frozen=True, slots=True)
class Text:
    """Something the listener typed; read for mood and intents like speech."""

    type: ClassVar[Literal["text"]] = "text"
    text: str
    """At most :data:`MAX_TEXT_CHARS` characters."""
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "text": self.text, "id": self.id})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Text:
        t = cls.type
        text = _str(data, "text", t, required=True, max_chars=MAX_TEXT_CHARS) or ""
        if not text.strip():
            raise _error("bad_field", "`text.text` must not be blank")
        return cls(text=text, id=_message_id(data, t))


@dataclass(frozen=True, slots=True)
class AudioStart:
    """Microphone audio follows as binary frames of interleaved PCM until ``audio.stop``."""

    type: ClassVar[Literal["audio.start"]] = "audio.start"
    sample_rate: int
    """Samples per second per channel, 8000–48000 Hz."""
    channels: int
    """1 or 2 (interleaved)."""
    format: AudioFormat
    """``s16le`` (16-bit signed little-endian) or ``f32le`` (32-bit float little-endian)."""
    id: MessageId | None = None

    @property
    def bytes_per_second(self) -> int:
        """Bytes of PCM one second of this audio takes."""
        return self.sample_rate * self.channels * (2 if self.format == "s16le" else 4)

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "sample_rate": self.sample_rate, "channels": self.channels,
                           "format": self.format, "id": self.id})  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioStart:
        t = cls.type
        # One rule: a value of the wrong type is `bad_field`; a well-typed value this server does not
        # take (any integer outside the ranges, any other format name) is `unsupported_audio_format`.
        rate = _integer(data, "sample_rate", t, low=-(2**63), high=2**63, default=None)
        channels = _integer(data, "channels", t, low=-(2**63), high=2**63, default=None)
        fmt = _str(data, "format", t, required=True, max_chars=10_000)
        if not 8000 <= rate <= 48000:
            raise _error("unsupported_audio_format", f"sample_rate {rate} Hz: accepted 8000–48000 Hz")
        if channels not in (1, 2):
            raise _error("unsupported_audio_format", f"{channels} channels: accepted 1 or 2")
        if fmt not in AUDIO_FORMATS:
            shown = fmt if len(fmt or "") <= 16 else f"{(fmt or '')[:16]}…"
            raise _error("unsupported_audio_format", f"format {shown!r}: accepted s16le or f32le")
        return cls(sample_rate=rate, channels=channels, format=fmt, id=_message_id(data, t))


@dataclass(frozen=True, slots=True)
class AudioStop:
    """End of the audio stream: the server flushes the last utterance."""

    type: ClassVar[Literal["audio.stop"]] = "audio.stop"
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "id": self.id})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioStop:
        return cls(id=_message_id(data, cls.type))


@dataclass(frozen=True, slots=True)
class Playback:
    """What the player did with a track; acknowledged (``ack``) once it is durable in the log."""

    type: ClassVar[Literal["playback"]] = "playback"
    event: PlaybackEventKind
    track_id: str
    position_s: float
    """Playback position in the track when it happened, seconds (0 for ``started``)."""
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "event": self.event, "track_id": self.track_id,
                           "position_s": self.position_s, "id": self.id})  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Playback:
        t = cls.type
        event = _str(data, "event", t, required=True, max_chars=16)
        if event not in PLAYBACK_EVENTS:
            raise _error("bad_field", f"`playback.event` must be one of {', '.join(PLAYBACK_EVENTS)}")
        return cls(
            event=event,
            track_id=_str(data, "track_id", t, required=True, max_chars=_MAX_FIELD_CHARS) or "",
            position_s=_number(data, "position_s", t, low=0.0, high=86400.0),
            id=_message_id(data, t),
        )


@dataclass(frozen=True, slots=True)
class Next:
    """Asks for a fresh ``queue`` of ``count`` tracks."""

    type: ClassVar[Literal["next"]] = "next"
    count: int = 10
    """1 – :data:`MAX_COUNT` tracks."""
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "count": self.count, "id": self.id})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Next:
        t = cls.type
        return cls(
            count=_integer(data, "count", t, low=1, high=MAX_COUNT, default=10), id=_message_id(data, t)
        )


@dataclass(frozen=True, slots=True)
class MixesList:
    """Asks for the listener's mixes now (answered with ``mixes``)."""

    type: ClassVar[Literal["mixes.list"]] = "mixes.list"
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "id": self.id})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixesList:
        return cls(id=_message_id(data, cls.type))


@dataclass(frozen=True, slots=True)
class MixPlay:
    """Plays a mix: the queues that follow are drawn from its tracks only (``mix`` None: the whole
    library again). Answered with a ``queue`` (trigger ``mix``)."""

    type: ClassVar[Literal["mix.play"]] = "mix.play"
    mix: str | None
    """A mix id from ``mixes`` (``daily-2``, ``workout``, …), or None to leave the mix."""
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "mix": self.mix, **({"id": self.id} if self.id is not None else {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MixPlay:
        t = cls.type
        if "mix" not in data:
            raise _error(
                "missing_field", "`mix.play` needs a `mix` field (a mix id, or null to leave the mix)"
            )
        mix = _str(data, "mix", t, required=False, max_chars=_MAX_FIELD_CHARS)
        return cls(mix=mix, id=_message_id(data, t))


@dataclass(frozen=True, slots=True)
class SessionEnd:
    """Ends the session; the server acknowledges and closes the connection (code 1000)."""

    type: ClassVar[Literal["session.end"]] = "session.end"
    id: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "id": self.id})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SessionEnd:
        return cls(id=_message_id(data, cls.type))


ClientMessage: TypeAlias = (
    Hello | SessionStart | Text | AudioStart | AudioStop | Playback | Next | MixesList | MixPlay | SessionEnd
)
_CLIENT_TYPES: dict[str, Any] = {
    cls.type: cls
    for cls in (
        Hello,
        SessionStart,
        Text,
        AudioStart,
        AudioStop,
        Playback,
        Next,
        MixesList,
        MixPlay,
        SessionEnd,
    )
}


def _check_encodable(data: dict[str, Any]) -> None:
    """Refuse any key or string value that cannot be encoded as UTF-8 (a lone surrogate such as
    ``"\\ud800"`` is valid JSON but no valid text): it would fail later, on the reply or in the log.

    Raises:
        ProtocolError: (``bad_field``) naming the first such field.
    """
    mtype = data.get("type")
    prefix = mtype if isinstance(mtype, str) and mtype in _CLIENT_TYPES else ""
    stack: list[tuple[str, Any]] = [(prefix, data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else key
                if not _encodable(key):
                    raise _error("bad_field", "a field name is not valid Unicode text (lone surrogate)")
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str) and not _encodable(value):
            shown = path if _encodable(path) else "a field"
            raise _error("bad_field", f"`{shown}` is not valid Unicode text (lone surrogate)")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse(text: str | bytes) -> ClientMessage:
    """One client text frame → its record.

    Raises:
        ProtocolError: If the frame is not a JSON object (``invalid_json``), has no known ``type``
            (``unknown_type``), or a field is absent (``missing_field``) or ill-typed / out of range
            (``bad_field``, ``unsupported_audio_format`` for ``audio.start``); any string in the
            message that is not encodable as UTF-8 (a lone surrogate) is ``bad_field``.
    """
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _error("invalid_json", f"not JSON: {exc}") from None
    except RecursionError:
        raise _error("invalid_json", "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise _error("invalid_json", "a message must be a JSON object")
    _check_encodable(data)
    mtype = data.get("type")
    if not isinstance(mtype, str) or mtype not in _CLIENT_TYPES:
        known = ", ".join(sorted(_CLIENT_TYPES))
        raise _error("unknown_type", f"unknown message type {mtype!r} (known: {known})")
    message: ClientMessage = _CLIENT_TYPES[mtype].from_dict(data)
    return message


# ---------------------------------------------------------------- server → client


@dataclass(frozen=True, slots=True)
class Welcome:
    """Answer to ``hello``: the protocol spoken and this connection's session id."""

    type: ClassVar[Literal["welcome"]] = "welcome"
    protocol: int
    session_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "protocol": self.protocol, "session_id": self.session_id}


@dataclass(frozen=True, slots=True)
class Vad:
    """Voice activity changed in the audio stream."""

    type: ClassVar[Literal["vad"]] = "vad"
    state: Literal["speech", "silence"]
    t_s: float
    """Seconds since ``audio.start``, in stream time."""

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "state": self.state, "t_s": round(self.t_s, 3)}


@dataclass(frozen=True, slots=True)
class TranscriptPartial:
    """What the listener has said so far in the utterance they are still speaking (hands-free audio,
    decoded while it arrives). Zero or more precede the utterance's ``mood``; its final transcript is
    the ``mood``'s ``transcript``, which may differ."""

    type: ClassVar[Literal["transcript.partial"]] = "transcript.partial"
    text: str
    """The words heard so far, Whisper's punctuation included."""
    stable_chars: int
    """Characters at the start of ``text`` that later partials are unlikely to change (a hint for
    display: show them settled and the rest tentative)."""
    start_s: float
    """Seconds since ``audio.start`` to the utterance's first speech frame: the ``start_s`` its
    ``mood`` will carry, and so the same for every partial of one utterance."""
    heard_s: float
    """Seconds since ``audio.start`` to the end of the audio ``text`` covers."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "text": self.text,
            "stable_chars": int(self.stable_chars),
            "start_s": round(float(self.start_s), 3),
            "heard_s": round(float(self.heard_s), 3),
        }


@dataclass(frozen=True, slots=True)
class Mood:
    """The mood read from one utterance or typed text (:meth:`MoodEstimate.to_dict`) and its source.

    On the wire: valence, energy, their per-axis confidences ``valence_confidence`` and
    ``energy_confidence`` (0 = nothing said about that axis), ``confidence`` (their mean), label,
    transcript, intents and evidence, then ``source``, ``start_s``/``end_s`` and ``ref``.
    """

    type: ClassVar[Literal["mood"]] = "mood"
    estimate: MoodEstimate
    """Always carries both axis confidences on the wire (an estimate without them sends
    ``confidence`` for each)."""
    source: Literal["text", "voice"]
    start_s: float | None = None
    """Voice only: the utterance's start in stream time, seconds since ``audio.start``."""
    end_s: float | None = None
    """Voice only: the utterance's end in stream time, seconds."""
    ref: MessageId | None = None
    """The ``id`` of the ``text`` message it answers."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, **self.estimate.to_dict(), "source": self.source}
        for name in ("start_s", "end_s"):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(float(value), 3)
        if self.ref is not None:
            out["ref"] = self.ref
        return out


@dataclass(frozen=True, slots=True)
class QueuedTrack:
    """One track of a ``queue``, best first."""

    id: str
    title: str
    artist: str
    path: str
    """The file's absolute path on the server's machine: sent only to a loopback client ("" otherwise)."""
    duration_s: float
    valence: float
    """0–1, the track's own valence."""
    energy: float
    """0–1, the track's own energy."""
    tempo_bpm: float
    score: float
    """The ranker's score (higher plays sooner); comparable within one queue only."""
    reason: str
    """Why it was picked, for the listener."""
    audio_url: str | None = None
    """Where to fetch the audio, relative to the server (``/tracks/{id}/audio…``; set by the server)."""
    art_url: str | None = None
    """Where to fetch the cover art, when the track has some."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueuedTrack:
        """Read one track of a received ``queue``; absent optional fields read as empty or 0."""
        return cls(
            id=str(data["id"]),
            title=str(data.get("title") or data["id"]),
            artist=str(data.get("artist") or ""),
            path=str(data.get("path") or ""),
            duration_s=float(data.get("duration_s") or 0.0),
            valence=float(data.get("valence") or 0.0),
            energy=float(data.get("energy") or 0.0),
            tempo_bpm=float(data.get("tempo_bpm") or 0.0),
            score=float(data.get("score") or 0.0),
            reason=str(data.get("reason") or ""),
            audio_url=str(data["audio_url"]) if data.get("audio_url") else None,
            art_url=str(data["art_url"]) if data.get("art_url") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "id": self.id,
                "title": self.title,
                "artist": self.artist,
                "path": self.path or None,
                "audio_url": self.audio_url,
                "art_url": self.art_url,
                "duration_s": round(self.duration_s, 3),
                "valence": round(self.valence, 4),
                "energy": round(self.energy, 4),
                "tempo_bpm": round(self.tempo_bpm, 2),
                "score": round(self.score, 5),
                "reason": self.reason,
            }
        )


QueueTrigger = Literal["start", "mood", "intent", "skip", "next", "mix"]


@dataclass(frozen=True, slots=True)
class Queue:
    """The tracks to play next, best first, and the mood target they were ranked for."""

    type: ClassVar[Literal["queue"]] = "queue"
    tracks: tuple[QueuedTrack, ...]
    target_valence: float
    """0–1: the valence the listener is being led toward."""
    target_energy: float
    """0–1: the energy the listener is being led toward."""
    trigger: QueueTrigger
    """What caused this queue: session start, a new mood, an intent, a skip, a ``next``, or a
    ``mix.play``."""
    ref: MessageId | None = None
    """The ``id`` of the client message that caused it, if it had one."""
    mix_id: str | None = None
    """The mix the queue is drawn from (``mix.play``), None for the whole library."""
    mix_title: str | None = None

    def to_dict(self) -> dict[str, Any]:
        mix = {"id": self.mix_id, "title": self.mix_title or ""} if self.mix_id else None
        return _drop_none(
            {
                "type": self.type,
                "tracks": [t.to_dict() for t in self.tracks],
                "target": {"valence": round(self.target_valence, 4), "energy": round(self.target_energy, 4)},
                "trigger": self.trigger,
                "mix": mix,
                "ref": self.ref,
            }
        )


@dataclass(frozen=True, slots=True)
class MixSummary:
    """One mix in ``mixes``: what to show and how to ask for it (its tracks come with ``mix.play``)."""

    id: str
    kind: str
    title: str
    description: str
    count: int
    """Tracks in the mix."""
    refresh: str
    """When it changes with no new listening: ``daily``, ``weekly`` or ``daypart``."""
    art_track_id: str | None = None
    """A track of the mix whose cover stands for it (the server turns it into ``art_url``)."""
    art_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {"id": self.id, "kind": self.kind, "title": self.title, "description": self.description,
             "count": self.count, "refresh": self.refresh, "art_url": self.art_url}
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Mixes:
    """Answer to ``mixes.list``: the listener's mixes now, in display order (may be empty)."""

    type: ClassVar[Literal["mixes"]] = "mixes"
    mixes: tuple[MixSummary, ...]
    ref: MessageId | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "mixes": [m.to_dict() for m in self.mixes], "ref": self.ref})


@dataclass(frozen=True, slots=True)
class Ack:
    """A ``playback`` or ``session.end`` is durable in the interaction log, or an ``audio.stop``
    was processed (every ``vad`` event of that stream was sent before it)."""

    type: ClassVar[Literal["ack"]] = "ack"
    of: str
    """The acknowledged message's type."""
    ref: MessageId | None = None
    """Its ``id``, if it had one."""

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "of": self.of, "ref": self.ref})


@dataclass(frozen=True, slots=True)
class Control:
    """The listener asked by voice or text to skip or stop: the player should do it.

    The server has already recorded it (a spoken skip is logged like a ``playback`` skip at the
    estimated position), so the client must not report it again.
    """

    type: ClassVar[Literal["control"]] = "control"
    action: Literal["skip", "stop"]
    track_id: str | None = None
    """The track that was playing, if the server knows it."""

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "action": self.action, "track_id": self.track_id})


@dataclass(frozen=True, slots=True)
class Error:
    """Something the client sent could not be done; the connection stays usable unless stated."""

    type: ClassVar[Literal["error"]] = "error"
    code: ErrorCode
    message: str
    ref: MessageId | None = None
    """The ``id`` of the offending message, if it had one."""

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"type": self.type, "code": self.code, "message": self.message, "ref": self.ref})


ServerMessage: TypeAlias = Welcome | Vad | TranscriptPartial | Mood | Queue | Mixes | Ack | Control | Error
SERVER_TYPES: tuple[str, ...] = (
    "welcome",
    "vad",
    "transcript.partial",
    "mood",
    "queue",
    "mixes",
    "ack",
    "control",
    "error",
)


def dumps(message: ServerMessage) -> str:
    """A server record as the JSON text of one frame."""
    return json.dumps(message.to_dict(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}
