"""The `cadence listen` session loop on a fake server: what it reports, plays, streams and gives up on.

The fake server (:class:`FakeServer`, the one fake of this area) answers like the real one: a first
queue, a fresh queue after a skip, a mood and a queue after text or an utterance. Everything else is
real: the playback thread, the deck, the WAV output, the WAV microphone. Unit tier (no real server,
no engines), though the sessions play at real time for a second or two each.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr

from player.desktop.devices import WavFileInput, WavFileOutput
from player.desktop.keys import Command
from player.desktop.loop import ListenOptions, ListenSession
from player.desktop.screen import ListenState

# ---------------------------------------------------------------------------------------------- fakes


class FakeServer:
    """A stand-in for :class:`player.client.CadenceClient` talking to a server (unit tier only)."""

    def __init__(self, tracks: list[dict[str, Any]]) -> None:
        self.tracks = tracks
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.calls: list[tuple[Any, ...]] = []
        self.audio_bytes = 0
        self.audio_open = False

    def queue(self, ids: list[str], trigger: str, energy: float = 0.5) -> dict[str, Any]:
        tracks = [t for i in ids for t in self.tracks if t["id"] == i]
        return {
            "type": "queue",
            "tracks": tracks,
            "target": {"valence": 0.5, "energy": energy},
            "trigger": trigger,
        }

    def push(self, message: dict[str, Any]) -> None:
        self.inbox.put_nowait(message)

    async def send_text(self, text: str) -> None:
        self.calls.append(("text", text))
        self.push({"type": "mood", "valence": 0.3, "energy": 0.2, "confidence": 0.8, "label": "tired",
                   "transcript": text, "intents": [{"kind": "calmer"}], "source": "text"})  # fmt: skip
        self.push(self.queue([t["id"] for t in reversed(self.tracks)], "mood", energy=0.2))

    async def playback(self, event: str, track_id: str, position_s: float) -> None:
        self.calls.append(("playback", event, track_id, position_s))
        if event == "skipped":
            remaining = [t["id"] for t in self.tracks if t["id"] != track_id]
            self.push(self.queue(remaining, "skip"))

    async def next(self, count: int = 10) -> None:
        self.calls.append(("next", count))
        self.push(self.queue([t["id"] for t in self.tracks], "next"))

    async def send(self, message: dict[str, Any]) -> None:
        """``mixes.list`` and ``mix.play``, answered like the real server (two mixes: the last two
        tracks, the first two)."""
        self.calls.append(("send", message))
        mixes = {"late": ("Late ones", [t["id"] for t in self.tracks[2:]]),
                 "early": ("Early ones", [t["id"] for t in self.tracks[:2]])}  # fmt: skip
        if message["type"] == "mixes.list":
            self.push({"type": "mixes", "mixes": [
                {"id": k, "kind": "daily", "title": title, "description": "", "count": len(ids), "refresh": "daily"}
                for k, (title, ids) in mixes.items()]})  # fmt: skip
        elif message["type"] == "mix.play":
            mix = message["mix"]
            queue = self.queue(mixes[mix][1] if mix else [t["id"] for t in self.tracks], "mix")
            if mix:
                queue["mix"] = {"id": mix, "title": mixes[mix][0]}
            self.push(queue)

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        return await self.inbox.get()

    async def audio_start(self, sample_rate: int, channels: int = 1, sample_format: str = "s16le") -> None:
        assert not self.audio_open
        self.audio_open = True
        self.calls.append(("audio.start", sample_rate, channels, sample_format))

    async def send_audio(self, pcm: bytes) -> None:
        assert self.audio_open
        self.audio_bytes += len(pcm)

    async def audio_stop(self) -> None:
        assert self.audio_open
        self.audio_open = False
        self.calls.append(("audio.stop",))
        self.push({"type": "mood", "valence": 0.4, "energy": 0.3, "confidence": 0.7, "label": "calm",
                   "transcript": "hello", "intents": [], "source": "voice"})  # fmt: skip

    def playbacks(self) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == "playback"]


def _catalog(directory: Path, count: int = 4, seconds: float = 1.0) -> list[dict[str, Any]]:
    tracks = []
    for n in range(count):
        path = directory / f"track{n}.wav"
        t = np.arange(round(seconds * 22050)) / 22050
        sf.write(path, (0.4 * np.sin(2 * np.pi * (220 + 110 * n) * t)).astype(np.float32), 22050)
        tracks.append({"id": f"t{n}", "title": f"Tone {n}", "artist": "Sine", "path": str(path),
                       "duration_s": seconds, "valence": 0.5, "energy": 0.2 * n, "tempo_bpm": 100.0,
                       "score": 1.0 - n / 10, "reason": f"because {n}"})  # fmt: skip
    return tracks


class _Lines:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, event: str, **fields: Any) -> None:
        self.lines.append((event, fields))

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [f for e, f in self.lines if e == kind]


async def _wait_for(predicate: Any, timeout_s: float = 20.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


# ---------------------------------------------------------------------------------------------- session


def test_session_reports_started_skipped_completed_and_plays_the_tracks(tmp_path: Path) -> None:
    """A skip is reported at its position, later tracks come from the queue the skip brought, and completions
    carry the track length; the output file holds the tracks' own audio."""
    tracks = _catalog(tmp_path, 4, seconds=1.0)

    async def scenario() -> tuple[FakeServer, ListenSession, _Lines]:
        server = FakeServer(tracks)
        output = WavFileOutput(tmp_path / "out.wav")
        lines = _Lines()
        session = ListenSession(
            server, output, None, ListenState(), ListenOptions(max_tracks=3), printer=lines
        )
        await session.handle_server_message(server.queue(["t0", "t1", "t2", "t3"], "start"))

        async def skip_soon() -> None:
            await _wait_for(lambda: session.playback.now().position_s > 0.3)
            session.submit(Command("skip"))

        helper = asyncio.create_task(skip_soon())
        await asyncio.wait_for(session.run(), 30)
        await helper
        output.close()
        return server, session, lines

    server, _session, lines = asyncio.run(scenario())
    played = server.playbacks()
    kinds = [(p[0], p[1]) for p in played]
    # The skip of t0 brought the queue t1, t2, t3; the listener then heard t1 and t2 to their end.
    assert kinds == [("started", "t0"), ("skipped", "t0"), ("started", "t1"), ("completed", "t1"),
                     ("started", "t2"), ("completed", "t2")]  # fmt: skip
    skip_position = played[1][2]
    assert 0.3 <= skip_position < 0.9
    assert played[3][2] == pytest.approx(1.0, abs=0.01)
    assert [f["trigger"] for f in lines.events("queue")] == ["start", "skip"]

    out, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == 44100 and out.shape[1] == 2
    # t0 up to the skip (plus what was already in the output, at most a block or two) and a 50 ms fade,
    # then t1 and t2 whole.
    t0_written_s = len(out) / rate - 2.0
    assert skip_position + 0.05 <= t0_written_s <= skip_position + 0.05 + 0.15
    t1 = soxr.resample(sf.read(tracks[1]["path"], dtype="float32")[0], 22050, rate)
    start = round(t0_written_s * rate)
    segment = out[start + 4410 : start + 4410 + 22050, 0]
    np.testing.assert_allclose(segment, t1[4410 : 4410 + 22050], atol=2e-3)


