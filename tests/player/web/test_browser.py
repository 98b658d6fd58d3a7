"""The web client (player/web) in a real browser against a real server.

Debian's Chromium, driven headless by Playwright, opens the page the server serves; its fake
microphone plays an espeak-ng WAV ("I'm exhausted, something calm please"). The listening scenario:
a queue arrives and the music plays; push-to-talk gives a transcript, a mood and a new queue; a skip
is logged with the position the listener heard; a typed mood changes the label; a reload resumes
the same listener. The keyboard test: Tab reaches every control with a visible focus, Space held
outside the text box talks, K pauses. The mixes test: the page lists the listener's mixes as the
server sends them, picking one plays it at once with every queue drawn from it (checked against the
server's own mix builder, frame by frame), "Back to all music" leaves it, and a mix the server no
longer has is explained and the list fetched again. Any console error or uncaught page error fails a
test.
Screenshots (desktop 1280×800, phone 390×844) go to ``$CADENCE_ARTIFACTS/browser`` (default
``artifacts/browser``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import soundfile
import soxr
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
    WebSocket,
    WebSocketRoute,
    async_playwright,
)

from player.app import Engines
from player.core.records import LogEvent
from tests.support.server import serving, shared_engines, spoken, with_silence

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
SPEECH = "I'm exhausted, something calm please"
WAV_RATE = 48000
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
CONTROLS = (
    "btn-play",
    "btn-skip",
    "btn-like",
    "btn-dislike",
    "ptt",
    "handsfree",
    "text-input",
    "text-send",
    "consent",
    "mixes-summary",
)
"""Every control of the page once a track plays (Reconnect and "Press play" are hidden then)."""
ACTIVITY_MIXES = ("chill", "focus", "workout", "party", "sleep")
"""Mixes the demo library has with no history at all, and which no clock changes."""
PLAYBACK_KINDS = ("started", "skipped", "completed", "liked", "disliked")

T = TypeVar("T")

# No skip when Chromium is missing: scripts/install.sh installs it, and a browser test that quietly
# does not run would hide a broken install. Launching fails with Playwright's own clear message.


def artifacts() -> Path:
    path = Path(os.environ.get("CADENCE_ARTIFACTS", "artifacts")) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def engines(demo_home: Path) -> Engines:
    return shared_engines(demo_home)


@pytest.fixture
def speech_wav(tmp_path: Path) -> tuple[Path, float]:
    """The fake microphone's recording: the sentence, padded with silence, 16-bit 48 kHz; and its length."""
    samples, rate = spoken(SPEECH)
    padded = with_silence(samples, rate, before_s=0.3, after_s=1.0)
    resampled = soxr.resample(padded, rate, WAV_RATE).astype(np.float32)
    path = tmp_path / "speech.wav"
    soundfile.write(str(path), resampled, WAV_RATE, subtype="PCM_16")
    return path, len(resampled) / WAV_RATE


def chromium_args(wav: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
    ]


class Problems:
    """Console errors and uncaught exceptions of every page it watches."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def watch(self, page: Page, name: str) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                self.items.append(f"{name} console: {message.text} @ {message.location}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.items.append(f"{name} page error: {error}"))

    def check(self) -> None:
        assert not self.items, "\n".join(self.items)


@asynccontextmanager
async def browser(wav: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(wav)
        )
        try:
            yield launched
        finally:
            await launched.close()


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.1)


def log_rows(log_db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    """Rows of the server's interaction log (read-only; the server writes it meanwhile, WAL)."""
    if not log_db.exists():
        return []
    db = sqlite3.connect(f"file:{log_db}?mode=ro", uri=True, timeout=5)
    db.row_factory = sqlite3.Row
    try:
        return list(db.execute(sql, args))
    finally:
        db.close()


async def text_of(page: Page, selector: str) -> str:
    return (await page.text_content(selector)) or ""


async def queues_seen(page: Page) -> int:
    return int(await page.get_attribute("#upnext", "data-queues") or 0)


async def playing_id(page: Page) -> str:
    return await page.get_attribute(".nowplaying", "data-track-id") or ""


