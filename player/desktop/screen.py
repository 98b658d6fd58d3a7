"""What the `cadence listen` screen shows, as state: the queue, what plays, the mood and its history.

:class:`ListenState` is updated from server messages (``queue``, ``mood``, ``vad``, ``welcome``,
``error``, ``control``) and from the deck's events, and it chooses the next track: the head of the
newest queue among the tracks not yet started this session. Pure: no I/O, no threads, no clock;
session time is passed in (``at_s``). :mod:`player.desktop.render` draws it;
:mod:`player.desktop.loop` owns the one instance and touches it only on the event loop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from player.core.protocol import QueuedTrack
from player.desktop.deck import DeckEvent

__all__ = [
    "ListenState",
    "MoodReading",
    "QueueItem",
]

QueueItem = QueuedTrack
"""One track of a server ``queue`` message (the protocol's own record)."""


@dataclass(frozen=True, slots=True)
class MoodReading:
    """One ``mood`` message, as the screen shows it."""

    valence: float
    energy: float
    confidence: float
    label: str
    transcript: str
    intents: tuple[str, ...]
    source: str
    at_s: float
    """Session time (seconds since the session started) when it arrived."""


_MOOD_HISTORY_MAX = 60
"""Mood readings kept for the history sparklines."""


@dataclass
class ListenState:
    """What the listening session knows: the queue, what plays, the mood and its history.

    Updated by :meth:`on_server_message`, :meth:`on_playback`, :meth:`on_track_failed` and
    :meth:`take_next_track`; the session also sets the microphone fields (``mic_open``,
    ``mic_ended``), ``typing`` and ``notices`` as the listener acts. ``at_s`` arguments are session
    time in seconds, passed in.
    """

    url: str = ""
    listener_id: str = ""
    session_id: str = ""
    output: str = ""
    microphone: str = ""
    """The microphone's description; "" when the session has none."""
    push_to_talk: bool = False
    mic_open: bool = True
    """Audio is being streamed to the server (talk toggled on, or always-on and not muted)."""
    mic_ended: bool = False
    """The microphone input ended (an ``--input-wav`` reached its end)."""
    voice: Literal["speech", "silence"] = "silence"
    queue: list[QueueItem] = field(default_factory=list)
    queue_trigger: str = ""
    mix_title: str = ""
    """The mix the queue comes from ("" for all music)."""
    mixes: list[tuple[str, str]] = field(default_factory=list)
    """(id, title) of the mixes last listed, in order (``x`` lists them; ``1``–``9`` pick one)."""
    target_valence: float = 0.5
    target_energy: float = 0.5
    now: QueueItem | None = None
    started_ids: list[str] = field(default_factory=list)
    """Every track started this session, in order (never picked again)."""
    failed_ids: set[str] = field(default_factory=set)
    failed_in_a_row: int = 0
    """Tracks that could not be played since the last one that started."""
    finished: int = 0
    """Tracks that ended (completed or skipped)."""
    mood: MoodReading | None = None
    mood_history: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=_MOOD_HISTORY_MAX))
    """(valence, energy) of every mood reading, oldest first."""
    notices: deque[str] = field(default_factory=lambda: deque(maxlen=4))
    typing: str | None = None
    """The mood being typed (None when the editor is closed)."""

    # ---------------------------------------------------------------- server messages

    def on_server_message(self, message: dict[str, Any], *, at_s: float) -> None:
        """Apply one server message, received ``at_s`` seconds into the session; unknown types are ignored."""
        kind = message.get("type")
        if kind == "queue":
            self.queue = [QueueItem.from_dict(t) for t in message.get("tracks", [])]
            target = message.get("target") or {}
            self.target_valence = float(target.get("valence", self.target_valence))
            self.target_energy = float(target.get("energy", self.target_energy))
            self.queue_trigger = str(message.get("trigger", ""))
            mix = message.get("mix")
            self.mix_title = str(mix.get("title", "")) if isinstance(mix, dict) else ""
        elif kind == "mixes":
            self.mixes = [
                (str(m.get("id", "")), str(m.get("title", "")))
                for m in message.get("mixes", [])
                if isinstance(m, dict)
            ]
            shown = " · ".join(f"{n} {title}" for n, (_, title) in enumerate(self.mixes[:9], start=1))
            self.notices.append(f"mixes: {shown} · 0 all music" if self.mixes else "no mixes yet")
        elif kind == "mood":
            intents = tuple(str(i.get("kind", "")) for i in message.get("intents", []) if isinstance(i, dict))
            self.mood = MoodReading(
                valence=float(message.get("valence", 0.5)),
                energy=float(message.get("energy", 0.5)),
                confidence=float(message.get("confidence", 0.0)),
                label=str(message.get("label", "neutral")),
                transcript=str(message.get("transcript", "")),
                intents=intents,
                source=str(message.get("source", "")),
                at_s=at_s,
            )
            self.mood_history.append((self.mood.valence, self.mood.energy))
        elif kind == "vad":
            self.voice = "speech" if message.get("state") == "speech" else "silence"
        elif kind == "welcome":
            self.session_id = str(message.get("session_id", ""))
        elif kind == "error":
            self.notices.append(f"server: {message.get('message', '')} [{message.get('code', '')}]")
        elif kind == "control":
            self.notices.append(f"server asked to {message.get('action', '')} (you said so)")

    # ---------------------------------------------------------------- playback

    def up_next(self) -> list[QueueItem]:
        """The queue without the tracks already started (or unplayable) this session."""
        excluded = set(self.started_ids) | self.failed_ids
        if self.now is not None:
            excluded.add(self.now.id)
        return [item for item in self.queue if item.id not in excluded]

    def take_next_track(self) -> QueueItem | None:
        """The first track of :meth:`up_next`, now counted as started; None if the queue is spent."""
        upcoming = self.up_next()
        if not upcoming:
            return None
        item = upcoming[0]
        self.now = item
        self.started_ids.append(item.id)
        return item

    def item(self, track_id: str) -> QueueItem | None:
        """The playing track or a queued one with this id; None if neither."""
        if self.now is not None and self.now.id == track_id:
            return self.now
        return next((i for i in self.queue if i.id == track_id), None)

    def on_playback(self, event: DeckEvent) -> None:
        """A deck event: a start clears the unplayable streak, an end clears what plays and is counted."""
        if event.kind == "started":
            self.failed_in_a_row = 0
        if event.kind in ("completed", "skipped"):
            self.finished += 1
            if self.now is not None and self.now.id == event.track_id:
                self.now = None

    def on_track_failed(self, track_id: str, message: str) -> None:
        """A track could not be played: never picked again, not counted as started, ``message`` shown."""
        self.failed_ids.add(track_id)
        self.failed_in_a_row += 1
        if track_id in self.started_ids:  # it never played
            self.started_ids.remove(track_id)
        if self.now is not None and self.now.id == track_id:
            self.now = None
        self.notices.append(message)
