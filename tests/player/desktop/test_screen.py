"""The screen's state: which track plays next, and the mood history (pure, unit tier)."""

from __future__ import annotations

from typing import Any

from player.desktop.screen import ListenState


def _queue(ids: list[str], trigger: str, *, seconds: float = 1.0) -> dict[str, Any]:
    """A server ``queue`` message of tracks ``t{n}`` ("Tone n" by "Sine", energy 0.2·n, reason "because n")."""
    tracks = [{"id": i, "title": f"Tone {i[1:]}", "artist": "Sine", "path": f"/music/{i}.wav",
               "duration_s": seconds, "valence": 0.5, "energy": 0.2 * int(i[1:]), "tempo_bpm": 100.0,
               "score": 1.0 - int(i[1:]) / 10, "reason": f"because {i[1:]}"} for i in ids]  # fmt: skip
    return {"type": "queue", "tracks": tracks, "target": {"valence": 0.5, "energy": 0.5}, "trigger": trigger}


def test_state_picks_from_latest_queue_never_repeating() -> None:
    """The next track is the head of the newest queue among tracks not yet started this session."""
    state = ListenState()
    state.on_server_message(_queue(["t0", "t1", "t2"], "start"), at_s=0)
    first = state.take_next_track()
    assert first is not None and first.id == "t0"
    state.on_server_message(_queue(["t0", "t2", "t1"], "skip"), at_s=1)
    assert [i.id for i in state.up_next()] == ["t2", "t1"]
    second = state.take_next_track()
    assert second is not None and second.id == "t2"
    state.on_track_failed("t1", "cannot play")
    assert state.take_next_track() is None


def test_mood_history_keeps_every_reading() -> None:
    """Each mood message is kept in the history, oldest first, as (valence, energy)."""
    state = ListenState()
    for energy in (0.0, 0.5, 1.0):
        state.on_server_message({"type": "mood", "valence": 0.5, "energy": energy, "confidence": 1}, at_s=0)
    assert list(state.mood_history) == [(0.5, 0.0), (0.5, 0.5), (0.5, 1.0)]
