"""Records shared by every layer, each defined once: logged events, playback kinds, sample formats.

The interaction log stores :class:`LogEvent` rows (``player.server.log``), the session core makes them
(``player.core.session``), and the one replay (``player.core.listener.replay``) turns them back into a
listener's state for serving and for training alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from mood.audio import SAMPLE_FORMATS, SampleFormat

__all__ = [
    "LOG_KINDS",
    "PLAYBACK_KINDS",
    "SAMPLE_FORMATS",
    "LogEvent",
    "LogKind",
    "PlaybackKind",
    "SampleFormat",
]

PlaybackKind = Literal["started", "skipped", "completed", "liked", "disliked"]
"""What a client reports about a track it plays."""
PLAYBACK_KINDS: tuple[PlaybackKind, ...] = get_args(PlaybackKind)

LogKind = Literal[
    "session_start", "mood", "started", "skipped", "completed", "liked", "disliked", "session_end"
]
"""The kinds of rows in the interaction log: the playback kinds plus session and mood rows."""
LOG_KINDS: tuple[LogKind, ...] = get_args(LogKind)


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One row of the interaction log."""

    kind: LogKind
    listener_id: str
    session_id: str
    at_s: float
    """Server time, seconds since the Unix epoch."""
    local_time: str | None = None
    """The client's local time, ISO 8601 with offset (on ``session_start``)."""
    device: str | None = None
    track_id: str | None = None
    position_s: float | None = None
    """Playback position in the track, seconds (playback events)."""
    valence: float | None = None
    """0–1 (``mood``)."""
    energy: float | None = None
    """0–1 (``mood``)."""
    confidence: float | None = None
    """0–1 (``mood``)."""
    intents: tuple[str, ...] = ()
    """Intent kinds heard in the utterance (``mood``)."""
    intent_strengths: tuple[float, ...] = ()
    """0–1 strength of each of ``intents``, in the same order (``mood``; empty: each 1.0)."""
    valence_confidence: float | None = None
    """0–1 evidence for ``valence`` (``mood``; None in logs written before it was kept)."""
    energy_confidence: float | None = None
    """0–1 evidence for ``energy`` (``mood``; None in logs written before it was kept)."""
    transcript: str | None = None
    """What was said or typed; only when the session consented (``store_transcripts``)."""
