"""The track record and the order of its numeric features.

``NUMERIC_FEATURES`` is the column order of the library's float32 feature matrix
(:meth:`player.library.store.LibraryStore.feature_matrix`); the ranker's own feature schema in
``player.core.ranking`` is built from these names. Derived descriptors (``energy``, ``danceability``,
``acousticness``, ``valence``) are on Spotify's 0–1 scale; docs/features.md says how each is computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, NewType

__all__ = ["MFCC_COUNT", "NUMERIC_FEATURES", "AudioFeatures", "Track", "TrackId"]

TrackId = NewType("TrackId", str)
MFCC_COUNT = 13

_SCALAR_FEATURES: tuple[str, ...] = (
    "duration_s",
    "tempo_bpm",
    "beat_strength",
    "onset_rate",
    "loudness_db",
    "dynamic_range_db",
    "spectral_centroid_hz",
    "spectral_rolloff_hz",
    "spectral_flatness",
    "spectral_contrast_db",
    "zero_crossing_rate",
    "key",
    "mode_major",
    "hp_ratio",
    "energy",
    "danceability",
    "acousticness",
    "valence",
)
NUMERIC_FEATURES: tuple[str, ...] = (
    _SCALAR_FEATURES
    + tuple(f"mfcc_mean_{i}" for i in range(MFCC_COUNT))
    + tuple(f"mfcc_std_{i}" for i in range(MFCC_COUNT))
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioFeatures:
    """What the extractor measures of a track's audio: every numeric feature, on the scales in
    docs/features.md (derived descriptors on Spotify's 0–1 scale)."""

    duration_s: float
    tempo_bpm: float
    beat_strength: float
    """Mean onset strength at the beats over the mean onset strength, 0–1."""
    onset_rate: float
    """Onsets per second."""
    loudness_db: float
    """Integrated loudness, LUFS (ITU-R BS.1770)."""
    dynamic_range_db: float
    """95th minus 10th percentile of short-term RMS level, dB."""
    spectral_centroid_hz: float
    spectral_rolloff_hz: float
    spectral_flatness: float
    spectral_contrast_db: float
    zero_crossing_rate: float
    key: int
    """Pitch class of the tonic, 0 = C … 11 = B."""
    mode: Literal["major", "minor"]
    hp_ratio: float
    """Harmonic share of the energy, H / (H + P), 0–1."""
    energy: float
    danceability: float
    acousticness: float
    valence: float
    mfcc_mean: tuple[float, ...]
    mfcc_std: tuple[float, ...]

    def numeric(self) -> list[float]:
        """The track's values in ``NUMERIC_FEATURES`` order."""
        values: list[float] = []
        for name in _SCALAR_FEATURES:
            if name == "mode_major":
                values.append(1.0 if self.mode == "major" else 0.0)
            else:
                values.append(float(getattr(self, name)))
        values.extend(float(v) for v in self.mfcc_mean)
        values.extend(float(v) for v in self.mfcc_std)
        return values


@dataclass(frozen=True, slots=True, kw_only=True)
class Track(AudioFeatures):
    """One track of the library: who and where it is, with its audio features (extracted once, at scan time)
    and what its lyrics say.

    ``valence`` is the track's valence as the ranker sees it: the audio valence blended with the lyrics'
    valence by confidence when the track has lyrics (docs/features.md, "Lyrics"), else the audio valence.
    """

    id: TrackId
    """Stable across rescans: derived from the path relative to nothing but itself (see store)."""
    path: str
    title: str
    artist: str
    album: str
    audio_valence: float | None = None
    """The extractor's valence (0–1) before the lyrics were blended in; None means "same as ``valence``"
    (a record from before lyrics, or a track built without them)."""
    lyrics_valence: float | None = None
    """Valence of the lyrics' words, 0–1 (None: no lyrics found)."""
    lyrics_energy: float | None = None
    """Energy of the lyrics' words, 0–1 (None: no lyrics found)."""
    lyrics_confidence: float = 0.0
    """0–1 confidence of ``lyrics_valence`` (0: no lyrics, or lyrics that say nothing affective)."""
    lyrics_source: str | None = None
    """Where the lyrics came from (``sidecar:lrc``, ``tag:USLT`` …; see :mod:`player.library.lyrics`)."""

    @property
    def has_lyrics(self) -> bool:
        """Whether lyrics were found for the track (their affect may still be neutral)."""
        return self.lyrics_source is not None

    @classmethod
    def from_features(
        cls, features: AudioFeatures, *, id: TrackId, path: str, title: str, artist: str, album: str
    ) -> Track:
        """The track at ``path`` with ``features`` as the extractor measured them."""
        values = {f.name: getattr(features, f.name) for f in fields(AudioFeatures)}
        return cls(id=id, path=path, title=title, artist=artist, album=album, **values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the field names above (``cadence library --json``)."""
        data = asdict(self)
        data["mfcc_mean"] = list(self.mfcc_mean)
        data["mfcc_std"] = list(self.mfcc_std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Track:
        """The track :meth:`to_dict` wrote; unknown keys are ignored and missing optional fields (a
        record from before lyrics) take their defaults."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["mfcc_mean"] = tuple(float(v) for v in values["mfcc_mean"])
        values["mfcc_std"] = tuple(float(v) for v in values["mfcc_std"])
        values["key"] = int(values["key"])
        return cls(**values)
