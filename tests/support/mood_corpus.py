"""The mood-script corpus: espeak-ng speech with designed valence and arousal.

Sentences of clearly positive, negative and neutral valence, each spoken by several espeak-ng
voices at several arousal levels. Arousal is set through SSML ``<prosody>`` (rate, pitch, pitch
range and volume together), the acoustic correlates that speech-emotion research ties to arousal
(Scherer 2003; the eGeMAPS parameter set, Eyben et al. 2016). The words carry the valence and are
deliberately kept free of energy words (no "tired", "excited", "party"), so that energy must come
from *how* a sentence is said.

Used by ``tests/mood/conftest.py`` (the session fixture ``mood_corpus``) and by
``scripts/make_mood_corpus.py`` (which writes the same corpus to a folder with an index.json).

Everything here is deterministic: the same arguments give byte-identical WAVs for a given
espeak-ng build.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

import numpy as np

__all__ = [
    "AROUSAL_LEVELS",
    "HESITATIONS",
    "SENTENCES",
    "VOICES",
    "ArousalLevel",
    "MoodCorpusItem",
    "ValenceClass",
    "build_mood_corpus",
    "load_index",
    "said_at_the_extremes",
    "synthesize",
]

ValenceClass = Literal["positive", "negative", "neutral"]


@dataclass(frozen=True, slots=True)
class ArousalLevel:
    """One designed arousal level: SSML prosody values moved together."""

    level: int
    """0 (lowest arousal) … 3 (highest)."""
    rate: str
    """SSML prosody rate (relative to espeak's default 175 words per minute)."""
    pitch: str
    """SSML prosody pitch (relative to the voice's base pitch)."""
    range: str
    """SSML prosody pitch range (relative to the voice's default range)."""
    volume: str
    """SSML prosody volume (relative to the default amplitude)."""


AROUSAL_LEVELS: tuple[ArousalLevel, ...] = (
    ArousalLevel(0, rate="75%", pitch="-25%", range="50%", volume="-50%"),
    ArousalLevel(1, rate="88%", pitch="-8%", range="85%", volume="-20%"),
    ArousalLevel(2, rate="100%", pitch="+18%", range="120%", volume="+20%"),
    ArousalLevel(3, rate="112%", pitch="+40%", range="160%", volume="+60%"),
)
"""Rate is kept within 75–112 % of espeak's default: faster espeak speech defeats Whisper tiny.en
(about 30 % WER at 140 %), and pitch, range and volume carry the rest of the arousal contrast."""

VOICES: tuple[str, ...] = ("en-us", "en-gb-x-rp", "en-us+f2")
"""espeak-ng voices: American male, British RP male, American with the female variant f2 (F0 about an
octave higher). en-029 and en-gb-scotland were tried and dropped (tiny.en mishears them at ~20 % WER);
"en-gb+f3" was dropped because espeak-ng 1.51 ignores that variant, leaving a male voice."""

SENTENCES: tuple[tuple[str, ValenceClass], ...] = (
    ("I feel wonderful today and everything is going great.", "positive"),
    ("Thank you so much, this is a wonderful gift.", "positive"),
    ("This is a good day and I love my friends.", "positive"),
    ("What a lovely surprise, thank you so much.", "positive"),
    ("I am grateful for my family and my friends.", "positive"),
    ("I feel terrible today and nothing is going right.", "negative"),
    ("Everything went wrong and I feel miserable.", "negative"),
    ("I am so disappointed and upset with this.", "negative"),
    ("I am so sad and lonely tonight.", "negative"),
    ("I hate this, it is the worst day ever.", "negative"),
    ("The report has a few pages and some tables.", "neutral"),
    ("I will send you the file later this evening.", "neutral"),
    ("The car is parked in front of the house.", "neutral"),
    ("We moved the meeting to the room on the second floor.", "neutral"),
    ("We have a meeting on Monday at the office.", "neutral"),
)
"""Chosen among ~40 candidates for being read back correctly by Whisper tiny.en across voices."""


@dataclass(frozen=True, slots=True)
class MoodCorpusItem:
    """One corpus utterance: a 16-bit mono WAV (espeak-ng's 22 050 Hz) and what was designed into it."""

    path: Path
    text: str
    """The sentence as typed (the reference transcript)."""
    voice: str
    """espeak-ng voice name, e.g. "en-us" or "en-gb-x-rp+f3"."""
    arousal: int
    """Designed arousal level, 0 (lowest) … len(AROUSAL_LEVELS) - 1 (highest)."""
    valence: ValenceClass
    sentence_id: int
    """Index into SENTENCES."""

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path.name,
            "text": self.text,
            "voice": self.voice,
            "arousal": self.arousal,
            "valence": self.valence,
            "sentence_id": self.sentence_id,
        }


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    return exe