def test_session_mood_text_changes_queue_and_server_skip_is_not_reported_twice(tmp_path: Path) -> None:
    """Typed text reaches the server and its queue is shown; a skip the server ordered is done but not reported."""
    tracks = _catalog(tmp_path, 4, seconds=3.0)

    async def scenario() -> tuple[FakeServer, ListenSession, _Lines]:
        server = FakeServer(tracks)
        lines = _Lines()
        session = ListenSession(
            server, WavFileOutput(tmp_path / "out.wav"), None, ListenState(), ListenOptions(max_tracks=2),
            printer=lines,
        )  # fmt: skip
        await session.handle_server_message(server.queue(["t0", "t1", "t2", "t3"], "start"))

        async def drive() -> None:
            await _wait_for(lambda: session.playback.now().track_id == "t0")
            session.submit(Command("text", "I'm so tired, something calm please"))
            await _wait_for(lambda: session.state.queue_trigger == "mood")
            server.push({"type": "control", "action": "skip", "track_id": "t0"})

        helper = asyncio.create_task(drive())
        await asyncio.wait_for(session.run(), 30)
        await helper
        return server, session, lines

    server, _session, lines = asyncio.run(scenario())
    assert ("text", "I'm so tired, something calm please") in server.calls
    assert lines.events("mood")[0]["label"] == "tired"
    # The mood's queue (t3 first) decided what played after the server's skip, which was not echoed.
    assert [(p[0], p[1]) for p in server.playbacks()] == [
        ("started", "t0"), ("started", "t3"), ("completed", "t3"),
    ]  # fmt: skip
    assert [e["id"] for e in lines.events("skipped")] == ["t0"]


