"""Lyrics of a track: where they are read from, what they say, and how they move the track's valence.

**Sources**, first found wins (:func:`read_lyrics`):

1. Sidecar files next to the audio with the same stem: ``song.lrc``, then ``song.txt`` (a sidecar wins
   over embedded tags because the listener put it there). Decoded as UTF-8 (a UTF-8 or UTF-16 byte
   order mark is honoured), else latin-1; a file with NUL bytes or mostly control characters is not
   text. At most :data:`MAX_SIDECAR_BYTES` are read. A sidecar that holds no lyric text (empty, only
   timestamps, binary) is skipped for the next source.
2. Embedded tags, read with mutagen: ID3 ``USLT`` frames (any language or description, English and
   undetermined first; MP3, and the ID3 chunk of AIFF/WAV), ID3 ``TXXX:LYRICS``/``TXXX:UNSYNCEDLYRICS``
   (what foobar2000 and Mp3tag write), Vorbis comments (FLAC, Ogg Vorbis/Opus) ``LYRICS`` then
   ``UNSYNCEDLYRICS`` (any case), MP4 ``©lyr``, APEv2 ``Lyrics`` and ASF ``WM/Lyrics``.

LRC text (a ``.lrc`` file, or any text whose lines start with ``[mm:ss.xx]``) loses its line stamps
(several per line are allowed), its metadata lines (``[ar:…]``, ``[ti:…]``, ``[offset:…]`` …) and the
enhanced format's word stamps ``<mm:ss.xx>``. Text is cut at :data:`MAX_LYRICS_CHARS`. Odd files never
raise: :func:`read_lyrics` returns None and logs at debug level.

**Affect** (:func:`lyrics_affect`) uses the same text model as ``mood/`` — :func:`mood.text.text_affect`
(VADER valence with Cadence's listener-state lexicon, the arousal lexicon for energy), not
:func:`mood.text.read_text`: a lyric saying "don't stop" is not a request. The rule:

* The text is split into lines; section markers (``[Chorus]``, ``(Verse 2)``, ``Bridge:``) are dropped
  and repeat marks (``(x2)``) cut. Each line is normalised (lower case, punctuation and apostrophes
  removed, whitespace collapsed) and each distinct line is read **once**: a refrain sung eight times is
  one line of evidence, not eight.
* Each distinct line i gives a valence vᵢ with confidence wᵢ and an energy eᵢ with confidence uᵢ.
  valence = Σ wᵢ·vᵢ / Σ wᵢ and energy = Σ uᵢ·eᵢ / Σ uᵢ (0.5, neutral, when there is no evidence).
* confidence = amount × agreement, with amount = 1 − exp(−Σ wᵢ / :data:`LYRICS_EVIDENCE_SCALE`)
  (grows with the affective evidence: one clearly sad line ≈ 0.25, six ≈ 0.85) and agreement =
  |Σ wᵢ·(vᵢ − ½)| / Σ wᵢ·|vᵢ − ½| (1 when every affective line leans the same way, 0 when happy and sad
  lines cancel out). Text without evidence has confidence 0. ``energy_confidence`` is
  1 − exp(−Σ uᵢ / :data:`LYRICS_EVIDENCE_SCALE`).

**Blend** (:func:`blend_valence`): the track's valence is the confidence-weighted mean of the audio
valence, with the fixed confidence :data:`AUDIO_VALENCE_CONFIDENCE`, and the lyrics valence with its
confidence. Audio valence is a weak estimate (docs/features.md), so confident lyrics outweigh it:
lyrics at confidence 1 carry two thirds of the result.
"""

from __future__ import annotations

import codecs
import logging
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mood.text import TextAffect, text_affect
from player.core.track import Track

__all__ = [
    "AUDIO_VALENCE_CONFIDENCE",
    "LYRICS_EVIDENCE_SCALE",
    "MAX_LYRICS_CHARS",
    "MAX_SIDECAR_BYTES",
    "SIDECAR_SUFFIXES",
    "Lyrics",
    "LyricsAffect",
    "SidecarState",
    "apply_lyrics",
    "blend_valence",
    "clean_lrc",
    "distinct_lines",
    "lyrics_affect",
    "read_lyrics",
    "sidecar_state",
    "warm_up",
]

_log = logging.getLogger(__name__)

MAX_LYRICS_CHARS = 20_000
"""Lyrics longer than this (characters) are cut: no song needs more, and a wrong file must stay cheap."""
MAX_SIDECAR_BYTES = 1 << 20
"""At most this many bytes of a sidecar are read (an LRC file's stamps make it larger than its text)."""
SIDECAR_SUFFIXES: tuple[str, ...] = (".lrc", ".LRC", ".txt", ".TXT")
"""Sidecar file suffixes in order of precedence."""
AUDIO_VALENCE_CONFIDENCE = 0.5
"""The fixed confidence (0–1) of the extractor's valence in :func:`blend_valence`."""
LYRICS_EVIDENCE_SCALE = 3.0
"""Sum of per-line valence confidences at which the amount of evidence reaches 1 − 1/e (≈ 0.63)."""