def ssml(text: str, level: ArousalLevel) -> str:
    """The SSML document espeak-ng speaks for ``text`` at ``level``."""
    return (
        f'<speak><prosody rate="{level.rate}" pitch="{level.pitch}" range="{level.range}" '
        f'volume="{level.volume}">{escape(text)}</prosody></speak>'
    )


def synthesize(text: str, voice: str, level: ArousalLevel | int, out_path: Path) -> Path:
    """Speak ``text`` with espeak-ng into ``out_path`` (16-bit mono WAV at 22 050 Hz).

    Raises:
        RuntimeError: If espeak-ng is missing or fails.
    """
    lvl = AROUSAL_LEVELS[level] if isinstance(level, int) else level
    out_path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [_espeak(), "-m", "-v", voice, "-w", str(out_path), ssml(text, lvl)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not out_path.exists() or out_path.stat().st_size <= 44:
        raise RuntimeError(f"espeak-ng failed for voice {voice!r}: {proc.stderr.strip()}")
    return out_path


def said_at_the_extremes(
    voices: Sequence[str],
    requests: Sequence[tuple[str, frozenset[str]]],
    statements: Sequence[str],
    folder: Path,
) -> Iterator[tuple[str, frozenset[str], np.ndarray, int]]:
    """Each request (with the intent kinds it asks for) and each statement (none), said by each voice
    at the lowest and the highest arousal level: ``(text, kinds, samples, rate)``, voice by voice."""
    from mood.audio import load_wav

    said = [*requests, *((text, frozenset[str]()) for text in statements)]
    for voice in voices:
        for level in (AROUSAL_LEVELS[0], AROUSAL_LEVELS[-1]):
            for n, (text, kinds) in enumerate(said):
                wav = synthesize(text, voice, level, folder / f"{_slug(voice)}-{level.level}-{n}.wav")
                samples, rate = load_wav(wav)
                yield text, kinds, samples, rate


def _slug(voice: str) -> str:
    return voice.replace("+", "_")


def build_mood_corpus(
    out_dir: Path,
    *,
    voices: Sequence[str] = VOICES,
    levels: Sequence[int] | None = None,
    sentence_ids: Sequence[int] | None = None,
    workers: int = 2,
) -> list[MoodCorpusItem]:
    """Write the corpus WAVs and an ``index.json`` into ``out_dir``; return the items.

    Items are ordered by voice, then sentence, then arousal level. Existing WAVs are regenerated.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    level_ids = list(range(len(AROUSAL_LEVELS))) if levels is None else list(levels)
    sent_ids = list(range(len(SENTENCES))) if sentence_ids is None else list(sentence_ids)
    items: list[MoodCorpusItem] = []
    for voice in voices:
        for sid in sent_ids:
            text, valence = SENTENCES[sid]
            for lvl in level_ids:
                path = out_dir / f"{_slug(voice)}_s{sid:02d}_a{lvl}.wav"
                items.append(MoodCorpusItem(path, text, voice, lvl, valence, sid))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(lambda it: synthesize(it.text, it.voice, it.arousal, it.path), items))
    index = {
        "levels": [
            {"level": a.level, "rate": a.rate, "pitch": a.pitch, "range": a.range, "volume": a.volume}
            for a in AROUSAL_LEVELS
        ],
        "items": [it.to_dict() for it in items],
    }
    (out_dir / "index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return items


def load_index(corpus_dir: Path) -> list[MoodCorpusItem]:
    """Read the items of a corpus folder written by :func:`build_mood_corpus`."""
    index = json.loads((corpus_dir / "index.json").read_text(encoding="utf-8"))
    return [
        MoodCorpusItem(
            path=corpus_dir / d["path"],
            text=d["text"],
            voice=d["voice"],
            arousal=int(d["arousal"]),
            valence=d["valence"],
            sentence_id=int(d["sentence_id"]),
        )
        for d in index["items"]
    ]


HESITATIONS = (
    ("I want something calm and", "quiet please"),
    ("play something um", "relaxing"),
    ("I had a really long day and", "I need to unwind"),
    ("can you put on the", "new album"),
    ("I'm feeling kind of", "tired today"),
)
"""Phrases left hanging on "and", "um", "the", "of", and the rest, said after a pause the fixed
endpointer bridges (400 ms, under its 600): the smart endpointer must not cut them either (used by
tests/mood/test_incremental.py and bench/voice.py)."""