def test_always_on_microphone_streams_all_audio_between_start_and_stop(tmp_path: Path) -> None:
    """Always-on: every microphone sample goes out as s16le at 16 kHz between one audio.start and audio.stop."""
    wav = tmp_path / "speech.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(24000) / 10)).astype(np.float32), 16000)
    tracks = _catalog(tmp_path, 2, seconds=1.0)

    async def scenario() -> tuple[FakeServer, ListenSession]:
        server = FakeServer(tracks)
        mic = WavFileInput(wav, realtime=False)
        session = ListenSession(
            server, WavFileOutput(tmp_path / "out.wav", realtime=False), mic, ListenState(),
            ListenOptions(max_seconds=1.0),
        )  # fmt: skip
        await session.handle_server_message(server.queue(["t0", "t1"], "start"))
        await session.run()
        return server, session

    server, session = asyncio.run(scenario())
    assert ("audio.start", 16000, 1, "s16le") in server.calls
    assert ("audio.stop",) in server.calls
    assert server.audio_bytes == 2 * 24000
    assert session.state.mic_ended and session.state.mood is not None


def test_push_to_talk_sends_nothing_until_talk(tmp_path: Path) -> None:
    """Push-to-talk: with talk off the microphone is read but nothing reaches the server."""
    wav = tmp_path / "speech.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(16000) / 10)).astype(np.float32), 16000)

    async def scenario() -> FakeServer:
        server = FakeServer(_catalog(tmp_path, 1))
        session = ListenSession(
            server, WavFileOutput(tmp_path / "out.wav", realtime=False), WavFileInput(wav, realtime=False),
            ListenState(push_to_talk=True, mic_open=False), ListenOptions(push_to_talk=True, max_seconds=0.5),
        )  # fmt: skip
        await session.run()
        return server

    server = asyncio.run(scenario())
    assert server.audio_bytes == 0
    assert not [c for c in server.calls if c[0].startswith("audio")]


def test_lost_server_ends_the_session_with_a_clear_error(tmp_path: Path) -> None:
    """When the connection drops, the session stops at once and says the server went away."""

    class Dropping(FakeServer):
        async def receive(self, timeout: float | None = None) -> dict[str, Any]:
            await asyncio.sleep(0.3)
            raise ConnectionResetError("connection closed by peer")

    async def scenario() -> ListenSession:
        server = Dropping(_catalog(tmp_path, 2, seconds=5.0))
        session = ListenSession(
            server, WavFileOutput(tmp_path / "out.wav"), None, ListenState(), ListenOptions(max_seconds=20)
        )
        await session.handle_server_message(server.queue(["t0", "t1"], "start"))
        await asyncio.wait_for(session.run(), 10)
        return session

    session = asyncio.run(scenario())
    assert session.failure is not None and session.failure.code == "disconnected"
    assert session.session_s() < 5.0


def test_keepalive_asks_for_a_queue_when_nothing_was_sent(tmp_path: Path) -> None:
    """Paused with nothing to say, the session still sends `next` now and then, so the server keeps it."""

    async def scenario() -> FakeServer:
        server = FakeServer(_catalog(tmp_path, 2, seconds=5.0))
        session = ListenSession(
            server, WavFileOutput(tmp_path / "out.wav"), None, ListenState(),
            ListenOptions(max_seconds=1.5, keepalive_s=0.4),
        )  # fmt: skip
        await session.handle_server_message(server.queue(["t0", "t1"], "start"))
        session.submit(Command("pause"))
        await session.run()
        return server

    server = asyncio.run(scenario())
    assert [c for c in server.calls if c[0] == "playback"] == [("playback", "started", "t0", 0.0)]
    assert 2 <= len([c for c in server.calls if c[0] == "next"]) <= 4


