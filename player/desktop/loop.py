"""`cadence listen`: the session loop — a client, the playback thread, the microphone and the keys.

:class:`ListenSession` is the asyncio shell that wires a connection to the server
(:class:`ListenClient`), the playback thread (:class:`player.desktop.playback.PlaybackThread`), the
microphone thread and the keyboard (or stdin) thread together. Everything they report funnels into one
asyncio queue and is handled in order on the event loop, so the :class:`~player.desktop.screen.ListenState`
is only touched there. It reports playback events itself — ``started``, ``skipped`` at its position,
``completed``, ``liked``, ``disliked`` — and never reports a skip the server ordered (a ``control``
message: the server logged it already).

:func:`cmd_listen` is the CLI handler: it opens the sound devices first (a missing sound card is
reported before any model loads, :func:`player.desktop.devices.open_devices`), then talks to the
server at ``--url`` or starts one in-process on a free loopback port with the server package's own
:func:`player.server.shell.running_server`. With a terminal the screen is drawn live
(:func:`player.desktop.render.render`) and keys are read in cbreak mode
(:class:`player.desktop.keys.KeyInterpreter`); without one, stdin gives one command per line
(:func:`player.desktop.keys.parse_command_line`) and stdout gets one line per event
(:func:`player.desktop.render.format_event_line`: ``started id=… position_s=…``,
``queue n=… mean_energy=… ids=…``, ``mood …``), which is what the headless tests read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TextIO

import numpy as np
from rich.console import Console
from websockets.exceptions import InvalidHandshake, InvalidURI

from player.desktop.deck import DeckEvent
from player.desktop.devices import AudioInput, AudioOutput, format_devices, list_devices, open_devices
from player.desktop.keys import Command, KeyInterpreter, parse_command_line
from player.desktop.playback import PlaybackThread, TrackLocation, track_location
from player.desktop.render import format_event_line, render
from player.desktop.screen import ListenState
from player.errors import CadenceError, DeviceError
from player.settings import Settings

__all__ = [
    "ListenClient",
    "ListenOptions",
    "ListenSession",
    "cmd_listen",
]

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ the shell


class ListenClient(Protocol):
    """What the session needs from a connection to the server (:class:`player.client.CadenceClient`)."""

    async def send_text(self, text: str) -> None: ...
    async def playback(self, event: str, track_id: str, position_s: float) -> None: ...
    async def next(self, count: int = 10) -> None: ...
    async def send(self, message: dict[str, Any]) -> Any: ...
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
    """One listening session: a client, the playback thread, a microphone and the listener's commands.

    ``commands`` is fed by a keyboard or stdin thread (:meth:`submit`), playback and the
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
        self.playback = PlaybackThread(
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
        """Seconds since the session started (by the session's clock)."""
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

    def _next_track_from_thread(self) -> tuple[str, TrackLocation] | None:
        """Called by the playback thread when the deck is empty."""
        loop = self._loop
        if loop is None or self._done.is_set():
            return None
        future = asyncio.run_coroutine_threadsafe(self._take_next_track(), loop)
        try:
            return future.result(timeout=2.0)
        except Exception:
            future.cancel()
            return None

    async def _take_next_track(self) -> tuple[str, TrackLocation] | None:
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
        return item.id, track_location(item.path, item.audio_url, self.state.url)

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
        self.playback.start()
        try:
            if self.options.max_seconds is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._done.wait(), self.options.max_seconds)
            else:
                await self._done.wait()
        finally:
            self._done.set()
            await asyncio.to_thread(self.playback.stop)
            self._mic_stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Anything playback reported before it stopped still reaches the server.
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
                    if not track_id:  # playback itself stopped: the output device failed
                        self.failure = DeviceError(message)
                        self.stop()
                        continue
                    self.state.on_track_failed(track_id, message)
                    self._emit("track_failed", id=track_id, message=message)
                    if self.state.failed_in_a_row >= _MAX_FAILED_IN_A_ROW:
                        self.failure = CadenceError(
                            f"{self.state.failed_in_a_row} tracks in a row could not be played here "
                            f"(last: {message}); is the server reachable over HTTP on its port?",
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
                now = self.playback.now()
                if now.track_id is not None:
                    # The server logged this skip itself: do it, but do not report it again.
                    self._server_skips.add(now.track_id)
                    self.playback.skip()
            elif action == "stop":
                self.playback.set_paused(True)

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
        now = self.playback.now()
        if command.kind == "quit":
            self.stop()
        elif command.kind == "skip":
            if self.playback.skip():
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
            self.playback.toggle_pause()
        elif command.kind in ("pause", "resume"):
            self.playback.set_paused(command.kind == "pause")
        elif command.kind == "talk":
            self.state.mic_open = not self.state.mic_open
        elif command.kind == "text":
            self._last_sent_s = self._clock()
            await self.client.send_text(command.text)
        elif command.kind == "more":
            self._last_sent_s = self._clock()
            await self.client.next(self.options.queue_size)
        elif command.kind == "mixes":
            self._last_sent_s = self._clock()
            await self.client.send({"type": "mixes.list"})
        elif command.kind == "mix":
            await self._play_mix(command.text)

    async def _play_mix(self, choice: str) -> None:
        """``mix.play`` for a mix id, a number from the last list shown, or "" (all music). The playing
        track plays on; the mix's tracks follow it (switching is not a skip of that track)."""
        mix_id: str | None = choice or None
        if choice.isdigit():
            listed = self.state.mixes
            if not 1 <= int(choice) <= len(listed):
                self.state.notices.append(
                    "press x to list the mixes first" if not listed else f"no mix {choice}"
                )
                return
            mix_id = listed[int(choice) - 1][0]
        self._last_sent_s = self._clock()
        await self.client.send({"type": "mix.play", "mix": mix_id})

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


async def _listen(settings: Settings, args: argparse.Namespace) -> int:
    """Open the devices, then run the session against ``--url`` or an in-process server; the exit status."""
    # Open the devices first: a missing sound card is reported before any model loads.
    output, microphone, notice = open_devices(args)
    try:
        if args.url:
            return await _session(settings, args, args.url, output, microphone, notice)
        # Imported here: the server package (and what it loads) is needed only without --url.
        from player.app import serving

        # In-process: loopback only and a free port, so it never clashes with a running `cadence serve`.
        local = dataclasses.replace(settings, host="127.0.0.1", port=0)
        async with serving(local) as url:
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
    """Connect to ``url``, start a session and run it under the screen or the line printer; the exit status.

    Raises:
        CadenceError: If the server cannot be reached (``unreachable``), or the session ended early
            (``disconnected``, ``tracks_unreadable``, or a :class:`DeviceError`).
    """
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
                    live.update(render(session.state, session.playback.now()))
                    await asyncio.sleep(0.125)

            task = asyncio.create_task(refresh())
            try:
                await session.run()
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                live.update(render(session.state, session.playback.now()))
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

    async def send(self, message: dict[str, Any]) -> Any:
        return await self._client.send(message)

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


class _LinePrinter:
    """Headless output: one :func:`format_event_line` per event on a text stream, from any thread."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        line = format_event_line(event, **fields)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()