async def current_time(page: Page) -> float:
    return float(await page.evaluate("() => document.querySelector('audio[data-current]').currentTime"))


async def open_player(page: Page, url: str) -> None:
    """Open the page; wait for the session, a queue, and music whose clock advances."""
    await page.goto(url)
    await page.wait_for_selector("#upnext li", timeout=30_000)
    await eventually(lambda: _connected(page), "the page to say it is connected")
    assert await text_of(page, "#session-time") != "—"
    await eventually(lambda: playing_id(page), "a track to start playing")
    first = await current_time(page)
    await eventually(
        lambda: _advanced(page, first + 0.5), "the <audio> element's currentTime to advance", timeout=15
    )


async def _connected(page: Page) -> bool:
    return await text_of(page, "#conn-text") == "Connected"


async def _advanced(page: Page, beyond: float) -> bool:
    return await current_time(page) > beyond


def http_url(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://", 1).rstrip("/") + "/"


def test_a_listening_session_in_the_browser(
    engines: Engines, tmp_path: Path, speech_wav: tuple[Path, float]
) -> None:
    """Queue and playback, push-to-talk, a skip at its real position, a typed mood, a reload that resumes."""
    wav, wav_s = speech_wav
    problems = Problems()
    shots = artifacts()

    async def scenario() -> None:
        async with serving(engines, tmp_path / "home") as (url, settings), browser(wav) as chromium:
            log_db = settings.log_db
            context = await chromium.new_context(viewport=DESKTOP)
            page = await context.new_page()
            problems.watch(page, "desktop")
            await open_player(page, http_url(url))
            listener = await text_of(page, "#listener-id")
            assert listener.startswith("web-")
            assert await page.evaluate("() => localStorage.getItem('cadence.listener_id')") == listener

            # Push-to-talk: hold the button for the recording and a margin, then release.
            queues = await queues_seen(page)
            box = await page.locator("#ptt").bounding_box()
            assert box is not None
            await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            await page.mouse.down()
            await page.wait_for_selector("#mic-indicator", state="visible", timeout=10_000)
            await asyncio.sleep(wav_s + 1.0)
            await page.mouse.up()
            await page.wait_for_selector("#mic-indicator", state="hidden", timeout=10_000)
            # Whisper tiny.en hears "calm" as "come" or "can't" in this voice; "exhausted" it gets.
            await eventually(lambda: _heard(page, "exhaust"), "a transcript with 'exhausted'", timeout=60)
            label = await text_of(page, "#mood-label")
            assert label not in ("", "—")
            await eventually(lambda: _more_queues(page, queues), "a queue for the spoken mood")

            # Skip: logged for the playing track, at a position > 0 and within the time it played.
            track = await playing_id(page)
            queues = await queues_seen(page)
            await page.click("#btn-skip")
            skip = await eventually(
                lambda: _logged(log_db, "skipped", track), "the skip in log.db", timeout=10
            )
            started = log_rows(
                log_db,
                "SELECT at_s FROM events WHERE kind = 'started' AND track_id = ? AND at_s <= ? "
                "ORDER BY at_s DESC LIMIT 1",
                track,
                skip["at_s"],
            )
            assert started, f"no started event for {track}"
            played_s = skip["at_s"] - started[0]["at_s"]
            assert 0 < skip["position_s"] <= played_s + 0.25, (skip["position_s"], played_s)
            await eventually(lambda: _more_queues(page, queues), "a queue after the skip")
            assert await playing_id(page) != track

            # A typed mood changes the label.
            await page.fill("#text-input", "I feel great, let's party")
            await page.press("#text-input", "Enter")
            await eventually(lambda: _heard(page, "party"), "the typed mood")
            await eventually(lambda: _label_is_not(page, label), f"a label other than {label!r}")
            await asyncio.sleep(0.5)  # the bars' transitions
            await page.screenshot(path=str(shots / "desktop.png"))
            await page.screenshot(path=str(shots / "desktop-full.png"), full_page=True)

            # Reload: a new session for the same listener.
            await page.reload()
            await page.wait_for_selector("#upnext li", timeout=30_000)
            assert await text_of(page, "#listener-id") == listener
            sessions = await eventually(
                lambda: _sessions(log_db, 2), "a second session in log.db after the reload", timeout=10
            )
            assert {row["listener_id"] for row in sessions} == {listener}

            # The phone layout, in the dark scheme phones often use.
            phone = await chromium.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, color_scheme="dark"
            )
            small = await phone.new_page()
            problems.watch(small, "phone")
            await open_player(small, http_url(url))
            await small.fill("#text-input", "ugh, stressed and tired, something calm")
            await small.press("#text-input", "Enter")
            await eventually(lambda: _heard(small, "stressed"), "the phone's typed mood")
            await asyncio.sleep(0.5)
            await small.screenshot(path=str(shots / "phone.png"))
            await small.screenshot(path=str(shots / "phone-full.png"), full_page=True)
            width = await small.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
            await phone.close()
            await context.close()

    asyncio.run(asyncio.wait_for(scenario(), timeout=300))
    problems.check()


