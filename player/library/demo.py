"""`cadence demo-library`: a deterministic, procedurally generated catalog with ground truth.

Each track is designed from a handful of parameters drawn from a seeded generator: tempo (60–180 BPM),
key and mode, arrangement density (sparse → dense), level (soft → loud), timbre (dark → bright), and
whether it has drums (about one in five pieces is an ambient pad piece without any). The music is
built from one rendered bar per chord of a four-chord progression — drums (kick, snare, hi-hat), a bass
on the chord roots, a chord pad, and for dense pieces an arpeggio — tiled to 30–60 s, so rendering
costs tens of milliseconds per track (numpy only; each distinct chord and note is rendered once).
Tracks are written as FLAC or Ogg Vorbis (22050 Hz mono) with tags; the Vorbis encoder is most of the
cost of a catalog (~0.3 s per 45 s track, against ~0.02 s for FLAC), so :func:`build_demo_library`
can spread the tracks over processes, and the first run's pipeline
(:mod:`player.library.first_run`) scans each track as soon as it is written. ``truth.json`` holds
each track's designed tempo, key, mode, drums, energy and valence.

The designed ``energy`` and ``valence`` are stated *before* any analysis, from the design parameters
(docs/features.md): energy = 0.40 level + 0.25 density + 0.20 tempo + 0.15 brightness;
valence = 0.50 major mode + 0.25 tempo + 0.25 brightness.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "DEMO_SAMPLE_RATE_HZ",
    "KEY_NAMES",
    "DemoTrackDesign",
    "build_demo_library",
    "design_catalog",
    "render",
    "write_track",
    "write_truth",
]

_log = logging.getLogger(__name__)

DEMO_SAMPLE_RATE_HZ = 22050
KEY_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_TRUTH_VERSION = 1

# Triads in semitones above the tonic. Minor keys use the harmonic-minor dominant (raised 7th),
# the chord that makes a minor key unambiguous.
_MAJOR_CHORDS = {"I": (0, 4, 7), "ii": (2, 5, 9), "IV": (5, 9, 12), "V": (7, 11, 14), "vi": (9, 12, 16)}
_MINOR_CHORDS = {"i": (0, 3, 7), "III": (3, 7, 10), "iv": (5, 8, 12), "V": (7, 11, 14), "VI": (8, 12, 15)}
_MAJOR_PROGRESSIONS = (
    ("I", "IV", "V", "I"),
    ("I", "vi", "IV", "V"),
    ("I", "V", "vi", "IV"),
    ("I", "IV", "I", "V"),
    ("I", "ii", "V", "I"),
)
_MINOR_PROGRESSIONS = (
    ("i", "iv", "V", "i"),
    ("i", "VI", "iv", "V"),
    ("i", "III", "iv", "V"),
    ("i", "iv", "i", "V"),
)

_ARTISTS = (
    ("Lumen Drift", ("Quiet Harbours", "Night Ferries")),
    ("The Copper Finches", ("Sparks in the Orchard", "Tin Roof Summer")),
    ("Marisol Vey", ("Low Tide Letters", "Glass Rooms")),
    ("Okapi Sound System", ("Warehouse Sunrise", "Nine Bridges")),
    ("Hollow Pines", ("Snowline", "The Long Evening")),
    ("Tessellate", ("Small Machines", "Grid Dreams")),
)
_ADJECTIVES = (
    "Amber", "Silver", "Slow", "Electric", "Quiet", "Golden", "Restless", "Paper", "Velvet", "Distant",
    "Bright", "Hidden", "Northern", "Sleepless", "Crimson", "Gentle", "Wild", "Hollow", "Neon", "Salt",
)  # fmt: skip
_NOUNS = (
    "Lanterns", "Tides", "Rooftops", "Engines", "Meadow", "Signals", "Harbour", "Comets", "Avenue", "Dunes",
    "Orchard", "Static", "Ferris Wheel", "Glaciers", "Parade", "Embers", "Echoes", "Skyline", "Fireflies", "Rain",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoTrackDesign:
    """The designed truth of one demo track (one entry of truth.json)."""

    index: int
    file: str
    title: str
    artist: str
    album: str
    duration_s: float
    tempo_bpm: float
    """Exact: 60 · rate / samples-per-beat (the beat is a whole number of samples)."""
    key: int
    key_name: str
    mode: Literal["major", "minor"]
    has_drums: bool
    density: float
    """0 sparse … 1 dense arrangement."""
    level: float
    """0 soft … 1 loud (sets the mix's RMS level)."""
    brightness: float
    """0 dark … 1 bright timbre (harmonic roll-off, hi-hat level)."""
    progression: tuple[str, ...]
    energy: float
    """Designed energy, 0–1."""
    valence: float
    """Designed valence, 0–1."""


def design_catalog(count: int = 120, seed: int = 7) -> list[DemoTrackDesign]:
    """The designs of a catalog (pure: same count and seed, same designs)."""
    rng = np.random.default_rng(seed)
    designs: list[DemoTrackDesign] = []
    for index in range(count):
        has_drums = (index % 5) != 4  # every fifth piece is ambient
        mode: Literal["major", "minor"] = "major" if rng.random() < 0.5 else "minor"
        key = int(rng.integers(0, 12))
        if has_drums:
            nominal_bpm = float(rng.uniform(60.0, 180.0))
            density = float(rng.uniform(0.0, 1.0))
            level = float(rng.uniform(0.0, 1.0))
        else:
            nominal_bpm = float(rng.uniform(60.0, 90.0))
            density = float(rng.uniform(0.0, 0.25))
            level = float(rng.uniform(0.0, 0.6))
        brightness = float(rng.uniform(0.0, 1.0))
        duration_s = float(rng.uniform(30.0, 60.0))
        beat_samples = round(60.0 * DEMO_SAMPLE_RATE_HZ / nominal_bpm)
        tempo_bpm = 60.0 * DEMO_SAMPLE_RATE_HZ / beat_samples
        progressions = _MAJOR_PROGRESSIONS if mode == "major" else _MINOR_PROGRESSIONS
        progression = progressions[int(rng.integers(0, len(progressions)))]
        artist, albums = _ARTISTS[int(rng.integers(0, len(_ARTISTS)))]
        album = albums[int(rng.integers(0, len(albums)))]
        title = f"{_ADJECTIVES[int(rng.integers(0, len(_ADJECTIVES)))]} {_NOUNS[int(rng.integers(0, len(_NOUNS)))]}"
        tempo_norm = (tempo_bpm - 60.0) / 120.0
        energy = 0.40 * level + 0.25 * density + 0.20 * tempo_norm + 0.15 * brightness
        valence = 0.50 * (1.0 if mode == "major" else 0.0) + 0.25 * tempo_norm + 0.25 * brightness
        ext = "ogg" if index % 3 == 2 else "flac"
        slug = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
        designs.append(
            DemoTrackDesign(
                index=index,
                file=f"{index + 1:03d}-{slug}.{ext}",
                title=title,
                artist=artist,
                album=album,
                duration_s=round(duration_s, 3),
                tempo_bpm=tempo_bpm,
                key=key,
                key_name=KEY_NAMES[key],
                mode=mode,
                has_drums=has_drums,
                density=density,
                level=level,
                brightness=brightness,
                progression=progression,
                energy=float(np.clip(energy, 0.0, 1.0)),
                valence=float(np.clip(valence, 0.0, 1.0)),
            )
        )
    return designs


# ------------------------------------------------------------------------------------------ synthesis
#
# Speed without changing a sample: a track is its progression's bars tiled, and a bar is a pure function
# of its chord (no random draw happens after the drum kit), so each distinct chord is rendered once and
# each distinct note's tone, pluck or blip once per track. Every sample is still computed by the same
# operations in the same order as rendering each bar from scratch, so the catalog's audio (and hence
# its extracted features and every figure measured on it) is bit for bit what it was.


def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _wavetable(brightness: float, size: int = 2048, max_harmonics: int = 24) -> np.ndarray:
    """One period of a tone whose harmonics fall off as k^-a; brighter → slower roll-off."""
    rolloff = 2.6 - 1.8 * brightness
    phase = np.arange(size) / size
    table = np.zeros(size)
    for k in range(1, max_harmonics + 1):
        table += k**-rolloff * np.sin(2 * np.pi * k * phase)
    return table / np.max(np.abs(table))


def _tone(table: np.ndarray, freq_hz: float, n: int, sr: int) -> np.ndarray:
    """``n`` samples of the wavetable at ``freq_hz`` (phase-accumulating lookup)."""
    size = len(table)
    phase = np.arange(n, dtype=np.float64)  # the same values as np.arange(n) promoted by the product
    phase *= freq_hz * size / sr
    if size & (size - 1) == 0:
        # For a phase p ≥ 0 and a power-of-two size, int(p mod size) == int(p) & (size - 1) exactly:
        # the same indices as the float remainder, without its cost.
        return table[phase.astype(np.int64) & (size - 1)]
    np.remainder(phase, size, out=phase)
    return table[phase.astype(np.int64)]


def _lowpass(signal: np.ndarray, cutoff_hz: float, sr: int, *, highpass: bool = False) -> np.ndarray:
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(len(signal), 1.0 / sr)
    gain = 1.0 / np.sqrt(1.0 + (freqs / cutoff_hz) ** 4)
    if highpass:
        gain = 1.0 - gain
    return np.fft.irfft(spectrum * gain, n=len(signal))


def _drum_kit(brightness: float, sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = np.arange(int(0.35 * sr)) / sr
    sweep = 45.0 + 70.0 * np.exp(-t / 0.04)
    kick = np.sin(2 * np.pi * np.cumsum(sweep) / sr) * np.exp(-t / 0.12)
    ts = t[: int(0.2 * sr)]
    noise = rng.standard_normal(len(ts))
    snare = 0.6 * _lowpass(noise, 2500.0 + 4000.0 * brightness, sr) * np.exp(-ts / 0.06)
    snare += 0.5 * np.sin(2 * np.pi * 185.0 * ts) * np.exp(-ts / 0.05)
    th = t[: int(0.06 * sr)]
    hat = _lowpass(rng.standard_normal(len(th)), 6000.0, sr, highpass=True) * np.exp(-th / 0.015)
    return {"kick": kick, "snare": snare / np.max(np.abs(snare)), "hat": hat / np.max(np.abs(hat))}


def _place(out: np.ndarray, sample: np.ndarray, at: int, gain: float) -> None:
    end = min(len(out), at + len(sample))
    if at < end:
        out[at:end] += gain * sample[: end - at]


class _BarRenderer:
    """Renders the bars of one design, each distinct chord once, sharing the tones they have in common."""

    def __init__(self, design: DemoTrackDesign, kit: dict[str, np.ndarray], sr: int) -> None:
        self.design = design
        self.kit = kit
        self.sr = sr
        self.beat = round(60.0 * sr / design.tempo_bpm)
        self.beats_per_chord = 4 if design.has_drums else 8
        self.chord_len = self.beat * self.beats_per_chord
        self.chords = _MAJOR_CHORDS if design.mode == "major" else _MINOR_CHORDS
        self.pad_table = _wavetable(design.brightness)
        self.bass_table = _wavetable(0.3 + 0.4 * design.brightness)
        # The pad's envelope: a soft attack and release on every chord.
        chord_len = self.chord_len
        attack = int((0.02 if design.has_drums else 1.2) * sr)
        env = np.ones(chord_len)
        env[:attack] = np.linspace(0.0, 1.0, attack)
        release = int(min(0.3 if design.has_drums else 1.5, chord_len / sr / 3) * sr)
        env[-release:] = np.linspace(1.0, 0.0, release)
        self.env = env
        self.step = self.beat // 2 if design.density > 0.6 and design.has_drums else self.beat
        self.pluck_len = min(self.step, int(0.5 * sr))
        self.arp_step = self.beat // 4 if design.density > 0.8 else self.beat // 2
        self.arp_len = min(self.arp_step, int(0.25 * sr))
        self._pads: dict[int, np.ndarray] = {}
        self._basses: dict[int, np.ndarray] = {}
        self._blips: dict[int, np.ndarray] = {}
        self._bars: dict[str, np.ndarray] = {}

    def bar(self, name: str) -> np.ndarray:
        """The bar of chord ``name`` (the same array for every occurrence: callers must not modify it)."""
        if name not in self._bars:
            self._bars[name] = self._render(name)
        return self._bars[name]

    def _pad(self, note: int) -> np.ndarray:
        if note not in self._pads:
            tone = _tone(self.pad_table, _midi_hz(note), self.chord_len, self.sr)
            self._pads[note] = 0.33 * tone * self.env
        return self._pads[note]

    def _bass(self, root: int) -> np.ndarray:
        """The plucked root, or for a sparse ambient piece the held root under the pad's envelope."""
        if root not in self._basses:
            d, sr = self.design, self.sr
            if d.has_drums or d.density > 0.1:
                self._basses[root] = _tone(self.bass_table, _midi_hz(root), self.pluck_len, sr) * np.exp(
                    -np.arange(self.pluck_len) / (0.25 * sr)
                )
            else:
                self._basses[root] = (
                    0.4 * _tone(self.bass_table, _midi_hz(root), self.chord_len, sr) * self.env
                )
        return self._basses[root]

    def _blip(self, note: int) -> np.ndarray:
        if note not in self._blips:
            self._blips[note] = _tone(self.pad_table, _midi_hz(note), self.arp_len, self.sr) * np.exp(
                -np.arange(self.arp_len) / (0.08 * self.sr)
            )
        return self._blips[note]

    def _render(self, name: str) -> np.ndarray:
        d, beat, chord_len = self.design, self.beat, self.chord_len
        density = d.density
        bar = np.zeros(chord_len)
        triad = self.chords[name]
        # Pad: the triad in close voicing between G3 and F#4, sustained with a soft attack and release.
        for interval in triad:
            bar += self._pad(55 + (d.key + interval - 7) % 12)  # G3 … F#4: close voicing
        # Bass: the chord root, on every beat (or every eighth when dense), plucked.
        root = 36 + (d.key + triad[0]) % 12
        if d.has_drums or density > 0.1:
            pluck = self._bass(root)
            for at in range(0, chord_len, self.step):
                _place(bar, pluck, at, 0.55)
        else:
            bar += self._bass(root)
        # Arpeggio: chord tones an octave up in eighths (sixteenths when very dense).
        if density > 0.45 and d.has_drums:
            for j, at in enumerate(range(0, chord_len, self.arp_step)):
                _place(bar, self._blip(72 + (d.key + triad[j % 3]) % 12), at, 0.22)
        # Drums: kick on 1 and 3 (every beat when denser), snare on 2 and 4, hi-hats by density.
        if d.has_drums:
            kit = self.kit
            hat_gain = 0.12 + 0.18 * d.brightness
            subdivisions = 4 if density > 0.7 else 2 if density > 0.3 else 1
            for b in range(self.beats_per_chord):
                at = b * beat
                if b % 2 == 0 or density > 0.5:
                    _place(bar, kit["kick"], at, 1.0)
                if b % 2 == 1:
                    _place(bar, kit["snare"], at, 0.55)
                if density > 0.75 and b % 2 == 1:
                    _place(bar, kit["kick"], at + beat // 2, 0.6)
                for s in range(subdivisions):
                    _place(
                        bar, kit["hat"], at + s * beat // subdivisions, hat_gain * (1.0 if s == 0 else 0.7)
                    )
        return bar


def render(design: DemoTrackDesign, seed: int = 7) -> np.ndarray:
    """The track's samples, float32 mono at :data:`DEMO_SAMPLE_RATE_HZ` (pure, deterministic)."""
    sr = DEMO_SAMPLE_RATE_HZ
    rng = np.random.default_rng([seed, design.index])
    kit = _drum_kit(design.brightness, sr, rng) if design.has_drums else {}
    bars = _BarRenderer(design, kit, sr)
    cycle = np.concatenate([bars.bar(name) for name in design.progression])
    total = int(design.duration_s * sr)
    y = np.resize(cycle, total)  # the cycle repeated to the track's length
    fade_in, fade_out = int(0.05 * sr), int(2.0 * sr)
    y[:fade_in] *= np.linspace(0.0, 1.0, fade_in)
    y[-fade_out:] *= np.linspace(1.0, 0.0, fade_out)
    # Level: RMS from −34 dBFS (soft) to −10 dBFS (loud); a tanh limiter keeps the loud ones in range.
    rms_db = -34.0 + 24.0 * design.level
    y *= 10 ** (rms_db / 20) / max(float(np.sqrt(np.mean(np.square(y)))), 1e-9)
    if max(float(y.max()), -float(y.min())) > 0.8:
        y *= 1.2
        np.tanh(y, out=y)
        y /= 1.2
    return y.astype(np.float32)


def _write(path: Path, samples: np.ndarray, design: DemoTrackDesign) -> None:
    import mutagen
    import soundfile as sf

    if path.suffix == ".ogg":
        sf.write(str(path), samples, DEMO_SAMPLE_RATE_HZ, format="OGG", subtype="VORBIS")
    else:
        sf.write(str(path), samples, DEMO_SAMPLE_RATE_HZ, format="FLAC", subtype="PCM_16")
    tagged = mutagen.File(str(path), easy=True)
    if tagged is None:  # pragma: no cover - soundfile just wrote it
        return
    if tagged.tags is None:
        tagged.add_tags()
    tagged["title"] = design.title
    tagged["artist"] = design.artist
    tagged["album"] = design.album
    tagged["genre"] = "Cadence demo"
    tagged["tracknumber"] = str(design.index + 1)
    tagged.save()


def write_track(out_dir: Path, design: DemoTrackDesign, seed: int = 7) -> Path:
    """Render one design and write it, tagged, as ``out_dir / design.file``; returns that path.

    ``seed`` must be the catalog's (the drum sounds are drawn from it). Most of the time goes to the
    encoder: Ogg Vorbis encodes at ~160× real time, FLAC at ~2000×.
    """
    path = Path(out_dir) / design.file
    _write(path, render(design, seed), design)
    return path


def write_truth(out_dir: Path, designs: Sequence[DemoTrackDesign], seed: int) -> Path:
    """Write ``truth.json`` for a catalog of ``designs`` made with ``seed`` (atomically: it appears whole)."""
    truth: dict[str, Any] = {
        "version": _TRUTH_VERSION,
        "seed": seed,
        "count": len(designs),
        "sample_rate_hz": DEMO_SAMPLE_RATE_HZ,
        "energy_formula": "0.40 level + 0.25 density + 0.20 (tempo-60)/120 + 0.15 brightness",
        "valence_formula": "0.50 major + 0.25 (tempo-60)/120 + 0.25 brightness",
        "tracks": [{**asdict(d), "progression": list(d.progression)} for d in designs],
    }
    path = Path(out_dir) / "truth.json"
    tmp = path.with_name("truth.json.tmp")
    tmp.write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def build_demo_library(out_dir: Path, *, count: int = 120, seed: int = 7, workers: int = 1) -> Path:
    """Synthesize ``count`` tracks into ``out_dir`` with ``truth.json``; returns ``out_dir``.

    Deterministic: the same count and seed give the same designs and the same samples, with any number
    of ``workers`` (processes; the longest tracks are handed out first). Files of an earlier build in
    ``out_dir`` with the same names are overwritten; others are left alone. To scan the catalog as it is
    made, see :func:`player.library.first_run.build_and_scan_demo`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    designs = design_catalog(count, seed)
    if workers > 1 and count > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not the scan's forkserver: synthesis needs no warm analysis, and starting the forkserver
        # here would start it without the scan's preload for the rest of this process.
        longest_first = sorted(designs, key=lambda d: d.duration_s, reverse=True)
        with ProcessPoolExecutor(min(workers, count), mp_context=mp.get_context("spawn")) as pool:
            list(
                pool.map(write_track, [out_dir] * count, longest_first, [seed] * count)
            )  # raises a worker's error
    else:
        for design in designs:
            write_track(out_dir, design, seed)
    write_truth(out_dir, designs, seed)
    _log.info("demo library: %d tracks in %s", count, out_dir)
    return out_dir
