"""The demo renderer renders each distinct chord and note once; this checks that the shortcut changes
no sample: every track is bit for bit what rendering each bar from scratch gives (the catalog's audio,
hence its features and every figure measured on it, stay what they were)."""

from __future__ import annotations

import numpy as np
import pytest

from player.library import demo
from player.library.demo import DEMO_SAMPLE_RATE_HZ, DemoTrackDesign, design_catalog, render


def _reference_tone(table: np.ndarray, freq_hz: float, n: int, sr: int) -> np.ndarray:
    idx = (np.arange(n) * (freq_hz * len(table) / sr)) % len(table)
    return table[idx.astype(np.int64)]


def _reference_render(design: DemoTrackDesign, seed: int) -> np.ndarray:
    """The renderer as first written: every bar of the progression from scratch, in order."""
    sr = DEMO_SAMPLE_RATE_HZ
    rng = np.random.default_rng([seed, design.index])
    beat = round(60.0 * sr / design.tempo_bpm)
    beats_per_chord = 4 if design.has_drums else 8
    chord_len = beat * beats_per_chord
    chords = demo._MAJOR_CHORDS if design.mode == "major" else demo._MINOR_CHORDS
    pad_table = demo._wavetable(design.brightness)
    bass_table = demo._wavetable(0.3 + 0.4 * design.brightness)
    kit = demo._drum_kit(design.brightness, sr, rng) if design.has_drums else {}
    density, place, hz = design.density, demo._place, demo._midi_hz
    bars = []
    for name in design.progression:
        bar = np.zeros(chord_len)
        triad = chords[name]
        attack = int((0.02 if design.has_drums else 1.2) * sr)
        env = np.ones(chord_len)
        env[:attack] = np.linspace(0.0, 1.0, attack)
        release = int(min(0.3 if design.has_drums else 1.5, chord_len / sr / 3) * sr)
        env[-release:] = np.linspace(1.0, 0.0, release)
        for interval in triad:
            bar += (
                0.33
                * _reference_tone(pad_table, hz(55 + (design.key + interval - 7) % 12), chord_len, sr)
                * env
            )
        root = 36 + (design.key + triad[0]) % 12
        step = beat // 2 if density > 0.6 and design.has_drums else beat
        pluck_len = min(step, int(0.5 * sr))
        pluck = _reference_tone(bass_table, hz(root), pluck_len, sr) * np.exp(
            -np.arange(pluck_len) / (0.25 * sr)
        )
        if design.has_drums or density > 0.1:
            for at in range(0, chord_len, step):
                place(bar, pluck, at, 0.55)
        else:
            bar += 0.4 * _reference_tone(bass_table, hz(root), chord_len, sr) * env
        if density > 0.45 and design.has_drums:
            arp_step = beat // 4 if density > 0.8 else beat // 2
            arp_len = min(arp_step, int(0.25 * sr))
            for j, at in enumerate(range(0, chord_len, arp_step)):
                note = 72 + (design.key + triad[j % 3]) % 12
                blip = _reference_tone(pad_table, hz(note), arp_len, sr) * np.exp(
                    -np.arange(arp_len) / (0.08 * sr)
                )
                place(bar, blip, at, 0.22)
        if design.has_drums:
            for b in range(beats_per_chord):
                at = b * beat
                if b % 2 == 0 or density > 0.5:
                    place(bar, kit["kick"], at, 1.0)
                if b % 2 == 1:
                    place(bar, kit["snare"], at, 0.55)
                if density > 0.75 and b % 2 == 1:
                    place(bar, kit["kick"], at + beat // 2, 0.6)
                hat_gain = 0.12 + 0.18 * design.brightness
                subdivisions = 4 if density > 0.7 else 2 if density > 0.3 else 1
                for s in range(subdivisions):
                    place(bar, kit["hat"], at + s * beat // subdivisions, hat_gain * (1.0 if s == 0 else 0.7))
        bars.append(bar)
    cycle = np.concatenate(bars)
    total = int(design.duration_s * sr)
    y = np.tile(cycle, total // len(cycle) + 1)[:total]
    fade_in, fade_out = int(0.05 * sr), int(2.0 * sr)
    y[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    y[-fade_out:] *= np.linspace(1.0, 0.0, fade_out)
    y *= 10 ** ((-34.0 + 24.0 * design.level) / 20) / max(float(np.sqrt(np.mean(y**2))), 1e-9)
    y = np.tanh(y * 1.2) / 1.2 if np.max(np.abs(y)) > 0.8 else y
    return y.astype(np.float32)


@pytest.mark.parametrize(("count", "seed"), [(40, 7), (40, 2026)])
def test_every_sample_is_what_rendering_each_bar_from_scratch_gives(count: int, seed: int) -> None:
    """Designs of the default catalog and of the evaluation catalog's seed, drums and ambient, loud
    (limited) and soft, sparse and dense: identical float32 samples."""
    designs = design_catalog(count, seed)
    assert {d.has_drums for d in designs} == {True, False} and any(d.density > 0.8 for d in designs)
    for design in designs:
        fast, reference = render(design, seed), _reference_render(design, seed)
        assert fast.dtype == reference.dtype == np.float32
        assert fast.tobytes() == reference.tobytes(), design.file
