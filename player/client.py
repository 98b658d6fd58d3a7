"""A small asyncio client for the Cadence server, and `cadence client`.

>>> client = await CadenceClient.connect("ws://127.0.0.1:8765")
>>> queue = await client.start_session(local_time=datetime.now().astimezone())
>>> await client.send_text("ugh, I'm exhausted")
>>> mood = await client.wait_for("mood")
>>> queue = await client.wait_for("queue")

Every message received is parsed into a dict and kept, in order, in :attr:`CadenceClient.history`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from mood.errors import CadenceError
from player.core.protocol import PROTOCOL_VERSION
from player.settings import Settings

__all__ = ["CadenceClient", "ServerError", "cmd_client", "pcm_s16le"]

logger = logging.getLogger(__name__)


class ServerError(CadenceError):
    """The server answered with an ``error`` message; ``code`` is its wire code."""

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(str(message.get("message", "")), code=str(message.get("code", "internal")))
        self.reply = message


def pcm_s16le(samples: np.ndarray) -> bytes:
    """Float samples in −1…1 (``[n]`` or ``[n, channels]``) as interleaved 16-bit little-endian PCM."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (np.round(clipped * 32767.0)).astype("<i2").tobytes()


class CadenceClient:
    """One connection to a Cadence server (after ``hello`` / ``welcome``)."""

    def __init__(self, ws: ClientConnection, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.welcome = welcome
        self.session_id: str = str(welcome["session_id"])
        self.history: list[dict[str, Any]] = []
        """Every server message received, parsed, in order."""
        self._next_id = 0

    @classmethod
    async def connect(
        cls, url: str, *, token: str | None = None, client: str = "cadence-client", origin: str | None = None
    ) -> CadenceClient:
        """Open the connection, send ``hello`` and wait for ``welcome``.

        Raises:
            ServerError: If the server answers with an ``error`` (``unauthorized``, ``too_many_sessions``, …).
            websockets.exceptions.InvalidStatus: If the handshake is refused (403 for a foreign Origin).
            OSError: If nothing listens at ``url``.
        """
        ws = await connect(url, origin=origin, compression=None, max_size=16 * 1024 * 1024)  # type: ignore[arg-type]
        hello: dict[str, Any] = {"type": "hello", "protocol": PROTOCOL_VERSION, "client": client}
        if token is not None:
            hello["token"] = token
        try:
            # A server at its session cap answers before it reads `hello` and closes: the reply
            # is still delivered, so a refused send is not the end of the story.
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(hello))
            reply = json.loads(await asyncio.wait_for(ws.recv(), timeout=30.0))
        except ConnectionClosed as exc:
            raise CadenceError(f"the server closed the connection: {exc}", code="closed") from exc
        except BaseException:
            await ws.close()
            raise
        if reply.get("type") != "welcome":
            await ws.close()
            raise (
                ServerError(reply)
                if reply.get("type") == "error"
                else CadenceError(f"unexpected reply {reply}")
            )
        return cls(ws, reply)

    # ------------------------------------------------------------ sending

    def _id(self) -> str:
        self._next_id += 1
        return f"c{self._next_id}"

    async def send(self, message: dict[str, Any]) -> str:
        """Send one JSON message, adding an ``id`` if it has none; returns the id."""
        message = dict(message)
        message.setdefault("id", self._id())
        await self.ws.send(json.dumps(message))
        return str(message["id"])

    async def start_session(
        self,
        *,
        local_time: datetime | str,
        listener_id: str | None = None,
        device: str | None = None,
        queue: list[str] | None = None,
        store_transcripts: bool = False,
    ) -> dict[str, Any]:
        """Send ``session.start``; returns the first ``queue`` message.

        Raises:
            ServerError: If the server refuses the start (``unknown_track``, ``bad_field``, …).
        """
        if isinstance(local_time, datetime):
            if local_time.tzinfo is None:
                raise ValueError("local_time must be timezone-aware")
            local_time = local_time.isoformat()
        message: dict[str, Any] = {"type": "session.start", "local_time": local_time}
        if listener_id is not None:
            message["listener_id"] = listener_id
        if device is not None:
            message["device"] = device
        if queue is not None:
            message["queue"] = list(queue)
        if store_transcripts:
            message["store_transcripts"] = True
        await self.send(message)
        return await self.wait_for("queue")

    async def send_text(self, text: str) -> str:
        """Send typed text; the ``mood`` and ``queue`` it causes arrive later. Returns the message id."""
        return await self.send({"type": "text", "text": text})

    async def stream_audio(
        self, samples: np.ndarray, sample_rate: int, *, chunk_ms: int = 50, realtime: bool = False
    ) -> None:
        """Stream ``samples`` (float, ``[n]`` or ``[n, channels]``) as a microphone would.

        ``audio.start``, then binary frames of ``chunk_ms`` milliseconds of s16le PCM (paced at real
        time if ``realtime``), then ``audio.stop``.
        """
        samples = np.asarray(samples, dtype=np.float32)
        channels = 1 if samples.ndim == 1 else int(samples.shape[1])
        await self.send(
            {"type": "audio.start", "sample_rate": int(sample_rate), "channels": channels, "format": "s16le"}
        )
        step = max(1, round(sample_rate * chunk_ms / 1000.0))
        began = time.monotonic()
        for i, start in enumerate(range(0, samples.shape[0], step)):
            await self.ws.send(pcm_s16le(samples[start : start + step]))
            if realtime:
                due = began + (i + 1) * step / sample_rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
        await self.send({"type": "audio.stop"})

    async def playback(self, event: str, track_id: str, position_s: float) -> str:
        """Report a playback event; the server answers ``ack`` (with ``ref`` = the returned id) once it is durable."""
        return await self.send(
            {"type": "playback", "event": event, "track_id": track_id, "position_s": float(position_s)}
        )

    async def next(self, count: int = 10) -> str:
        """Ask for a fresh ``queue`` of ``count`` tracks."""
        return await self.send({"type": "next", "count": int(count)})

    async def end_session(self, timeout: float = 30.0) -> None:
        """Send ``session.end`` and wait for its ``ack`` (the server then closes the connection)."""
        ref = await self.send({"type": "session.end"})
        while True:
            try:
                message = await self.receive(timeout)
            except ConnectionClosed:
                return
            if message.get("type") == "ack" and message.get("ref") == ref:
                return

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> CadenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ receiving

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next server message, parsed (also appended to :attr:`history`).

        Raises:
            TimeoutError: If nothing arrives within ``timeout`` seconds.
            websockets.exceptions.ConnectionClosed: If the connection is closed.
        """
        async with asyncio.timeout(timeout):
            frame = await self.ws.recv()
        message: dict[str, Any] = json.loads(frame)
        self.history.append(message)
        return message

    async def wait_for(
        self, type_: str, timeout: float = 30.0, *, raise_errors: bool = True
    ) -> dict[str, Any]:
        """The next message of type ``type_``, skipping others (they stay in :attr:`history`).

        Raises:
            ServerError: If an ``error`` arrives first (unless ``raise_errors`` is false or ``type_`` is ``"error"``).
            TimeoutError: If none arrives within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            message = await self.receive(max(0.0, deadline - time.monotonic()))
            if message.get("type") == type_:
                return message
            if message.get("type") == "error" and raise_errors:
                raise ServerError(message)


