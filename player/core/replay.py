"""The one replay of logged events into a listener's state, for serving and for training alike.

A returning listener's session (``player.core.session``) and ``cadence train`` (``models.train``)
both rebuild :class:`~player.core.listener.ListenerState` with :func:`apply_logged_event`, event by
event in time order, so the ranker sees the same inputs in training as when it serves
(``tests/player/core/test_replay.py`` feeds one log through both paths). Both paths must pass the
same ``tracks``: a played track's valence and energy move the listener's mood and teach the state the
listener's own time-of-day energy (see :mod:`player.core.listener`).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from datetime import UTC, datetime

from mood.types import Intent, MoodEstimate
from player.core.listener import MUSIC_INTENTS, ListenerState, PlaybackEvent
from player.core.records import PLAYBACK_KINDS, LogEvent, PlaybackKind
from player.core.track import Track

__all__ = ["apply_logged_event", "playback_event", "replay"]


def replay(
    listener_id: str,
    events: Iterable[LogEvent],
    *,
    known_tracks: Container[str] | None = None,
    tracks: Mapping[str, Track] | None = None,
) -> ListenerState | None:
    """Rebuild a listener's state by replaying logged events in time order (None if no session).

    Args:
        listener_id: Whose events these are.
        events: The listener's logged events, oldest first.
        known_tracks: Track ids still in the library; playback of any other track is passed over
            (None: ``tracks`` if given, else keep every track).
        tracks: The library by track id: each played track's valence and energy go into its
            :class:`~player.core.listener.PlaybackEvent` (None: events carry none and do not move
            the mood).
    """
    state: ListenerState | None = None
    for event in events:
        state = apply_logged_event(state, listener_id, event, known_tracks=known_tracks, tracks=tracks)
    return state


def playback_event(
    kind: PlaybackKind,
    track_id: str,
    position_s: float,
    at_s: float,
    *,
    tracks: Mapping[str, Track] | None = None,
) -> PlaybackEvent:
    """A :class:`~player.core.listener.PlaybackEvent` carrying the track's valence and energy when
    ``tracks`` knows it (the one way live playback and replayed playback are turned into events)."""
    track = tracks.get(track_id) if tracks is not None else None
    return PlaybackEvent(
        kind,
        track_id,
        float(position_s),
        float(at_s),
        track_valence=None if track is None else float(track.valence),
        track_energy=None if track is None else float(track.energy),
    )


def apply_logged_event(
    state: ListenerState | None,
    listener_id: str,
    event: LogEvent,
    *,
    known_tracks: Container[str] | None = None,
    tracks: Mapping[str, Track] | None = None,
) -> ListenerState | None:
    """Apply one logged event to ``state`` (creating it at the first ``session_start``).

    ``known_tracks`` and ``tracks`` as in :func:`replay`.
    """
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
    kept: Container[str] | None = known_tracks if known_tracks is not None else tracks
    if event.kind == "mood" and event.valence is not None and event.energy is not None:
        strengths = event.intent_strengths or (1.0,) * len(event.intents)
        intents = tuple(
            Intent(kind=k, strength=s)  # type: ignore[arg-type]
            for k, s in zip(event.intents, strengths, strict=False)
            if k in MUSIC_INTENTS
        )
        state.observe_mood(
            MoodEstimate(
                valence=float(event.valence),
                energy=float(event.energy),
                confidence=float(event.confidence if event.confidence is not None else 0.5),
                intents=intents,
                valence_confidence=event.valence_confidence,
                energy_confidence=event.energy_confidence,
            ),
            at_s=event.at_s,
        )
    elif event.kind in PLAYBACK_KINDS and event.track_id and (kept is None or event.track_id in kept):
        state.observe_playback(
            playback_event(
                event.kind,
                event.track_id,
                float(event.position_s or 0.0),
                event.at_s,
                tracks=tracks,
            )
        )
    return state
