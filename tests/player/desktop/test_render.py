"""The rich screen and the headless event lines of `cadence listen` (pure, unit tier)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from player.desktop.deck import NowPlaying
from player.desktop.render import format_event_line, render, sparkline
from player.desktop.screen import ListenState


def _queue(ids: list[str], trigger: str, *, seconds: float = 1.0) -> dict[str, Any]:
    """A server ``queue`` message of tracks ``t{n}`` ("Tone n" by "Sine", energy 0.2·n, reason "because n")."""
    tracks = [{"id": i, "title": f"Tone {i[1:]}", "artist": "Sine", "path": f"/music/{i}.wav",
               "duration_s": seconds, "valence": 0.5, "energy": 0.2 * int(i[1:]), "tempo_bpm": 100.0,
               "score": 1.0 - int(i[1:]) / 10, "reason": f"because {i[1:]}"} for i in ids]  # fmt: skip
    return {"type": "queue", "tracks": tracks, "target": {"valence": 0.5, "energy": 0.5}, "trigger": trigger}


def test_sparkline_maps_0_to_1_onto_blocks() -> None:
    """The sparkline maps 0–1 to ▁…█, one character per value."""
    assert sparkline([0.0, 0.5, 1.0]) == "▁▅█"


def test_screen_shows_now_playing_up_next_reasons_and_mood() -> None:
    """The screen names the playing track with elapsed/remaining, the next picks with reasons, and the mood."""
    state = ListenState(listener_id="ana", microphone="test mic", push_to_talk=True, mic_open=False)
    state.on_server_message(_queue(["t0", "t1", "t2"], "mood", seconds=200), at_s=0)
    state.take_next_track()
    state.on_server_message(
        {"type": "mood", "valence": 0.2, "energy": 0.1, "confidence": 0.9, "label": "tired",
         "transcript": "so tired", "intents": [{"kind": "calmer"}], "source": "voice"}, at_s=1,
    )  # fmt: skip
    console = Console(width=110, record=True, color_system=None)
    console.print(render(state, NowPlaying("t0", 65.0, 200.0, paused=False)))
    text = console.export_text()
    assert "Tone 0" in text and "1:05 / 3:20" in text and "2:15" in text
    assert "Tone 1" in text and "because 1" in text and "because 2" in text
    assert "so tired" in text and "tired" in text and "calmer" in text
    assert "0.10" in text and "▁" in text
    assert "press m to talk" in text


def test_event_line_quotes_strings_that_need_it() -> None:
    """Headless lines: floats to three decimals, plain words bare, empty or spaced or quoted text as JSON."""
    line = format_event_line(
        "mood",
        t_s=6.41,
        valence=0.3634,
        label="tired",
        intents="-",
        transcript='I said "calm", please',
        note="",
    )
    assert line == (
        'mood t_s=6.410 valence=0.363 label=tired intents=- transcript="I said \\"calm\\", please" note=""'
    )
    transcript = line.split("transcript=", 1)[1].rsplit(" note=", 1)[0]
    assert json.loads(transcript) == 'I said "calm", please'
    assert format_event_line("end", tracks=3) == "end tracks=3"
