"""The real session core as the simulator's player: what is evaluated is what serves.

:class:`SessionPlayer` implements :class:`models.simulate.Player` by sending the client's messages
(``hello``, ``session.start`` with the listener's id, ``text``, ``playback``, ``next``,
``session.end``) as JSON text frames to :class:`player.core.session.Session`, the sans-I/O core the
server runs, and carrying out its effects the way the shell does: logged events are kept per listener
and handed back when the listener's next session asks for its history (so a returning listener's
state is rebuilt by the same replay as in serving), queues are read from the ``queue`` messages.

Text goes to the session's mood reader. For listeners whose reading is simulated
(:attr:`models.simulate.Utterance.heard`) the reader answers with that estimate; otherwise the real
reader (``mood.analyzer.MoodAnalyzer``) reads the sentence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from models.simulate import Utterance
from mood.types import MoodEstimate
from player.core.listener import ListenerState
from player.core.protocol import Error, Mood, Queue
from player.core.records import LogEvent
from player.core.session import (
    HistoryLoaded,
    LoadHistory,
    RecommenderLike,
    Record,
    Send,
    Session,
    SessionDeps,
    SessionLimits,
    TextMoodReader,
)
from player.core.track import Track
from player.settings import Settings

__all__ = ["SessionPlayer"]


class _Hearing:
    """The session's mood reader: the simulated reading when there is one, else the real reader."""

    def __init__(self, reader: TextMoodReader | None) -> None:
        self.reader = reader
        self.pending: MoodEstimate | None = None

    def analyze_text(self, text: str) -> MoodEstimate:
        if self.pending is not None:
            estimate, self.pending = self.pending, None
            return estimate
        if self.reader is None:
            raise RuntimeError("a sentence to read with the real mood reader, but none was given")
        return self.reader.analyze_text(text)


class SessionPlayer:
    """:class:`models.simulate.Player` over :class:`player.core.session.Session` and a recommender.

    Args:
        tracks: the library's tracks (the session checks ids against them).
        recommender: what picks the tracks (the real ``Recommender`` or a baseline).
        reader: the real text mood reader, for utterances without a simulated reading.
        count: tracks per queue.
    """

    def __init__(
        self,
        tracks: Sequence[Track],
        recommender: RecommenderLike,
        *,
        reader: TextMoodReader | None = None,
        count: int = 10,
    ) -> None:
        self.hearing = _Hearing(reader)
        self.deps = SessionDeps(mood=self.hearing, recommender=recommender, tracks={t.id: t for t in tracks})
        # simulated time runs hours ahead in a few calls: no rate limit applies to a simulated client
        self.limits = replace(
            SessionLimits.from_settings(Settings(home=Path("."))),
            messages_per_s=1e9,
            message_burst=1e9,
            queue_count=count,
        )
        self.count = count
        self.log: dict[str, list[LogEvent]] = {}
        """Every event the sessions recorded, per listener, oldest first (the interaction log)."""
        self.session: Session | None = None
        self.last_queue: Queue | None = None
        self.last_mood: MoodEstimate | None = None
        """The mood the session heard last (its ``mood`` message)."""
        self._now_s = 0.0

    @property
    def state(self) -> ListenerState:
        """The listener state of the running session."""
        if self.session is None or self.session.state is None:
            raise RuntimeError("no session is running")
        return self.session.state

    def _send(self, message: dict[str, Any] | HistoryLoaded, at_s: float) -> list[str] | None:
        """Hand one frame to the session; carry out its effects; the pushed queue's ids, if any."""
        if self.session is None:
            raise RuntimeError("no session is running")
        self._now_s = max(self._now_s, at_s)
        incoming: Any = message if isinstance(message, HistoryLoaded) else json.dumps(message)
        queue: list[str] | None = None
        for effect in self.session.handle(incoming, now_s=self._now_s):
            if isinstance(effect, Record):
                self.log.setdefault(effect.event.listener_id, []).append(effect.event)
            elif isinstance(effect, LoadHistory):
                queue = self._send(HistoryLoaded(events=tuple(self.log.get(effect.listener_id, ()))), at_s)
            elif isinstance(effect, Send):
                sent = effect.message
                if isinstance(sent, Error):
                    raise RuntimeError(f"the session answered {sent.code}: {sent.message}")
                if isinstance(sent, Mood):
                    self.last_mood = sent.estimate
                if isinstance(sent, Queue):
                    self.last_queue = sent
                    queue = [t.id for t in sent.tracks]
        return queue

    # ------------------------------------------------------------------ models.simulate.Player
    def start(self, listener_id: str, session_id: str, local_time: datetime, at_s: float) -> list[str]:
        self.session = Session(session_id, self.deps, self.limits)
        # Each session runs on its listener's own clock. One player serves many simulated listeners
        # in turn, each starting near the same epoch: a clock kept monotonic across them ran every
        # listener after the first at the latest time any earlier one reached, so the core saw no
        # time pass between a listener's sessions (a 30-minute request still steering days later,
        # the mood never relaxing to the time-of-day prior). Within a session it only moves forward.
        self._now_s = at_s
        self._send({"type": "hello", "protocol": 1, "client": "cadence-sim"}, at_s)
        queue = self._send(
            {"type": "session.start", "local_time": local_time.isoformat(), "listener_id": listener_id},
            at_s,
        )
        return queue or []

    def say(self, utterance: Utterance, at_s: float) -> list[str]:
        self.hearing.pending = utterance.heard
        try:
            return self._send({"type": "text", "text": utterance.text}, at_s) or []
        finally:
            self.hearing.pending = None

    def say_text(self, text: str, at_s: float) -> list[str]:
        """Send ``text`` to be read by the real mood reader; returns the queue pushed after it."""
        return self._send({"type": "text", "text": text}, at_s) or []

    def playback(self, kind: str, track_id: str, position_s: float, at_s: float) -> list[str] | None:
        return self._send(
            {"type": "playback", "event": kind, "track_id": track_id, "position_s": round(position_s, 3)},
            at_s,
        )

    def next(self, at_s: float) -> list[str]:
        return self._send({"type": "next", "count": self.count}, at_s) or []

    def end(self, at_s: float) -> None:
        self._send({"type": "session.end"}, at_s)
        self.session = None