def test_push_to_talk_streams_only_while_talk_is_on(tmp_path: Path) -> None:
    """Push-to-talk: `talk` opens an audio.start … audio.stop span and only that span's audio is sent."""
    wav = tmp_path / "speech.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(16000 * 3) / 10)).astype(np.float32), 16000)

    async def scenario() -> FakeServer:
        server = FakeServer(_catalog(tmp_path, 1, seconds=5.0))
        session = ListenSession(
            server, WavFileOutput(tmp_path / "out.wav", realtime=False), WavFileInput(wav),
            ListenState(push_to_talk=True, mic_open=False), ListenOptions(push_to_talk=True, max_seconds=2.5),
        )  # fmt: skip

        async def talk() -> None:
            await asyncio.sleep(0.5)
            session.submit(Command("talk"))
            await asyncio.sleep(1.0)
            session.submit(Command("talk"))

        helper = asyncio.create_task(talk())
        await session.run()
        await helper
        return server

    server = asyncio.run(scenario())
    audio_calls = [c[0] for c in server.calls if c[0].startswith("audio")]
    assert audio_calls == ["audio.start", "audio.stop"]
    # Part of the 3 s file (about the second talk was on), never all of it: 16 kHz s16le is 32000 B/s.
    assert 0.3 * 32000 <= server.audio_bytes <= 2.5 * 32000


def test_unplayable_tracks_are_passed_over_then_the_session_gives_up(tmp_path: Path) -> None:
    """A track whose file is missing is reported and passed over; five in a row end the session with a reason."""
    tracks = _catalog(tmp_path, 7, seconds=0.5)
    for track in tracks[:6]:
        track["path"] = str(tmp_path / "elsewhere" / Path(track["path"]).name)

    async def scenario() -> tuple[FakeServer, ListenSession, _Lines]:
        server = FakeServer(tracks)
        lines = _Lines()
        session = ListenSession(
            server, WavFileOutput(tmp_path / "out.wav", realtime=False), None, ListenState(),
            ListenOptions(max_seconds=20), printer=lines,
        )  # fmt: skip
        await session.handle_server_message(server.queue([t["id"] for t in tracks], "start"))
        await asyncio.wait_for(session.run(), 25)
        return server, session, lines

    server, session, lines = asyncio.run(scenario())
    assert [f["id"] for f in lines.events("track_failed")] == ["t0", "t1", "t2", "t3", "t4"]
    assert server.playbacks() == []  # nothing unplayable is reported as played or skipped
    assert session.failure is not None and session.failure.code == "tracks_unreadable"


def test_mixes_are_listed_and_one_is_played_after_the_playing_track(tmp_path: Path) -> None:
    """``x`` lists the mixes, ``1`` plays the first: the playing track plays on (not reported as a
    skip), the mix's tracks follow it, and the screen names the mix; ``0`` goes back to all music."""
    tracks = _catalog(tmp_path, 4, seconds=1.0)

    async def scenario() -> tuple[FakeServer, ListenSession, list[str]]:
        server = FakeServer(tracks)
        state = ListenState()
        session = ListenSession(
            server,
            WavFileOutput(tmp_path / "out.wav"),
            None,
            state,
            ListenOptions(max_tracks=3),
            printer=_Lines(),
        )
        await session.handle_server_message(server.queue(["t0", "t1", "t2", "t3"], "start"))
        titles: list[str] = []

        async def drive() -> None:
            await _wait_for(lambda: session.playback.now().track_id == "t0")
            session.submit(Command("mix", "1"))  # nothing listed yet: a notice, nothing sent
            session.submit(Command("mixes"))
            await _wait_for(lambda: len(state.mixes) == 2)
            session.submit(Command("mix", "1"))
            await _wait_for(lambda: state.mix_title != "")
            titles.append(state.mix_title)
            await _wait_for(lambda: session.playback.now().track_id == "t2")
            session.submit(Command("mix", ""))
            await _wait_for(lambda: state.mix_title == "")

        helper = asyncio.create_task(drive())
        await asyncio.wait_for(session.run(), 30)
        await helper
        return server, session, titles

    server, session, titles = asyncio.run(scenario())
    sent = [c[1] for c in server.calls if c[0] == "send"]
    assert sent == [
        {"type": "mixes.list"},
        {"type": "mix.play", "mix": "late"},
        {"type": "mix.play", "mix": None},
    ]
    assert titles == ["Late ones"]
    assert any("press x" in n for n in session.state.notices) or any(
        "mixes:" in n for n in session.state.notices
    )
    assert [(p[0], p[1]) for p in server.playbacks()][:4] == [
        ("started", "t0"), ("completed", "t0"), ("started", "t2"), ("completed", "t2"),
    ]  # fmt: skip
