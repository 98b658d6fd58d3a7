"""The deck, the pure core of playback: fades, skip positions, pause (unit tier, no I/O)."""

from __future__ import annotations

import numpy as np
import pytest

from player.desktop.deck import ArraySource, Deck, DeckEvent


def _tone(freq_hz: float, seconds: float, rate: int, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)
    return np.repeat(mono[:, None], channels, axis=1)


def _drain(deck: Deck) -> tuple[np.ndarray, list[DeckEvent]]:
    blocks, events = [], []
    while deck.loaded:
        block, evs = deck.next_block()
        if block is not None:
            blocks.append(block)
        events.extend(evs)
    return (np.concatenate(blocks) if blocks else np.zeros((0, deck.channels))), events


def test_deck_plays_track_with_fades_and_reports_completion() -> None:
    """A whole track comes out sample-exact between short fade-in and fade-out ramps, then `completed` at its length."""
    rate = 8000
    source = np.full((rate, 2), 0.5, dtype=np.float32)  # 1 s of DC: the gain curve is visible directly
    deck = Deck(rate, 2, block_frames=256, fade_s=0.05)
    started = deck.load("a", ArraySource(source, rate))
    assert started == DeckEvent("started", "a", 0.0)
    out, events = _drain(deck)
    assert events == [DeckEvent("completed", "a", 1.0)]
    assert out.shape == source.shape
    fade = deck.fade_frames
    assert fade == 400
    assert out[0, 0] == pytest.approx(0.5 / fade)  # starts near silence
    assert np.all(np.diff(out[:fade, 0]) > 0)  # rises
    np.testing.assert_array_equal(out[fade : rate - fade], source[fade : rate - fade])
    assert np.all(np.diff(out[rate - fade :, 0]) < 0)  # falls
    assert out[-1, 0] == pytest.approx(0.5 / fade)


def test_deck_skip_reports_position_and_fades_out() -> None:
    """A skip is reported at the position it was asked, and the track fades to silence within fade_s."""
    rate = 8000
    deck = Deck(rate, 1, block_frames=200, fade_s=0.05)
    deck.load("a", ArraySource(np.full((rate * 3, 1), 0.5, np.float32), rate))
    played = []
    for _ in range(10):  # 2000 frames = 0.25 s
        block, events = deck.next_block()
        assert events == [] and block is not None
        played.append(block)
    assert deck.position_s == pytest.approx(0.25)
    assert deck.skip() is True
    assert deck.skip() is False  # already skipping
    tail, events = _drain(deck)
    assert events == [DeckEvent("skipped", "a", 0.25)]
    assert len(tail) == deck.fade_frames
    assert tail[0, 0] < 0.5 and tail[-1, 0] == pytest.approx(0.0, abs=1e-6)
    assert np.all(np.diff(tail[:, 0]) < 0)
    assert not deck.loaded


def test_deck_skip_is_reported_where_the_listener_heard_it() -> None:
    """Frames still in the output when the skip is asked are not counted: the position is what was heard."""
    rate = 8000
    deck = Deck(rate, 1, block_frames=800, fade_s=0.01)
    deck.load("a", ArraySource(np.full((rate * 2, 1), 0.5, np.float32), rate))
    for _ in range(5):
        deck.next_block()
    assert deck.skip(heard_frames=800) is True  # 0.5 s handed out, 0.1 s of it not heard yet
    _, events = _drain(deck)
    assert events == [DeckEvent("skipped", "a", 0.4)]


def test_deck_pause_plays_silence_without_moving() -> None:
    """While paused the deck hands out silence and the position stands still; resuming continues where it was."""
    rate = 8000
    source = _tone(440, 1.0, rate)
    deck = Deck(rate, 1, block_frames=100, fade_s=0.01)
    deck.load("a", ArraySource(source, rate))
    deck.next_block()
    position = deck.position_s
    deck.set_paused(True)
    for _ in range(5):
        block, events = deck.next_block()
        assert block is not None and not block.any() and events == []
    assert deck.position_s == position
    deck.set_paused(False)
    block, _ = deck.next_block()
    assert block is not None
    np.testing.assert_allclose(block, source[100:200])


def test_deck_without_track_gives_nothing() -> None:
    """An empty deck hands out no frames and no events, and cannot skip."""
    deck = Deck(8000, 2)
    assert deck.next_block() == (None, [])
    assert deck.skip() is False