SidecarState = tuple[tuple[str, int, int], ...]
"""(file name, size in bytes, mtime in ns) of each sidecar present, in order of precedence."""


@dataclass(frozen=True, slots=True)
class Lyrics:
    """A track's lyrics as read from one source."""

    text: str
    """Plain text, one lyric line per line (LRC stamps removed), at most :data:`MAX_LYRICS_CHARS`."""
    source: str
    """Where they came from: ``sidecar:lrc``, ``sidecar:txt``, ``tag:USLT``, ``tag:LYRICS``,
    ``tag:UNSYNCEDLYRICS``, ``tag:©lyr``, ``tag:WM/Lyrics``."""


@dataclass(frozen=True, slots=True)
class LyricsAffect:
    """What the lyrics' words say, on the mood scales (module docstring has the rule)."""

    valence: float
    """0–1, 0.5 neutral."""
    energy: float
    """0–1, 0.5 neutral."""
    confidence: float
    """0–1 confidence of ``valence``: the amount of affective evidence times the lines' agreement."""
    energy_confidence: float = 0.0
    """0–1, grows with the energy evidence."""
    lines: int = 0
    """Distinct lyric lines read (refrains once, section markers left out)."""


# ------------------------------------------------------------------------------------------ sidecars


def _sidecars(path: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """The regular sidecar files next to ``path``, in order of precedence, with their stat."""
    seen: set[tuple[int, int]] = set()
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_suffix(suffix)
        try:
            st = candidate.stat()
        except (OSError, ValueError):
            continue
        # On a case-insensitive file system song.lrc and song.LRC are the same file.
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            yield candidate, st


def sidecar_state(path: Path) -> SidecarState | None:
    """A fingerprint of the lyrics sidecars next to ``path``: (name, size, mtime_ns) of each present, or
    None when there is none. A scan compares it with the stored one to notice that a sidecar appeared,
    changed or vanished."""
    state = tuple((p.name, int(st.st_size), int(st.st_mtime_ns)) for p, st in _sidecars(Path(path)))
    return state or None


def _decode(raw: bytes, *, truncated: bool) -> str | None:
    """Text of a sidecar's bytes: BOM-marked UTF-8/UTF-16, else UTF-8, else latin-1; None if binary."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if raw.startswith(bom):
            text = raw[len(bom) :].decode(encoding, errors="replace")
            break
    else:
        if b"\x00" in raw:
            return None
        try:
            # Incremental, so a multi-byte character cut by MAX_SIDECAR_BYTES is not an error.
            text = codecs.getincrementaldecoder("utf-8")("strict").decode(raw, final=not truncated)
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\n\r\f")
    if "\x00" in text or controls > 0.05 * max(1, len(text)):
        return None
    return text


def _read_sidecar(path: Path) -> Lyrics | None:
    with open(path, "rb") as f:
        raw = f.read(MAX_SIDECAR_BYTES + 1)
    truncated = len(raw) > MAX_SIDECAR_BYTES
    text = _decode(raw[:MAX_SIDECAR_BYTES], truncated=truncated)
    if text is None:
        _log.debug("lyrics sidecar %s is not text", path)
        return None
    kind = path.suffix.lower().lstrip(".")
    cleaned = _clean(text, lrc=kind == "lrc")
    return Lyrics(cleaned, f"sidecar:{kind}") if cleaned else None


# -------------------------------------------------------------------------------------- LRC and text

_STAMP = r"\d{1,3}\s*:\s*\d{1,2}(?:\s*[.:]\s*\d{1,3})?"
_LINE_STAMP = re.compile(r"\[\s*" + _STAMP + r"\s*\]")
_WORD_STAMP = re.compile(r"<\s*" + _STAMP + r"\s*>")
_LRC_METADATA = re.compile(r"^\s*\[\s*[A-Za-z#][\w# -]*:[^\]]*\]\s*$")
_LOOKS_LRC = re.compile(r"^\s*\[\s*" + _STAMP + r"\s*\]", re.MULTILINE)


def clean_lrc(text: str) -> str:
    """``text`` without LRC line stamps (``[01:02.50]``, several per line), metadata lines (``[ar:…]``,
    ``[offset:+250]`` …) and enhanced word stamps (``<01:02.50>``); lines that were only stamps go."""
    lines: list[str] = []
    for line in text.splitlines():
        if _LRC_METADATA.match(line):
            continue
        had_stamp = bool(_LINE_STAMP.search(line))
        stripped = " ".join(_WORD_STAMP.sub(" ", _LINE_STAMP.sub(" ", line)).split())
        if stripped or not had_stamp:
            lines.append(stripped)
    return "\n".join(lines)


def _clean(text: str, *, lrc: bool = False) -> str:
    """Plain lyric text: LRC stamps removed (for LRC files, or text that looks like LRC), line ends
    normalised, whitespace trimmed, runs of blank lines folded, cut at :data:`MAX_LYRICS_CHARS`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    if lrc or _LOOKS_LRC.search(text):
        text = clean_lrc(text)
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip()[:MAX_LYRICS_CHARS].strip()


# -------------------------------------------------------------------------------------- embedded tags

_PREFERRED_LANGUAGES = ("eng", "und", "xxx", "")


def _id3_lyrics(tags: Any) -> Iterator[tuple[str, str]]:
    frames = list(tags.getall("USLT"))
    # The text model reads English: English and unknown-language frames first.
    frames.sort(key=lambda f: 0 if str(getattr(f, "lang", "")).lower() in _PREFERRED_LANGUAGES else 1)
    for frame in frames:
        yield "tag:USLT", str(frame.text)
    for wanted in ("LYRICS", "UNSYNCEDLYRICS"):
        for frame in tags.getall("TXXX"):
            if str(frame.desc).upper() == wanted:
                yield f"tag:{wanted}", "\n".join(str(t) for t in frame.text)


def _vorbis_lyrics(tags: Any) -> Iterator[tuple[str, str]]:
    pairs = [(str(k), str(v)) for k, v in tags]
    for wanted in ("LYRICS", "UNSYNCEDLYRICS"):
        for key, value in pairs:
            if key.upper() == wanted:
                yield f"tag:{wanted}", value


def _tag_lyrics(tags: Any) -> Iterator[tuple[str, str]]:
    """(source, text) candidates from a mutagen tag object, in order of preference."""
    from mutagen._vorbis import VComment
    from mutagen.apev2 import APEv2
    from mutagen.asf import ASFTags
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4Tags

    if isinstance(tags, ID3):
        yield from _id3_lyrics(tags)
    elif isinstance(tags, VComment):
        yield from _vorbis_lyrics(tags)
    elif isinstance(tags, MP4Tags):
        for value in tags.get("\xa9lyr", []):
            yield "tag:\xa9lyr", str(value)
    elif isinstance(tags, APEv2):
        for key in ("LYRICS", "UNSYNCEDLYRICS"):
            if key in tags:  # APEv2 keys are case-insensitive
                yield f"tag:{key}", str(tags[key])
    elif isinstance(tags, ASFTags):
        for value in tags.get("WM/Lyrics", []):
            yield "tag:WM/Lyrics", str(value)


def _read_embedded(path: Path) -> Lyrics | None:
    import mutagen

    tagged = mutagen.File(str(path))
    tags = getattr(tagged, "tags", None) if tagged is not None else None
    if tags is None:
        return None
    for source, text in _tag_lyrics(tags):
        cleaned = _clean(text[: MAX_LYRICS_CHARS * 4])
        if cleaned:
            return Lyrics(cleaned, source)
    return None


def read_lyrics(path: Path) -> Lyrics | None:
    """The lyrics of the audio file at ``path``: its sidecars first, then its embedded tags (see the
    module docstring). None when there are none or nothing can be read; never raises."""
    path = Path(path)
    for sidecar, _ in _sidecars(path):
        try:
            found = _read_sidecar(sidecar)
        except Exception as exc:  # an unreadable sidecar: try the next source
            _log.debug("no lyrics from %s: %s", sidecar, exc)
            continue
        if found is not None:
            return found
    try:
        return _read_embedded(path)
    except Exception as exc:  # mutagen raises many types on odd files; lyrics are optional
        _log.debug("no embedded lyrics in %s: %s", path, exc)
        return None


# ------------------------------------------------------------------------------------------- affect

_SECTION_NAME = (
    r"(?:pre-?chorus|post-?chorus|chorus|verse|bridge|intro|outro|hook|refrain|interlude|instrumental"
    r"|breakdown|coda)"
)
_SECTION_MARKER = re.compile(
    r"^\s*(?:\[[^\]]*\]|\{[^}]*\}"
    r"|\(\s*" + _SECTION_NAME + r"(?:\s*\d+)?(?:\s*[:\-–][^)]*)?\s*\)"
    r"|" + _SECTION_NAME + r"(?:\s*\d+)?\s*:?)\s*$",
    re.IGNORECASE,
)
"""A line that is only a section marker: ``[Chorus]``, ``{Bridge}``, ``(Verse 2)``, ``(Chorus: Ana)``,
``Chorus:``; a lyric in parentheses, "(I love you)", is a lyric."""
_REPEAT_MARK = re.compile(r"\s*[\[(]?\s*(?:[x×]\s*\d+|\d+\s*[x×])\s*[\])]?\s*$", re.IGNORECASE)
"""A repeat mark at the end of a line: ``(x2)``, ``x3``, ``[2x]``."""
_NOT_WORD = re.compile(r"[^\w\s]|_")


def _line_key(line: str) -> str:
    """A lyric line normalised for de-duplication: lower case, no punctuation or apostrophes, single spaces."""
    return " ".join(_NOT_WORD.sub(" ", line.lower().replace("'", "").replace("\u2019", "")).split())


def distinct_lines(text: str) -> list[str]:
    """The lyric lines of ``text`` that count as evidence: section markers dropped, repeat marks cut,
    each normalised line once (its first spelling kept, punctuation and all, for the text model)."""
    seen: set[str] = set()
    lines: list[str] = []
    for raw in text.splitlines():
        if _SECTION_MARKER.match(raw):
            continue
        line = _REPEAT_MARK.sub("", raw).strip()
        key = _line_key(line)
        if key and key not in seen:
            seen.add(key)
            lines.append(line)
    return lines


def lyrics_affect(text: str, reader: Callable[[str], TextAffect] = text_affect) -> LyricsAffect:
    """Valence and energy of lyrics with a confidence (the rule is in the module docstring; pure).

    Parameters:
        text: The lyrics, one line per line.
        reader: The text-affect model applied to each distinct line (``mood``'s
            :func:`~mood.text.text_affect` unless a test passes another).
    """
    readings = [reader(line) for line in distinct_lines(text)]
    v_weight = sum(r.valence_confidence for r in readings)
    e_weight = sum(r.energy_confidence for r in readings)
    if v_weight > 0.0:
        valence = sum(r.valence_confidence * r.valence for r in readings) / v_weight
        net = abs(sum(r.valence_confidence * (r.valence - 0.5) for r in readings))
        total = sum(r.valence_confidence * abs(r.valence - 0.5) for r in readings)
        agreement = net / total if total > 0.0 else 0.0
        confidence = (1.0 - math.exp(-v_weight / LYRICS_EVIDENCE_SCALE)) * agreement
    else:
        valence, confidence = 0.5, 0.0
    if e_weight > 0.0:
        energy = sum(r.energy_confidence * r.energy for r in readings) / e_weight
        energy_confidence = 1.0 - math.exp(-e_weight / LYRICS_EVIDENCE_SCALE)
    else:
        energy, energy_confidence = 0.5, 0.0
    return LyricsAffect(
        valence=_unit(valence),
        energy=_unit(energy),
        confidence=_unit(confidence),
        energy_confidence=_unit(energy_confidence),
        lines=len(readings),
    )


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))


