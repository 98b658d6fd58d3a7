"""The one replay of logged events into a listener's state, for serving and for training alike.

A returning listener's session (``player.core.session``) and ``cadence train`` (``models.train``)
both rebuild :class:`~player.core.listener.ListenerState` with :func:`apply_logged_event`, event by
event in time order, so the ranker sees the same inputs in training as when it serves
(``tests/player/core/test_replay.py`` feeds one log through both paths).
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from datetime import UTC, datetime

from mood.types import Intent, MoodEstimate
from player.core.listener import MUSIC_INTENTS, ListenerState, PlaybackEvent
from player.core.records import PLAYBACK_KINDS, LogEvent

__all__ = ["apply_logged_event", "replay"]


def replay(
    listener_id: str, events: Iterable[LogEvent], *, known_tracks: Container[str] | None = None
) -> ListenerState | None:
    """Rebuild a listener's state by replaying logged events in time order (None if no session).

    Args:
        listener_id: Whose events these are.
        events: The listener's logged events, oldest first.
        known_tracks: Track ids still in the library; playback of any other track is passed over
            (None: keep every track).
    """
    state: ListenerState | None = None
    for event in events:
        state = apply_logged_event(state, listener_id, event, known_tracks=known_tracks)
    return state


def apply_logged_event(
    state: ListenerState | None,
    listener_id: str,
    event: LogEvent,
    *,
    known_tracks: Container[str] | None = None,
) -> ListenerState | None:
    """Apply one logged event to ``state`` (creating it at the first ``session_start``)."""
    if event.kind == "session_start":
        local = datetime.fromisoformat(event.local_time) if event.local_time else None
        if local is None or local.tzinfo is None:
            local = datetime.fromtimestamp(event.at_s, UTC)
        if state is None:
            return ListenerState(listener_id, local_time=local, at_s=event.at_s, device=event.device)
        state.start_session(local, at_s=event.at_s, device=event.device)
        return state
    if state is None:
        return None
    if event.kind == "mood" and event.valence is not None and event.energy is not None:
        intents = tuple(Intent(kind=k) for k in event.intents if k in MUSIC_INTENTS)  # type: ignore[arg-type]
        state.observe_mood(
            MoodEstimate(
                valence=float(event.valence),
                energy=float(event.energy),
                confidence=float(event.confidence if event.confidence is not None else 0.5),
                intents=intents,
            ),
            at_s=event.at_s,
        )
    elif (
        event.kind in PLAYBACK_KINDS
        and event.track_id
        and (known_tracks is None or event.track_id in known_tracks)
    ):
        state.observe_playback(
            PlaybackEvent(event.kind, event.track_id, float(event.position_s or 0.0), event.at_s)
        )
    return state