async def _heard(page: Page, word: str) -> str | None:
    transcript = await text_of(page, "#transcript")
    return transcript if word in transcript.lower() else None


async def _more_queues(page: Page, than: int) -> bool:
    return await queues_seen(page) > than


async def _label_is_not(page: Page, label: str) -> bool:
    return await text_of(page, "#mood-label") not in ("", "—", label)


async def _logged(log_db: Path, kind: str, track: str) -> sqlite3.Row | None:
    rows = log_rows(
        log_db,
        "SELECT at_s, position_s FROM events WHERE kind = ? AND track_id = ? ORDER BY at_s DESC LIMIT 1",
        kind,
        track,
    )
    return rows[0] if rows else None


async def _sessions(log_db: Path, at_least: int) -> list[sqlite3.Row] | None:
    rows = log_rows(log_db, "SELECT session_id, listener_id FROM sessions")
    return rows if len(rows) >= at_least else None


def test_the_page_works_from_the_keyboard(
    engines: Engines, tmp_path: Path, speech_wav: tuple[Path, float]
) -> None:
    """Tab reaches every control with a visible focus; Space held outside the text box talks; K pauses."""
    wav, _ = speech_wav
    problems = Problems()

    async def scenario() -> None:
        async with serving(engines, tmp_path / "home") as (url, _), browser(wav) as chromium:
            context = await chromium.new_context(viewport=DESKTOP)
            page = await context.new_page()
            problems.watch(page, "keyboard")
            await open_player(page, http_url(url))

            reached: dict[str, str] = {}
            for _ in range(40):
                await page.keyboard.press("Tab")
                focused = await page.evaluate(
                    "() => { const e = document.activeElement;"
                    " return [e.id, getComputedStyle(e).outlineStyle]; }"
                )
                reached.setdefault(focused[0], focused[1])
            missing = [c for c in CONTROLS if c not in reached]
            assert not missing, f"Tab never reached {missing} (reached {sorted(reached)})"
            invisible = [c for c in CONTROLS if reached[c] == "none"]
            assert not invisible, f"no visible focus on {invisible}"

            # Space in the text box types a space; it does not talk.
            await page.focus("#text-input")
            await page.keyboard.press("Space")
            assert await page.input_value("#text-input") == " "
            assert await page.is_hidden("#mic-indicator")

            # Space held with the focus on a button (not a text input) is push-to-talk.
            await page.focus("#btn-like")
            await page.keyboard.down("Space")
            await page.wait_for_selector("#mic-indicator", state="visible", timeout=10_000)
            assert await page.get_attribute("#ptt", "aria-pressed") == "true"
            await asyncio.sleep(1.0)
            await page.keyboard.up("Space")
            await page.wait_for_selector("#mic-indicator", state="hidden", timeout=10_000)
            assert await page.get_attribute("#ptt", "aria-pressed") == "false"

            # K pauses and plays again.
            await page.focus("#btn-skip")
            await page.keyboard.press("k")
            await eventually(lambda: _paused(page, True), "K to pause")
            assert await page.get_attribute("#btn-play", "aria-label") == "Play"
            await page.keyboard.press("k")
            await eventually(lambda: _paused(page, False), "K to play again")
            await context.close()

    asyncio.run(asyncio.wait_for(scenario(), timeout=240))
    problems.check()