def blend_valence(audio_valence: float, lyrics: LyricsAffect | None) -> float:
    """The track's valence (0–1): audio valence at confidence :data:`AUDIO_VALENCE_CONFIDENCE` and the
    lyrics' valence at their confidence, averaged by confidence; the audio valence alone when there are
    no lyrics or they say nothing."""
    if lyrics is None or lyrics.confidence <= 0.0:
        return float(audio_valence)
    weight = AUDIO_VALENCE_CONFIDENCE + lyrics.confidence
    return _unit((AUDIO_VALENCE_CONFIDENCE * audio_valence + lyrics.confidence * lyrics.valence) / weight)


def apply_lyrics(
    track: Track, lyrics: Lyrics | None, *, reader: Callable[[str], TextAffect] = text_affect
) -> Track:
    """``track`` with its lyrics fields set from ``lyrics`` (None: it has none) and its valence blended
    anew from its audio valence; the audio valence is kept in ``audio_valence``."""
    audio = track.audio_valence if track.audio_valence is not None else track.valence
    if lyrics is None:
        return replace(
            track,
            valence=audio,
            audio_valence=audio,
            lyrics_valence=None,
            lyrics_energy=None,
            lyrics_confidence=0.0,
            lyrics_source=None,
        )
    affect = lyrics_affect(lyrics.text, reader)
    return replace(
        track,
        valence=blend_valence(audio, affect),
        audio_valence=audio,
        lyrics_valence=affect.valence,
        lyrics_energy=affect.energy,
        lyrics_confidence=affect.confidence,
        lyrics_source=lyrics.source,
    )


def warm_up() -> None:
    """Load the text model (VADER's lexicon) now, so a process forked after this reads lyrics warm."""
    lyrics_affect("warming up the lyrics model")
