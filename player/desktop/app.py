"""`cadence listen`: a listening session at the listener's own computer.

Music plays through the sound card, the microphone listens (always on, with the server's voice
activity detection, or push-to-talk), and a terminal screen shows what plays, what comes next and
why, and the mood the server reads. The pieces:

- :class:`Command`, :class:`KeyInterpreter` and :func:`parse_command_line`: keys (a TTY in cbreak
  mode) or lines (a pipe, a test) → commands. Pure.
- :class:`ListenState`: everything the screen shows, updated from server messages and playback
  events; it also chooses the next track from the latest queue. Pure: time is passed in.
- :func:`render`: the rich screen for a state and the deck's position. Pure.
- :class:`ListenSession`: the asyncio shell that wires a client, the player thread
  (:class:`player.desktop.audio.Player`), the microphone thread and the keyboard together. It reports
  playback events itself — ``started``, ``skipped`` at its position, ``completed``, ``liked``,
  ``disliked`` — and never reports a skip the server ordered (a ``control`` message: the server
  logged it already).
- :func:`cmd_listen`: the CLI handler; starts a server in-process unless ``--url`` is given.

Without a terminal (stdout not a TTY) the screen is replaced by one line per event on stdout
(``started id=… position_s=…``, ``queue n=… mean_energy=… ids=…``, ``mood …``), which is what the
headless tests read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import math
import os
import select
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TextIO

import numpy as np
from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from websockets.exceptions import InvalidHandshake, InvalidURI

from player.core.protocol import QueuedTrack
from player.desktop.audio import (
    DEVICE_HELP,
    AudioInput,
    AudioOutput,
    DeckEvent,
    NowPlaying,
    Player,
    format_devices,
    list_devices,
    open_input,
    open_output,
)
from player.errors import CadenceError, DeviceError
from player.settings import Settings

__all__ = [
    "Command",
    "CommandKind",
    "KeyInterpreter",
    "ListenClient",
    "ListenOptions",
    "ListenSession",
    "ListenState",
    "QueueItem",
    "cmd_listen",
    "open_devices",
    "parse_command_line",
    "render",
    "sparkline",
]

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------- commands

CommandKind = Literal[
    "skip", "like", "dislike", "pause", "resume", "toggle_pause", "talk", "text", "more", "quit"
]


@dataclass(frozen=True, slots=True)
class Command:
    """Something the listener asked the desktop player to do."""

    kind: CommandKind
    text: str = ""
    """The typed mood, for ``text``."""


KEY_HELP = "n skip · l like · d dislike · space pause · t type a mood · m talk/mute · q quit"

_KEYS: dict[str, CommandKind] = {
    "n": "skip",
    "s": "skip",
    "l": "like",
    "+": "like",
    "d": "dislike",
    "-": "dislike",
    " ": "toggle_pause",
    "p": "toggle_pause",
    "m": "talk",
    "q": "quit",
}
_TYPE_KEYS = ("t", "/")
_ESC = "\x1b"
_BACKSPACE = ("\x7f", "\x08")
_ENTER = ("\r", "\n")


class KeyInterpreter:
    """Turns single key presses (cbreak mode) into commands, with a line editor for typed moods.

    ``t`` (or ``/``) opens the editor; printable keys then go into :attr:`buffer`, backspace
    deletes, Enter sends a ``text`` command and Escape cancels. Unknown keys do nothing.
    """

    def __init__(self) -> None:
        self.typing = False
        self.buffer = ""

    def feed(self, keys: str) -> list[Command]:
        commands: list[Command] = []
        for key in keys:
            command = self._key(key)
            if command is not None:
                commands.append(command)
        return commands

    def _key(self, key: str) -> Command | None:
        if self.typing:
            if key in _ENTER:
                text, self.buffer, self.typing = self.buffer.strip(), "", False
                return Command("text", text) if text else None
            if key == _ESC:
                self.buffer, self.typing = "", False
            elif key in _BACKSPACE:
                self.buffer = self.buffer[:-1]
            elif key.isprintable():
                self.buffer += key
            return None
        if key in _TYPE_KEYS:
            self.typing = True
            self.buffer = ""
            return None
        kind = _KEYS.get(key)
        return Command(kind) if kind is not None else None


_LINE_COMMANDS: dict[str, CommandKind] = {
    "skip": "skip",
    "next": "skip",
    "n": "skip",
    "s": "skip",
    "like": "like",
    "l": "like",
    "dislike": "dislike",
    "d": "dislike",
    "pause": "pause",
    "resume": "resume",
    "play": "resume",
    "p": "toggle_pause",
    "talk": "talk",
    "mic": "talk",
    "m": "talk",
    "more": "more",
    "refresh": "more",
    "quit": "quit",
    "exit": "quit",
    "q": "quit",
}


def parse_command_line(line: str) -> Command | None:
    """One line of stdin (no TTY) → a command.

    A command word (``skip``, ``like``, ``dislike``, ``pause``, ``resume``, ``talk``, ``more``,
    ``quit`` and their one-letter forms), ``text …`` / ``say …`` for a typed mood, and any other
    non-blank line is taken as a typed mood too. Blank lines give None.
    """
    stripped = line.strip()
    if not stripped:
        return None
    word, _, rest = stripped.partition(" ")
    lowered = word.lower()
    if lowered in ("text", "say") and rest.strip():
        return Command("text", rest.strip())
    if not rest and lowered in _LINE_COMMANDS:
        return Command(_LINE_COMMANDS[lowered])
    return Command("text", stripped)


# ---------------------------------------------------------------------------------------------- state


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


@dataclass
class ListenState:
    """What the listening session knows: the queue, what plays, the mood and its history.

    Updated only by :meth:`on_server_message`, :meth:`on_playback`, :meth:`on_command_result` and
    :meth:`take_next_track`; ``at_s`` arguments are session time in seconds, passed in.
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
        kind = message.get("type")
        if kind == "queue":
            self.queue = [QueueItem.from_dict(t) for t in message.get("tracks", [])]
            target = message.get("target") or {}
            self.target_valence = float(target.get("valence", self.target_valence))
            self.target_energy = float(target.get("energy", self.target_energy))
            self.queue_trigger = str(message.get("trigger", ""))
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
        if self.now is not None and self.now.id == track_id:
            return self.now
        return next((i for i in self.queue if i.id == track_id), None)

    def on_playback(self, event: DeckEvent) -> None:
        if event.kind == "started":
            self.failed_in_a_row = 0
        if event.kind in ("completed", "skipped"):
            self.finished += 1
            if self.now is not None and self.now.id == event.track_id:
                self.now = None

    def on_track_failed(self, track_id: str, message: str) -> None:
        self.failed_ids.add(track_id)
        self.failed_in_a_row += 1
        if track_id in self.started_ids:  # it never played
            self.started_ids.remove(track_id)
        if self.now is not None and self.now.id == track_id:
            self.now = None
        self.notices.append(message)