# ---------------------------------------------------------------- `cadence client`


def _describe_mood(mood: dict[str, Any]) -> str:
    intents = ", ".join(i["kind"] for i in mood.get("intents", []))
    said = f' — "{mood["transcript"]}"' if mood.get("transcript") else ""
    return (
        f"mood: {mood['label']} (valence {mood['valence']:.2f}, energy {mood['energy']:.2f}, "
        f"confidence {mood['confidence']:.2f}){' intents: ' + intents if intents else ''}{said}"
    )


def _describe_queue(queue: dict[str, Any]) -> str:
    target = queue["target"]
    lines = [
        f"queue ({queue.get('trigger')}), target valence {target['valence']:.2f} energy {target['energy']:.2f}:"
    ]
    for i, t in enumerate(queue["tracks"], 1):
        lines.append(
            f"{i:3d}. {t['artist']} — {t['title']}  (energy {t['energy']:.2f}, valence {t['valence']:.2f}, "
            f"{t['tempo_bpm']:.0f} bpm)  {t['reason']}"
        )
    return "\n".join(lines)


def _url(settings: Settings, args: argparse.Namespace) -> str:
    """``--url``, else the server the settings describe."""
    return str(args.url) if args.url is not None else settings.url


async def _run_client(settings: Settings, args: argparse.Namespace) -> int:
    token = args.token if args.token is not None else settings.token
    url = _url(settings, args)
    try:
        client = await CadenceClient.connect(url, token=token, client="cadence-client-cli")
    except OSError as exc:
        raise CadenceError(f"cannot reach {url}: {exc}", code="unreachable") from exc
    out: list[dict[str, Any]] = []
    try:
        await client.start_session(local_time=datetime.now().astimezone(), listener_id=args.listener_id)
        if args.text is not None:
            await client.send_text(args.text)
            out.append(await client.wait_for("mood", timeout=60))
            out.append(await client.wait_for("queue", timeout=60))
        else:
            import soundfile

            samples, rate = soundfile.read(str(Path(args.wav)), dtype="float32", always_2d=False)
            await client.stream_audio(samples, int(rate), chunk_ms=50, realtime=args.realtime)
            # Every `vad` of the stream precedes the ack of audio.stop; each utterance gets a mood
            # (followed by its queue) or an error, before or after that ack.
            utterances = results = 0
            stopped = pending_queue = False
            while not stopped or results < utterances or pending_queue:
                message = await client.receive(timeout=120)
                kind = message["type"]
                if kind == "vad" and message["state"] == "silence":
                    utterances += 1
                elif kind == "ack" and message.get("of") == "audio.stop":
                    stopped = True
                elif kind == "mood":
                    results += 1
                    pending_queue = True
                    out.append(message)
                elif kind == "queue" and pending_queue:
                    pending_queue = False
                    out.append(message)
                elif kind == "error":
                    results += 1
                    out.append(message)
            if utterances == 0:
                print("no speech heard in", args.wav)
        await client.end_session()
    finally:
        await client.close()
    for message in out:
        if args.json:
            print(json.dumps(message))
        elif message["type"] == "mood":
            print(_describe_mood(message))
        elif message["type"] == "queue":
            print(_describe_queue(message))
        else:
            print(f"error [{message['code']}]: {message['message']}")
    return 0


def cmd_client(settings: Settings, args: argparse.Namespace) -> int:
    """`cadence client [--url URL] (--text TEXT | --wav FILE [--realtime])`."""
    try:
        return asyncio.run(_run_client(settings, args))
    except TimeoutError as exc:
        raise CadenceError(f"no answer from {_url(settings, args)} in time", code="timeout") from exc
    except ConnectionClosed as exc:
        raise CadenceError(f"the server closed the connection: {exc}", code="closed") from exc