async def _paused(page: Page, paused: bool) -> bool:
    state = await page.evaluate("() => document.querySelector('audio[data-current]').paused")
    return bool(state) == paused


class Frames:
    """The JSON messages of a page's websockets, both ways, in order (``page.on("websocket")``)."""

    def __init__(self, page: Page) -> None:
        self.received: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: self._add(self.received, payload))
        ws.on("framesent", lambda payload: self._add(self.sent, payload))

    @staticmethod
    def _add(into: list[dict[str, Any]], payload: str | bytes) -> None:
        if isinstance(payload, str):
            into.append(json.loads(payload))

    def of(self, kind: str, *, sent: bool = False) -> list[dict[str, Any]]:
        return [m for m in (self.sent if sent else self.received) if m.get("type") == kind]


def server_mix(engines: Engines, log_db: Path, listener: str, mix_id: str) -> tuple[str, ...]:
    """The track ids of the listener's mix as the server's builder makes it from the log now."""
    rows = log_rows(
        log_db,
        "SELECT kind, listener_id, session_id, at_s, track_id, position_s FROM events "
        f"WHERE listener_id = ? AND kind IN ({', '.join('?' * len(PLAYBACK_KINDS))}) ORDER BY at_s",
        listener,
        *PLAYBACK_KINDS,
    )
    events = [LogEvent(**dict(row)) for row in rows]
    source = engines.deps.mixes
    assert source is not None, "the server builds no mixes"
    mixes = source.build(events, listener_local=datetime.now().astimezone(), now_s=time.time())
    mix = next((m for m in mixes if m.id == mix_id), None)
    assert mix is not None, f"the server's builder has no mix {mix_id!r} (has {[m.id for m in mixes]})"
    return mix.track_ids


async def mix_ids_shown(page: Page) -> list[str]:
    return list(
        await page.eval_on_selector_all("#mixes-list button.mix", "bs => bs.map(b => b.dataset.mixId)")
    )


async def upnext_ids(page: Page) -> list[str]:
    return list(await page.eval_on_selector_all("#upnext li", "lis => lis.map(li => li.dataset.trackId)"))


async def _new_queue(frames: Frames, after: int) -> dict[str, Any] | None:
    queues = frames.of("queue")
    return queues[after] if len(queues) > after else None


def check_from_mix(queue: dict[str, Any], mix: dict[str, Any], tracks: tuple[str, ...]) -> None:
    """A queue carries the mix and holds only its tracks."""
    assert queue.get("mix") == {"id": mix["id"], "title": mix["title"]}, queue.get("mix")
    ids = [t["id"] for t in queue["tracks"]]
    assert ids, "an empty queue from the mix"
    strays = [i for i in ids if i not in tracks]
    assert not strays, f"queue tracks not in the mix {mix['id']!r}: {strays}"


