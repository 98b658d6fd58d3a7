"""`cadence listen` end to end: the real server in-process, real Whisper, the demo catalog, espeak-ng speech.

Two runs of the real command in a subprocess: headless with ``--input-wav``/``--output-wav``, and
through sounddevice with a virtual ALSA sound card (``file`` and ``null`` plugins).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
from scipy import signal

from player.library.store import LibraryStore
from player.server.log import InteractionLog

REPO = Path(__file__).resolve().parents[3]
SPEECH = "I'm so tired, something calm please"
OUT_RATE = 44100

pytestmark = pytest.mark.slow


# -------------------------------------------------------------------------------------------- helpers


def _speech_wav(directory: Path, *, lead_s: float = 2.0, tail_s: float = 1.0) -> Path:
    """espeak-ng speaking SPEECH, with silence before and after, as a 16 kHz mono WAV."""
    raw = directory / "espeak.wav"
    subprocess.run(["espeak-ng", "-w", str(raw), SPEECH], check=True)
    voice, rate = sf.read(raw, dtype="float32")
    voice = soxr.resample(voice, rate, 16000)
    samples = np.concatenate([np.zeros(int(lead_s * 16000)), voice, np.zeros(int(tail_s * 16000))])
    path = directory / "speech.wav"
    sf.write(path, samples.astype(np.float32), 16000, subtype="PCM_16")
    return path


def _tz_for_local_hour(hour: int) -> str:
    """A POSIX TZ under which it is now ``hour`` o'clock local time (the ranker's context includes the
    listener's local time, so a fixed hour keeps the first queue comparable from run to run)."""
    utc_hour = datetime.now(UTC).hour
    offset_h = (hour - utc_hour + 12) % 24 - 12
    return f"CAD{-offset_h:+d}"  # POSIX signs are inverted: CAD-3 is UTC+3


_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def _parse(line: str) -> tuple[str, dict[str, Any]]:
    event, _, rest = line.strip().partition(" ")
    fields: dict[str, Any] = {}
    for key, value in _FIELD.findall(rest):
        fields[key] = json.loads(value) if value.startswith('"') else value
    return event, fields