# --------------------------------------------------------------------------------------------- screen

_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float] | tuple[float, ...]) -> str:
    """0–1 values as block characters, one per value (▁ for 0 … █ for 1)."""
    chars = []
    for value in values:
        v = min(1.0, max(0.0, float(value)))
        chars.append(_SPARKS[min(len(_SPARKS) - 1, int(v * len(_SPARKS)))])
    return "".join(chars)


def _bar(value: float, width: int = 20) -> str:
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
    queue_title = f"Up next · target valence {state.target_valence:.2f} energy {state.target_energy:.2f}" + (
        f" · after {state.queue_trigger}" if state.queue_trigger else ""
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


class _LinePrinter:
    """Headless output: one ``event key=value …`` line per event on a text stream."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        parts = [event]
        for key, value in fields.items():
            if isinstance(value, float):
                parts.append(f"{key}={value:.3f}")
            elif isinstance(value, str) and (" " in value or '"' in value or not value):
                parts.append(f"{key}={json.dumps(value, ensure_ascii=False)}")
            else:
                parts.append(f"{key}={value}")
        with self._lock:
            self.stream.write(" ".join(parts) + "\n")
            self.stream.flush()


# ------------------------------------------------------------------------------------------ the shell


class ListenClient(Protocol):
    """What the session needs from a connection to the server (:class:`player.client.CadenceClient`)."""

    async def send_text(self, text: str) -> None: ...
    async def playback(self, event: str, track_id: str, position_s: float) -> None: ...
    async def next(self, count: int = 10) -> None: ...
    async def receive(self, timeout: float | None = None) -> dict[str, Any]: ...
    async def audio_start(
        self, sample_rate: int, channels: int = 1, sample_format: str = "s16le"
    ) -> None: ...
    async def send_audio(self, pcm: bytes) -> None: ...
    async def audio_stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """How a session runs (from the ``listen`` options)."""

    push_to_talk: bool = False
    max_tracks: int | None = None
    """Stop after this many tracks ended (completed or skipped)."""
    max_seconds: float | None = None
    """Stop after this long, seconds of wall time since the session started."""
    queue_size: int = 10
    """Tracks asked for when the queue runs out."""
    keepalive_s: float = 240.0
    """After this long without sending anything (paused, push-to-talk off), ask for a fresh queue so
    the server's idle timeout (600 s by default) does not end the session."""


_SessionInput = tuple[str, Any]
_MAX_FAILED_IN_A_ROW = 5
"""Unplayable tracks in a row after which the session gives up (the files are not on this machine)."""
_SKIP_QUEUE_WAIT_S = 0.5
"""How long the next track waits for the queue the server sends after a skip."""


class ListenSession:
    """One listening session: a client, a player, a microphone and the listener's commands.

    ``commands`` is fed by a keyboard or stdin thread (:meth:`submit`), the player and the
    microphone by their own threads; everything they report funnels into one asyncio queue and is
    handled in order on the event loop, so :class:`ListenState` is only touched there.
    """

    def __init__(
        self,
        client: ListenClient,
        output: AudioOutput,
        microphone: AudioInput | None,
        state: ListenState,
        options: ListenOptions,
        *,
        printer: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.output = output
        self.microphone = microphone
        self.state = state
        self.options = options
        self._print = printer
        self._clock = clock
        self._start_s = clock()
        self._inbox: asyncio.Queue[_SessionInput] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done = asyncio.Event()
        self._server_skips: set[str] = set()
        self._asked_for_more = False
        self._skip_asked_s: float | None = None
        """Session time of the listener's last skip, until the queue the server sends for it arrives."""
        self._last_sent_s = clock()
        """Clock time of the last message sent to the server (for the keepalive)."""
        self._mic_stop = threading.Event()
        self._mic_thread: threading.Thread | None = None
        self._streaming = False
        self.player = Player(
            output,
            next_track=self._next_track_from_thread,
            on_event=lambda event: self._post(("playback", event)),
            on_error=lambda track_id, message: self._post(("track_failed", (track_id, message))),
        )
        self.failure: CadenceError | None = None
        """Why the session ended early: a device failed, or the server went away."""
        self.sent: list[tuple[str, str, float]] = []
        """Playback events reported to the server: (event, track_id, position_s)."""

    # ---------------------------------------------------------------- plumbing

    def session_s(self) -> float:
        return self._clock() - self._start_s

    def _post(self, item: _SessionInput) -> None:
        """Hand something to the event loop, from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            loop.call_soon_threadsafe(self._inbox.put_nowait, item)

    def submit(self, command: Command) -> None:
        """A listener's command, from any thread."""
        self._post(("command", command))

    def show_typing(self, text: str | None) -> None:
        """The typed-mood editor's content (None: closed), from any thread."""
        self._post(("typing", text))

    def _emit(self, event: str, **fields: Any) -> None:
        if self._print is not None:
            self._print(event, t_s=self.session_s(), **fields)

    def _next_track_from_thread(self) -> tuple[str, Path] | None:
        """Called by the player thread when the deck is empty."""
        loop = self._loop
        if loop is None or self._done.is_set():
            return None
        future = asyncio.run_coroutine_threadsafe(self._take_next_track(), loop)
        try:
            return future.result(timeout=2.0)
        except Exception:
            future.cancel()
            return None

    async def _take_next_track(self) -> tuple[str, Path] | None:
        if self._done.is_set():
            return None
        limit = self.options.max_tracks
        if limit is not None and len(self.state.started_ids) >= limit:
            return None
        if self._skip_asked_s is not None and self.session_s() - self._skip_asked_s < _SKIP_QUEUE_WAIT_S:
            # The server answers a skip with a fresh queue: let it choose what follows.
            return None
        item = self.state.take_next_track()
        if item is None:
            if not self._asked_for_more:
                self._asked_for_more = True
                await self.client.next(self.options.queue_size)
            await asyncio.sleep(0.2)
            return None
        return item.id, Path(item.path)

    # ---------------------------------------------------------------- run

    async def run(self) -> None:
        """Play, listen and react until quit, ``max_tracks`` or ``max_seconds``."""
        self._loop = asyncio.get_running_loop()
        self._start_s = self._clock()
        tasks = [
            asyncio.create_task(self._receive_loop(), name="listen-receive"),
            asyncio.create_task(self._handle_loop(), name="listen-handle"),
            asyncio.create_task(self._keepalive_loop(), name="listen-keepalive"),
        ]
        mic_queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        if self.microphone is not None:
            tasks.append(asyncio.create_task(self._mic_loop(mic_queue), name="listen-mic"))
            self._mic_thread = threading.Thread(
                target=self._mic_reader, args=(mic_queue,), name="cadence-mic", daemon=True
            )
            self._mic_thread.start()
        self.player.start()
        try:
            if self.options.max_seconds is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._done.wait(), self.options.max_seconds)
            else:
                await self._done.wait()
        finally:
            self._done.set()
            await asyncio.to_thread(self.player.stop)
            self._mic_stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Anything the player reported before it stopped still reaches the server.
            while not self._inbox.empty():
                source, payload = self._inbox.get_nowait()
                if source == "playback":
                    await self._on_playback(payload)
            if self._mic_thread is not None:
                await asyncio.to_thread(self._mic_thread.join, 2.0)
            if self._streaming:
                with contextlib.suppress(Exception):
                    await self.client.audio_stop()
                self._streaming = False

    def stop(self) -> None:
        """End the session (from the event loop)."""
        self._done.set()

    async def _receive_loop(self) -> None:
        try:
            while True:
                message = await self.client.receive()
                self._inbox.put_nowait(("server", message))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # websockets.ConnectionClosed, most likely
            if not self._done.is_set():
                logger.warning("lost the server: %s", exc)
                self.failure = CadenceError(f"the server closed the connection ({exc})", code="disconnected")
                self.stop()

    async def _keepalive_loop(self) -> None:
        while True:
            idle_s = self._clock() - self._last_sent_s
            if idle_s >= self.options.keepalive_s:
                self._last_sent_s = self._clock()
                await self.client.next(self.options.queue_size)
                continue
            await asyncio.sleep(self.options.keepalive_s - idle_s)

    async def _handle_loop(self) -> None:
        while True:
            source, payload = await self._inbox.get()
            try:
                if source == "server":
                    await self.handle_server_message(payload)
                elif source == "playback":
                    await self._on_playback(payload)
                elif source == "track_failed":
                    track_id, message = payload
                    if not track_id:  # the player itself stopped: the output device failed
                        self.failure = DeviceError(message)
                        self.stop()
                        continue
                    self.state.on_track_failed(track_id, message)
                    self._emit("track_failed", id=track_id, message=message)
                    if self.state.failed_in_a_row >= _MAX_FAILED_IN_A_ROW:
                        self.failure = CadenceError(
                            f"{self.state.failed_in_a_row} tracks in a row could not be played here "
                            f"(last: {message}); a server on another machine sends paths of its own "
                            "files, so play its library where the files are",
                            code="tracks_unreadable",
                        )
                        self.stop()
                elif source == "command":
                    await self._on_command(payload)
                elif source == "typing":
                    self.state.typing = payload
            except Exception as exc:  # one bad message must not end the session
                logger.exception("handling %s failed", source)
                self.state.notices.append(f"error: {exc}")

    # ---------------------------------------------------------------- handlers

    async def handle_server_message(self, message: dict[str, Any]) -> None:
        """Apply one server message (the first ``queue`` comes from :meth:`CadenceClient.start_session`)."""
        self.state.on_server_message(message, at_s=self.session_s())
        kind = message.get("type")
        if kind == "queue":
            self._asked_for_more = False
            self._skip_asked_s = None
            items = self.state.queue
            mean_energy = float(np.mean([i.energy for i in items])) if items else float("nan")
            mean_valence = float(np.mean([i.valence for i in items])) if items else float("nan")
            self._emit(
                "queue",
                n=len(items),
                trigger=self.state.queue_trigger or "-",
                mean_energy=mean_energy,
                mean_valence=mean_valence,
                target_valence=self.state.target_valence,
                target_energy=self.state.target_energy,
                ids=",".join(i.id for i in items) or "-",
            )
        elif kind == "mood" and self.state.mood is not None:
            m = self.state.mood
            self._emit(
                "mood",
                valence=m.valence,
                energy=m.energy,
                confidence=m.confidence,
                label=m.label,
                source=m.source,
                intents=",".join(m.intents) or "-",
                transcript=m.transcript,
            )
        elif kind == "vad":
            self._emit("vad", state=self.state.voice)
        elif kind == "error":
            self._emit("server_error", code=str(message.get("code")), message=str(message.get("message", "")))
        elif kind == "control":
            action = message.get("action")
            self._emit("control", action=str(action))
            if action == "skip":
                now = self.player.now()
                if now.track_id is not None:
                    # The server logged this skip itself: do it, but do not report it again.
                    self._server_skips.add(now.track_id)
                    self.player.skip()
            elif action == "stop":
                self.player.set_paused(True)

    async def _on_playback(self, event: DeckEvent) -> None:
        item = self.state.item(event.track_id)
        self.state.on_playback(event)
        self._emit(
            event.kind,
            id=event.track_id,
            position_s=event.position_s,
            title=item.title if item is not None else "",
        )
        if event.kind == "skipped" and event.track_id in self._server_skips:
            self._server_skips.discard(event.track_id)
        else:
            await self._report(event.kind, event.track_id, event.position_s)
        limit = self.options.max_tracks
        if limit is not None and self.state.finished >= limit:
            self.stop()

    async def _report(self, kind: str, track_id: str, position_s: float) -> None:
        self.sent.append((kind, track_id, position_s))
        self._last_sent_s = self._clock()
        await self.client.playback(kind, track_id, round(position_s, 3))

    async def _on_command(self, command: Command) -> None:
        self._emit("command", kind=command.kind, text=command.text)
        now = self.player.now()
        if command.kind == "quit":
            self.stop()
        elif command.kind == "skip":
            if self.player.skip():
                self._skip_asked_s = self.session_s()
            else:
                self.state.notices.append("nothing to skip")
        elif command.kind in ("like", "dislike"):
            if now.track_id is None:
                self.state.notices.append(f"nothing playing to {command.kind}")
            else:
                await self._report(
                    "liked" if command.kind == "like" else "disliked", now.track_id, now.position_s
                )
                self.state.notices.append(f"{command.kind}d {self._title(now.track_id)}")
        elif command.kind == "toggle_pause":
            self.player.toggle_pause()
        elif command.kind in ("pause", "resume"):
            self.player.set_paused(command.kind == "pause")
        elif command.kind == "talk":
            self.state.mic_open = not self.state.mic_open
        elif command.kind == "text":
            self._last_sent_s = self._clock()
            await self.client.send_text(command.text)
        elif command.kind == "more":
            self._last_sent_s = self._clock()
            await self.client.next(self.options.queue_size)

    def _title(self, track_id: str) -> str:
        item = self.state.item(track_id)
        return item.title if item is not None else track_id

    # ---------------------------------------------------------------- microphone

    def _mic_reader(self, out: asyncio.Queue[np.ndarray | None]) -> None:
        """Microphone thread: read chunks at real time and hand them to the loop."""
        assert self.microphone is not None
        try:
            while not self._mic_stop.is_set():
                chunk = self.microphone.read()
                loop = self._loop
                if loop is None or loop.is_closed():
                    return
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(out.put_nowait, chunk)
                if chunk is None:
                    return
        except Exception:
            logger.exception("the microphone thread failed")
            loop = self._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(out.put_nowait, None)
        finally:
            self.microphone.close()

    async def _mic_loop(self, chunks: asyncio.Queue[np.ndarray | None]) -> None:
        """Stream the open microphone as s16le binary frames between audio.start and audio.stop."""
        assert self.microphone is not None
        rate = self.microphone.sample_rate_hz
        while True:
            chunk = await chunks.get()
            if chunk is None:
                self.state.mic_ended = True
                self._emit("mic_ended")
                if self._streaming:
                    self._streaming = False
                    await self.client.audio_stop()
                return
            if self.state.mic_open and not self._streaming:
                self._streaming = True
                await self.client.audio_start(rate, 1, "s16le")
            elif not self.state.mic_open and self._streaming:
                self._streaming = False
                await self.client.audio_stop()
            if self._streaming:
                pcm = (np.clip(chunk, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
                self._last_sent_s = self._clock()
                await self.client.send_audio(pcm)


# ------------------------------------------------------------------------------------- keyboard input


@contextlib.contextmanager
def _cbreak(stream: TextIO) -> Iterator[bool]:
    """Put a TTY in cbreak mode (keys arrive one by one, unechoed) and restore it afterwards."""
    try:
        import termios
        import tty
    except ImportError:  # not POSIX
        yield False
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _key_reader(
    stream: TextIO, interpreter: KeyInterpreter, session: ListenSession, stop: threading.Event
) -> None:
    """Keyboard thread (TTY): keys → commands; keeps the typed-mood editor on the screen."""
    fd = stream.fileno()
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.1)
        if not ready:
            continue
        data = os.read(fd, 64)
        if not data:
            return
        for command in interpreter.feed(data.decode("utf-8", errors="ignore")):
            session.submit(command)
        session.show_typing(interpreter.buffer if interpreter.typing else None)


def _line_reader(stream: TextIO, session: ListenSession, stop: threading.Event) -> None:
    """Stdin thread (no TTY): one command per line until end of input."""
    for line in stream:
        if stop.is_set():
            return
        command = parse_command_line(line)
        if command is not None:
            session.submit(command)


# -------------------------------------------------------------------------------------------- handler


def cmd_listen(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence listen`: play, listen, adapt. Exit 0, or 2 with a clear message when no device is usable."""
    if getattr(args, "list_devices", False):
        print(format_devices(list_devices()))
        return 0
    return asyncio.run(_listen(settings, args))


def open_devices(args: argparse.Namespace) -> tuple[AudioOutput, AudioInput | None, str | None]:
    """The output and the microphone the options name, and a notice if the session goes without one.

    Without a speaker there is no session. Without a microphone there still is one (moods are typed)
    unless one was asked for by name (``--input-device``) or file (``--input-wav``).

    Raises:
        DeviceError: If the output, or an explicitly chosen input, cannot be used.
    """
    output = open_output(wav_path=args.output_wav, device=args.output_device)
    try:
        return output, open_input(wav_path=args.input_wav, device=args.input_device), None
    except DeviceError as exc:
        if args.input_wav is not None or args.input_device is not None:
            output.close()
            raise
        reason = exc.message.replace(DEVICE_HELP, "").strip().rstrip(".")
        notice = (
            f"no microphone ({reason}): type your mood with t, "
            "or choose one with --input-device (see --list-devices)"
        )
        logger.warning("%s", notice)
        return output, None, notice
    except BaseException:
        output.close()
        raise


async def _listen(settings: Settings, args: argparse.Namespace) -> int:
    # Open the devices first: a missing sound card is reported before any model loads.
    output, microphone, notice = open_devices(args)
    try:
        if args.url:
            return await _session(settings, args, args.url, output, microphone, notice)
        from player.server.shell import running_server

        # In-process: loopback only and a free port, so it never clashes with a running `cadence serve`.
        local = dataclasses.replace(settings, host="127.0.0.1", port=0)
        async with running_server(local) as url:
            return await _session(settings, args, url, output, microphone, notice)
    finally:
        if microphone is not None:
            microphone.close()
        output.close()


async def _session(
    settings: Settings,
    args: argparse.Namespace,
    url: str,
    output: AudioOutput,
    microphone: AudioInput | None,
    notice: str | None,
) -> int:
    from player.client import CadenceClient

    try:
        client = await CadenceClient.connect(url, token=settings.token, client="cadence-listen")
    except (OSError, InvalidURI, InvalidHandshake) as exc:
        raise CadenceError(f"cannot reach the server at {url}: {exc}", code="unreachable") from exc
    interactive = sys.stdout.isatty()
    printer = None if interactive else _LinePrinter(sys.stdout)
    adapter = _ClientAdapter(client)
    try:
        first = await client.start_session(
            local_time=datetime.now().astimezone(), listener_id=args.listener_id, device="desktop"
        )
        state = ListenState(
            url=url,
            listener_id=args.listener_id or "",
            output=output.description,
            microphone=microphone.description if microphone is not None else "",
            push_to_talk=bool(args.push_to_talk),
            mic_open=not args.push_to_talk,
        )
        options = ListenOptions(
            push_to_talk=bool(args.push_to_talk), max_tracks=args.max_tracks, max_seconds=args.max_seconds
        )
        session = ListenSession(adapter, output, microphone, state, options, printer=printer)
        if printer is not None:
            printer("session", url=url, output=output.description, microphone=state.microphone or "none")
        if notice is not None:
            state.notices.append(notice)
        await session.handle_server_message(first)
        stop_input = threading.Event()
        stdin = sys.stdin
        if interactive and stdin is not None and stdin.isatty():
            with _cbreak(stdin):
                interpreter = KeyInterpreter()
                threading.Thread(
                    target=_key_reader, args=(stdin, interpreter, session, stop_input), daemon=True
                ).start()
                await _run_with_screen(session)
        else:
            if stdin is not None and not stdin.closed:
                threading.Thread(target=_line_reader, args=(stdin, session, stop_input), daemon=True).start()
            if interactive:
                await _run_with_screen(session)
            else:
                await session.run()
        stop_input.set()
        if printer is not None:
            printer("end", tracks=session.state.finished, t_s=session.session_s())
        if session.failure is not None:
            raise session.failure
        return 0
    finally:
        with contextlib.suppress(Exception):
            await client.end_session()
        with contextlib.suppress(Exception):
            await client.close()


async def _run_with_screen(session: ListenSession) -> None:
    """Run the session under a live rich screen, with log records shown above it."""
    from rich.live import Live
    from rich.logging import RichHandler

    console = Console()
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = RichHandler(console=console, level=logging.WARNING, show_path=False)
    root.handlers = [handler]
    try:
        with Live(console=console, refresh_per_second=8, transient=False, screen=False) as live:

            async def refresh() -> None:
                while True:
                    live.update(render(session.state, session.player.now()))
                    await asyncio.sleep(0.125)

            task = asyncio.create_task(refresh())
            try:
                await session.run()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                live.update(render(session.state, session.player.now()))
    finally:
        root.handlers = saved


class _ClientAdapter:
    """:class:`ListenClient` over :class:`player.client.CadenceClient`."""

    def __init__(self, client: Any) -> None:
        self._client = client

    async def send_text(self, text: str) -> None:
        await self._client.send_text(text)

    async def playback(self, event: str, track_id: str, position_s: float) -> None:
        await self._client.playback(event, track_id, position_s)

    async def next(self, count: int = 10) -> None:
        await self._client.next(count)

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        message: dict[str, Any] = await self._client.receive(timeout)
        return message

    # A live microphone has no end known in advance, so the adapter speaks the audio part of the
    # protocol itself: audio.start, binary frames of s16le PCM, audio.stop (docs/protocol.md).

    async def audio_start(self, sample_rate: int, channels: int = 1, sample_format: str = "s16le") -> None:
        await self._client.send(
            {
                "type": "audio.start",
                "sample_rate": int(sample_rate),
                "channels": int(channels),
                "format": sample_format,
            }
        )

    async def send_audio(self, pcm: bytes) -> None:
        await self._client.ws.send(pcm)

    async def audio_stop(self) -> None:
        await self._client.send({"type": "audio.stop"})