def test_mixes_in_the_browser(engines: Engines, tmp_path: Path, speech_wav: tuple[Path, float]) -> None:
    """The Mixes section shows the server's list; a picked mix plays at once and every queue comes
    from it (a typed mood still steers within it); "Back to all music" leaves it; on a phone a mix
    the server no longer has gets a friendly message and a fresh list."""
    wav, _ = speech_wav
    problems = Problems()
    shots = artifacts()

    async def scenario() -> None:
        async with serving(engines, tmp_path / "home") as (url, settings), browser(wav) as chromium:
            context = await chromium.new_context(viewport=DESKTOP)
            page = await context.new_page()
            problems.watch(page, "mixes")
            frames = Frames(page)
            await open_player(page, http_url(url))
            listener = await text_of(page, "#listener-id")

            # The list, as the server sent it: asked for once the session started, shown in order.
            await page.wait_for_selector("#mixes-list button.mix", timeout=15_000)
            assert frames.of("mixes.list", sent=True), "the page never sent mixes.list"
            listed = frames.of("mixes")[-1]["mixes"]
            assert await mix_ids_shown(page) == [m["id"] for m in listed]
            kinds = {m["kind"] for m in listed}
            assert "daylist" in kinds and "discover" in kinds, kinds
            mix = next((m for mix_id in ACTIVITY_MIXES for m in listed if m["id"] == mix_id), None)
            assert mix is not None, f"no activity mix in {listed}"
            button = page.locator(f'#mixes-list button[data-mix-id="{mix["id"]}"]')
            assert mix["title"] in await button.inner_text()
            assert f"{mix['count']} tracks" in await button.inner_text()
            assert await page.is_hidden("#upnext-mix")
            # From the keyboard: Tab goes from the section's heading to its first mix, visibly.
            await page.focus("#mixes-summary")
            await page.keyboard.press("Tab")
            focused = await page.evaluate(
                "() => { const e = document.activeElement;"
                " return [e.dataset.mixId || '', getComputedStyle(e).outlineStyle]; }"
            )
            assert focused == [listed[0]["id"], "solid"], focused

            # Pick it: a queue from the mix, whose first track plays at once.
            queues = len(frames.of("queue"))
            was_playing = await playing_id(page)
            await button.click()
            queue = await eventually(lambda: _new_queue(frames, queues), "the mix's queue")
            assert queue["trigger"] == "mix"
            tracks = server_mix(engines, settings.log_db, listener, mix["id"])
            assert len(tracks) == mix["count"]
            check_from_mix(queue, mix, tracks)
            first = queue["tracks"][0]["id"]
            await eventually(lambda: _playing_is(page, first), "the mix's first track to play", timeout=5)
            before = await current_time(page)
            await eventually(lambda: _advanced(page, before + 0.3), "the mix's first track to sound")
            assert await text_of(page, "#upnext-mix-title") == mix["title"]
            assert (await text_of(page, "#upnext-mix")).strip().startswith(f"From: {mix['title']}")
            shown = await upnext_ids(page)
            assert shown == [t["id"] for t in queue["tracks"][1:] if t["id"] != was_playing], shown
            assert await button.get_attribute("aria-current") == "true"
            # Interrupting the track for a mix is no verdict on it: nothing reported as skipped.
            assert not [m for m in frames.of("playback", sent=True) if m["event"] == "skipped"]

            # A typed mood still steers, within the mix.
            queues = len(frames.of("queue"))
            await page.fill("#text-input", "so tired, something calm and quiet")
            await page.press("#text-input", "Enter")
            queue = await eventually(lambda: _new_queue(frames, queues), "a queue for the typed mood")
            assert queue["trigger"] in ("mood", "intent")
            check_from_mix(queue, mix, tracks)
            assert await text_of(page, "#upnext-mix-title") == mix["title"]
            assert await playing_id(page) == first, "a mood queue must not interrupt the playing track"
            await asyncio.sleep(0.3)
            await page.evaluate("() => window.scrollTo(0, 0)")  # the sticky top bar stays on top
            await page.screenshot(path=str(shots / "mixes-desktop.png"), full_page=True)

            # Back to all music, from the keyboard: the next queue has no mix; the header clears.
            queues = len(frames.of("queue"))
            await page.focus("#mix-leave")
            await page.keyboard.press("Enter")
            queue = await eventually(lambda: _new_queue(frames, queues), "the queue of all music")
            assert queue["trigger"] == "mix" and "mix" not in queue
            assert frames.of("mix.play", sent=True)[-1]["mix"] is None
            await page.wait_for_selector("#upnext-mix", state="hidden", timeout=5_000)
            assert await page.get_attribute("#upnext", "data-mix") == ""
            assert await button.get_attribute("aria-current") is None
            assert await playing_id(page) == first, "leaving a mix must not cut off the playing track"

            # Opening the section again fetches the list again.
            asked = len(frames.of("mixes"))
            await page.click("#mixes-summary")
            assert await page.get_attribute("#mixes-details", "open") is None
            await page.focus("#mixes-summary")
            await page.keyboard.press("Enter")
            assert await page.get_attribute("#mixes-details", "open") is not None
            await eventually(lambda: _more_than(frames, "mixes", asked), "the list fetched again")
            await context.close()

            # The phone layout; the server's list gains a mix it does not have (as if it had gone).
            phone = await chromium.new_context(
                viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, color_scheme="dark"
            )
            small = await phone.new_page()
            problems.watch(small, "mixes phone")
            gone = {"id": "daily-6", "kind": "daily", "title": "A mix that is gone", "description": "",
                    "count": 30, "refresh": "daily"}  # fmt: skip
            routed = Routed(gone)
            await small.route_web_socket(re.compile(r"^wss?://"), routed.route)
            await open_player(small, http_url(url))
            await small.wait_for_selector(f'#mixes-list button[data-mix-id="{gone["id"]}"]', timeout=15_000)
            await small.locator("#mixes-list").scroll_into_view_if_needed()
            await asyncio.sleep(0.3)
            await small.screenshot(path=str(shots / "mixes-phone.png"))
            width = await small.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width} px)"
            lists = routed.lists
            await small.tap(f'#mixes-list button[data-mix-id="{gone["id"]}"]')
            await eventually(lambda: _status_says(small, "not there any more"), "the unknown_mix message")
            assert routed.errors == ["unknown_mix"]
            await eventually(lambda: _routed_lists(routed, lists), "the list fetched again after unknown_mix")
            await small.wait_for_selector(
                f'#mixes-list button[data-mix-id="{gone["id"]}"]', state="detached", timeout=5_000
            )
            assert await small.is_hidden("#upnext-mix")
            # A real one plays, from a tap.
            queues = routed.queues
            real = (await mix_ids_shown(small))[0]
            await small.tap(f'#mixes-list button[data-mix-id="{real}"]')
            await eventually(lambda: _routed_queues(routed, queues), "the phone's mix queue")
            await small.wait_for_selector("#upnext-mix", state="visible", timeout=5_000)
            assert await small.get_attribute("#upnext", "data-mix") == real

            # A new session (the transcripts choice changed) goes back into the mix by itself,
            # without cutting off the playing track.
            playing = await eventually(lambda: playing_id(small), "the phone's mix track to play")
            queues = routed.queues
            await small.tap("#consent")
            await eventually(
                lambda: _routed_queues(routed, queues + 1), "the new session's queue and the mix's"
            )
            await small.wait_for_selector("#upnext-mix", state="visible", timeout=5_000)
            assert await small.get_attribute("#upnext", "data-mix") == real
            assert await playing_id(small) == playing, "going back into the mix must not cut off the track"
            await phone.close()

    asyncio.run(asyncio.wait_for(scenario(), timeout=300))
    problems.check()


class Routed:
    """A page's websocket through Playwright to the real server; every ``mixes`` list gains ``extra``
    until the server has answered ``unknown_mix`` for it."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.extra = extra
        self.lists = 0
        self.queues = 0
        self.errors: list[str] = []

    async def route(self, ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if isinstance(message, str):
                data = json.loads(message)
                kind = data.get("type")
                if kind == "error":
                    self.errors.append(data["code"])
                elif kind == "queue":
                    self.queues += 1
                elif kind == "mixes":
                    self.lists += 1
                    if "unknown_mix" not in self.errors:
                        data["mixes"].append(self.extra)
                        message = json.dumps(data)
            ws.send(message)

        server.on_message(from_server)


async def _playing_is(page: Page, track: str) -> bool:
    return await playing_id(page) == track


async def _more_than(frames: Frames, kind: str, count: int) -> bool:
    return len(frames.of(kind)) > count


async def _status_says(page: Page, words: str) -> bool:
    return words in await text_of(page, "#status")


async def _routed_lists(routed: Routed, count: int) -> bool:
    return routed.lists > count


async def _routed_queues(routed: Routed, count: int) -> bool:
    return routed.queues > count