class _Listen:
    """`python -m player listen …` in a subprocess, its event lines collected as they come."""

    def __init__(self, args: list[str], stderr_path: Path, *, env: dict[str, str] | None = None) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "player", "listen", *args],
            cwd=REPO,
            env=dict(os.environ, **(env or {})),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.append(_parse(line))

    def _ended(self) -> bool:
        return self.proc.poll() is not None and not self._reader.is_alive()

    def wait_event(self, kind: str, timeout_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self._ended():
            for event, fields in self.events:
                if event == kind:
                    return fields
            time.sleep(0.05)
        raise AssertionError(f"no {kind!r} event: {self.events}\nstderr:\n{self.stderr()}")

    def wait_count(self, kind: str, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.of(kind)) < count:
            if time.monotonic() > deadline or self._ended():
                raise AssertionError(
                    f"fewer than {count} {kind!r} events: {self.events}\nstderr:\n{self.stderr()}"
                )
            time.sleep(0.05)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout_s: float) -> tuple[int, str]:
        """Close stdin, wait for the exit; (exit status, stderr)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"`cadence listen` did not stop; stderr:\n{self.stderr()}") from None
        finally:
            self._stderr.close()
        self._reader.join(5)
        return self.proc.returncode, self.stderr()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [fields for event, fields in self.events if event == kind]


def _find(haystack: np.ndarray, needle: np.ndarray, *, threshold: float = 0.98) -> tuple[int, float]:
    """Where ``needle`` first occurs in ``haystack`` and how well: (offset, normalised cross-correlation).

    The first offset whose correlation passes ``threshold`` (the demo's synthesized music repeats its
    bars, so later repeats match as well), else the best one.
    """
    corr = signal.correlate(haystack, needle, mode="valid", method="fft")
    cumulative = np.concatenate([[0.0], np.cumsum(haystack.astype(np.float64) ** 2)])
    energy = cumulative[len(needle) :] - cumulative[: -len(needle)]  # sliding sum of squares
    ncc = corr / (np.sqrt(np.maximum(energy, 1e-12)) * np.linalg.norm(needle))
    passing = np.flatnonzero(ncc > threshold)
    first = int(passing[0]) if len(passing) else int(np.argmax(ncc))
    # The peak sits within a few samples of the first passing offset.
    peak = first + int(np.argmax(ncc[first : first + 64]))
    return peak, float(ncc[peak])


def _source(track_path: str, start_s: float, length_s: float) -> np.ndarray:
    """A stretch of a track decoded independently (soundfile + one-shot soxr), mono at OUT_RATE."""
    samples, rate = sf.read(track_path, dtype="float32", always_2d=True)
    mono = soxr.resample(samples[:, 0], rate, OUT_RATE, quality="HQ")
    return mono[int(start_s * OUT_RATE) : int((start_s + length_s) * OUT_RATE)]


def _check_queue_order(listen: _Listen) -> None:
    """Every track started is the first not-yet-started track of the newest queue before it."""
    latest: list[str] = []
    started: list[str] = []
    for event, fields in listen.events:
        if event == "queue":
            latest = [i for i in fields["ids"].split(",") if i and i != "-"]
        elif event == "started":
            expected = next(i for i in latest if i not in started)
            assert fields["id"] == expected
            started.append(fields["id"])


@pytest.fixture()
def listen_home(demo_home: Path, tmp_path: Path) -> Path:
    """A private copy of the scanned demo home (each run writes its own interaction log)."""
    home = tmp_path / "home"
    shutil.copytree(demo_home, home)
    return home


# ---------------------------------------------------------------------------------------------- tests


def test_headless_listen_speech_changes_queue_and_events_reach_the_log(
    listen_home: Path, tmp_path: Path
) -> None:
    """Headless (--input-wav, --output-wav): espeak-ng speech lowers the queue's energy and decides what plays
    next, the output is the tracks' own audio, and started/skipped/completed reach the log with positions."""
    speech = _speech_wav(tmp_path)
    played = tmp_path / "played.wav"
    listen = _Listen(
        ["--home", str(listen_home), "--input-wav", str(speech), "--output-wav", str(played),
         "--listener-id", "e2e-listener", "--max-tracks", "3", "--max-seconds", "150"],
        tmp_path / "listen.err",
        env={"TZ": _tz_for_local_hour(10)},
    )  # fmt: skip
    first = listen.wait_event("started", timeout_s=240)
    time.sleep(2.5)
    listen.send("skip")
    # The second track plays to its end (demo tracks are 30-60 s); quit 2 s into the third.
    listen.wait_count("started", 3, timeout_s=120)
    time.sleep(2.0)
    listen.send("quit")
    code, stderr = listen.finish(timeout_s=60)
    assert code == 0, stderr
    assert "Traceback" not in stderr

    # The speech was heard and read as tired / calmer, and its queue is calmer than the first one.
    moods = listen.of("mood")
    assert moods, stderr
    assert "tired" in moods[0]["transcript"].lower()
    assert moods[0]["source"] == "voice"
    queues = listen.of("queue")
    start_energy = float(queues[0]["mean_energy"])
    after_mood = [q for q in queues if q["trigger"] in ("mood", "intent")]
    assert after_mood, queues
    summary = [(q["trigger"], q["mean_energy"], q["target_energy"]) for q in queues]
    assert float(after_mood[-1]["target_energy"]) < float(queues[0]["target_energy"]) - 0.05, summary
    assert float(after_mood[-1]["mean_energy"]) < start_energy, summary
    _check_queue_order(listen)

    # The interaction log holds what the player reported, with positions.
    with InteractionLog(listen_home / "log.db") as log:
        events = [e for e in log.events("e2e-listener") if e.kind in ("started", "skipped", "completed")]
    kinds = [(e.kind, e.track_id) for e in events]
    started_ids = [f["id"] for f in listen.of("started")]
    assert kinds[:2] == [("started", first["id"]), ("skipped", first["id"])]
    skipped = events[1]
    assert skipped.position_s is not None and 2.0 <= skipped.position_s <= 8.0
    assert kinds[2:4] == [("started", started_ids[1]), ("completed", started_ids[1])]
    with LibraryStore(listen_home / "library.db") as store:
        tracks = store.get_many(started_ids)
    completed = events[3]
    assert completed.position_s is not None
    assert completed.position_s == pytest.approx(tracks[started_ids[1]].duration_s, abs=0.1)
    assert len(started_ids) == 3 and kinds[4] == ("started", started_ids[2])
    # The third track came after the speech, from the queue the mood brought.
    assert started_ids[2] in after_mood[-1]["ids"].split(",")

    # What was written is the tracks' own audio, in the order they played.
    out, rate = sf.read(played, dtype="float32", always_2d=True)
    assert rate == OUT_RATE
    offsets = []
    for track_id in started_ids:
        needle = _source(tracks[track_id].path, 0.5, 1.0)
        offset, ncc = _find(out[:, 0], needle)
        assert ncc > 0.98, (track_id, ncc)
        offsets.append(offset)
    assert offsets == sorted(offsets)
    # Track 1 ends a fade (and at most the output's latency) after where it was skipped; track 2 plays whole.
    track1_written_s = (offsets[1] - offsets[0]) / OUT_RATE
    assert skipped.position_s + 0.05 <= track1_written_s + 0.02 <= skipped.position_s + 0.05 + 0.2
    assert offsets[2] - offsets[1] == pytest.approx(completed.position_s * OUT_RATE, abs=0.02 * OUT_RATE)


