"""How `cadence listen` looks: the rich screen for a :class:`ListenState`, and the headless event lines.

- :func:`render`: the whole screen — now playing with elapsed/remaining, up next with the reason for
  each pick, the mood with its history (:func:`sparkline`), notices, the typed-mood editor and the
  key legend.
- :func:`format_event_line`: one ``event key=value …`` line, what the session prints instead of the
  screen when stdout is not a terminal (and what the headless tests read).

Pure: a state and a deck snapshot in, a renderable or a string out; the live screen itself (rich's
``Live``) and the writing of lines are the loop's (:mod:`player.desktop.loop`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from player.desktop.deck import NowPlaying
from player.desktop.keys import KEY_HELP
from player.desktop.screen import ListenState

__all__ = [
    "format_event_line",
    "render",
    "sparkline",
]

_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float] | tuple[float, ...]) -> str:
    """0–1 values as block characters, one per value (▁ for 0 … █ for 1)."""
    chars = []
    for value in values:
        v = min(1.0, max(0.0, float(value)))
        chars.append(_SPARKS[min(len(_SPARKS) - 1, int(v * len(_SPARKS)))])
    return "".join(chars)


def _bar(value: float, width: int = 20) -> str:
    """A 0–1 value as ``width`` cells, filled (█) in proportion and empty (░) after."""
    filled = round(min(1.0, max(0.0, value)) * width)
    return "█" * filled + "░" * (width - filled)


def _clock(seconds: float, *, round_up: bool = False) -> str:
    """m:ss; ``round_up`` for time remaining, which reaches 0:00 only at the very end."""
    whole = math.ceil(seconds - 1e-6) if round_up else math.floor(seconds)
    whole = max(0, whole)
    return f"{whole // 60}:{whole % 60:02d}"


def render(state: ListenState, now: NowPlaying, *, up_next_rows: int = 8) -> RenderableType:
    """The whole screen: now playing, up next with reasons, mood with its history, keys."""
    # now playing
    if state.now is not None and now.track_id == state.now.id:
        item = state.now
        duration = now.duration_s or item.duration_s
        remaining = max(0.0, duration - now.position_s)
        head = Text.assemble(
            ("⏸ " if now.paused else "▶ ", "bold"),
            (item.title, "bold"),
            (f" — {item.artist}" if item.artist else "", ""),
        )
        progress = now.position_s / duration if duration > 0 else 0.0
        timing = Text(
            f"{_bar(progress, 40)}  {_clock(now.position_s)} / {_clock(duration)}  (−{_clock(remaining, round_up=True)})"
        )
        reason = Text(item.reason, style="dim") if item.reason else Text("")
        playing: RenderableType = Group(head, timing, reason)
    else:
        playing = Text(
            "waiting for the next track…" if state.queue else "waiting for the queue…", style="dim"
        )
    title = "Cadence" + (f" · {state.listener_id}" if state.listener_id else "")
    now_panel = Panel(playing, title=title, subtitle=state.url or None, title_align="left")

    # up next
    table = Table(expand=True, box=None, pad_edge=False)
    table.add_column("#", justify="right", width=2)
    table.add_column("track", ratio=3, overflow="ellipsis", no_wrap=True)
    table.add_column("energy", justify="right", width=6)
    table.add_column("valence", justify="right", width=7)
    table.add_column("why", ratio=4, overflow="ellipsis", no_wrap=True, style="dim")
    for n, item in enumerate(state.up_next()[:up_next_rows], start=1):
        name = item.title + (f" — {item.artist}" if item.artist else "")
        table.add_row(str(n), name, f"{item.energy:.2f}", f"{item.valence:.2f}", item.reason)
    queue_title = (
        f"Up next · target valence {state.target_valence:.2f} energy {state.target_energy:.2f}"
        + (f" · after {state.queue_trigger}" if state.queue_trigger else "")
        + (f" · from {state.mix_title}" if state.mix_title else "")
    )
    next_panel = Panel(table, title=queue_title, title_align="left")

    # mood
    lines: list[RenderableType] = []
    valences = [v for v, _ in state.mood_history]
    energies = [e for _, e in state.mood_history]
    if state.mood is not None:
        m = state.mood
        lines.append(Text(f"valence {_bar(m.valence)} {m.valence:.2f}   history {sparkline(valences)}"))
        lines.append(Text(f"energy  {_bar(m.energy)} {m.energy:.2f}   history {sparkline(energies)}"))
        said = f"“{m.transcript}”" if m.transcript else "(no words)"
        intents = f" · asked: {', '.join(m.intents)}" if m.intents else ""
        lines.append(Text(f"{said} · {m.label}, confidence {m.confidence:.2f} · {m.source}{intents}"))
    else:
        lines.append(Text("no mood yet: say how you feel, or press t and type it", style="dim"))
    if not state.microphone:
        mic = "microphone: none (press t and type your mood)"
    elif state.mic_ended:
        mic = "microphone: input ended"
    elif state.mic_open:
        mic = "microphone: " + ("talking" if state.push_to_talk else "listening (always on)")
        mic += " · speech" if state.voice == "speech" else ""
    else:
        mic = "microphone: " + ("press m to talk" if state.push_to_talk else "muted (m to unmute)")
    lines.append(Text(mic, style="cyan"))
    mood_panel = Panel(Group(*lines), title="Mood", title_align="left")

    footer: list[RenderableType] = [Text(n, style="yellow") for n in state.notices]
    if state.typing is not None:
        footer.append(Text(f"mood> {state.typing}▌", style="bold"))
    footer.append(Text(KEY_HELP, style="dim"))
    return Group(now_panel, next_panel, mood_panel, *footer)


def format_event_line(event: str, **fields: Any) -> str:
    """One headless output line (no newline): ``event key=value …`` in the order given.

    Floats get three decimals; strings that are empty or hold a space or a quote are JSON-quoted
    (so a transcript reads back with ``json.loads``); anything else is written as ``str`` gives it.
    """
    parts = [event]
    for key, value in fields.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:.3f}")
        elif isinstance(value, str) and (" " in value or '"' in value or not value):
            parts.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)