def _asoundrc(directory: Path, mic_raw: Path, speaker_raw: Path) -> Path:
    conf = directory / "asoundrc"
    conf.write_text(
        f"""
pcm.cadence_mic {{
    type plug
    slave {{
        pcm {{ type file slave.pcm "null" file "/dev/null" infile "{mic_raw}" format "raw" }}
        format S16_LE
        rate 16000
        channels 1
    }}
    hint {{ show on description "Cadence test microphone" }}
}}
pcm.cadence_speaker {{
    type plug
    slave {{
        pcm {{ type file slave.pcm "null" file "{speaker_raw}" format "raw" }}
        format S16_LE
        rate 44100
        channels 2
    }}
    hint {{ show on description "Cadence test speaker" }}
}}
"""
    )
    return conf


def test_listen_through_sounddevice_on_a_virtual_alsa_card(listen_home: Path, tmp_path: Path) -> None:
    """Through sounddevice and ALSA's file/null plugins: the virtual microphone's espeak-ng speech is heard and
    transcribed, and the first track's audio lands in the virtual speaker's file."""
    speech, _ = sf.read(_speech_wav(tmp_path), dtype="float32")
    mic_raw = tmp_path / "speech.raw"
    mic_raw.write_bytes((np.clip(speech, -1, 1) * 32767).astype("<i2").tobytes())
    speaker_raw = tmp_path / "played.raw"
    conf = _asoundrc(tmp_path, mic_raw, speaker_raw)
    listen = _Listen(
        ["--home", str(listen_home), "--input-device", "cadence_mic", "--output-device", "cadence_speaker",
         "--listener-id", "alsa-listener", "--max-seconds", "20"],
        tmp_path / "listen.err",
        env={"ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}"},
    )  # fmt: skip
    code, stderr = listen.finish(timeout_s=400)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    session = listen.of("session")[0]
    assert "cadence_mic" in session["microphone"] and "cadence_speaker" in session["output"]

    moods = listen.of("mood")
    assert moods and "tired" in moods[0]["transcript"].lower(), (listen.events, stderr)
    assert listen.of("vad")

    first = listen.of("started")[0]
    with LibraryStore(listen_home / "library.db") as store:
        track = store.track(first["id"])
    assert track is not None
    pcm = np.frombuffer(speaker_raw.read_bytes(), dtype="<i2").reshape(-1, 2).astype(np.float32) / 32768.0
    assert len(pcm) > 5 * OUT_RATE
    offset, ncc = _find(pcm[:, 0], _source(track.path, 0.5, 1.0))
    assert ncc > 0.98
    # Playback began at the file's start (after the 10 ms probe of silence written when the device opened).
    assert offset == pytest.approx(0.5 * OUT_RATE + OUT_RATE // 100, abs=0.05 * OUT_RATE)

    with InteractionLog(listen_home / "log.db") as log:
        kinds = [e.kind for e in log.events("alsa-listener")]
    assert "started" in kinds and "mood" in kinds


def test_listen_plays_a_remote_servers_tracks_over_http(listen_home: Path, tmp_path: Path) -> None:
    """`cadence listen --url` against a server on the network address (so it sends no paths), with its
    own empty --home: the tracks are fetched through their audio_url, played, and reported."""
    from player.server.launch import launch_server_process
    from tests.support.http import lan_address

    address = lan_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    token = "remote-listen-token"
    own_home = tmp_path / "listener-home"
    own_home.mkdir()
    played = tmp_path / "played.wav"
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(16000 * 30, np.float32), 16000)
    with launch_server_process(listen_home, ["--host", address, "--token", token]) as server:
        assert address in server.url
        listen = _Listen(
            ["--url", server.url, "--token", token, "--home", str(own_home), "--input-wav", str(silence),
             "--output-wav", str(played), "--listener-id", "remote-listener", "--max-tracks", "2",
             "--max-seconds", "120"],
            tmp_path / "listen.err",
        )  # fmt: skip
        first = listen.wait_event("started", timeout_s=120)
        time.sleep(3.0)
        listen.send("skip")
        listen.wait_count("started", 2, timeout_s=60)
        time.sleep(2.0)
        listen.send("quit")
        code, stderr = listen.finish(timeout_s=60)
    assert code == 0, stderr
    assert not listen.of("track_failed"), listen.events
    assert not (own_home / "library.db").exists(), "the listener has no library of its own"

    started_ids = [f["id"] for f in listen.of("started")]
    assert started_ids[0] == first["id"]
    with LibraryStore(listen_home / "library.db") as store:
        tracks = store.get_many(started_ids)
    out, _ = sf.read(played, dtype="float32", always_2d=True)
    for track_id in started_ids:
        _, ncc = _find(out[:, 0], _source(tracks[track_id].path, 0.5, 1.0))
        assert ncc > 0.98, (track_id, ncc)
    with InteractionLog(listen_home / "log.db") as log:
        kinds = [
            (e.kind, e.track_id) for e in log.events("remote-listener") if e.kind in ("started", "skipped")
        ]
    assert kinds[:3] == [
        ("started", started_ids[0]),
        ("skipped", started_ids[0]),
        ("started", started_ids[1]),
    ]
